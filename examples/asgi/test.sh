#!/usr/bin/env bash
# End-to-end test of examples/asgi: echo_app.py, written for the Python
# asgigram, run unchanged by asgigram_shim.py behind `asgigram dev`, once
# per ASGI style (ASGI 3, ASGI 2 class, ASGI 2 function), with signed
# events. Checks the replies in GET /dev/chats/{id}, polled with a deadline.
# Runs the shim's unit tests (test_shim.py) first.
#
#   examples/asgi/test.sh     (ASGIGRAM=/path/to/asgigram skips the build)
#
# Needs python3 (3.9 or newer) and nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=examples/asgi
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
check() { # check DESCRIPTION CMD...
  if "${@:2}"; then echo "ok   $1"; passed=$((passed + 1))
  else echo "FAIL $1"; failed=$((failed + 1)); fi
}
# until_ok SECONDS CMD...: run CMD every 0.1 s until it succeeds; fail after SECONDS.
until_ok() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
# json_ok FILE EXPR: is the Python expression EXPR true of the JSON in FILE (as d)?
json_ok() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$@" 2>/dev/null
}
# chat_ok CHAT_ID EXPR: is EXPR true of GET /dev/chats/CHAT_ID? Polled for 5 s.
chat_ok() { until_ok 5 chat_now "$@"; }
chat_now() { curl -sf "$dev/dev/chats/$1" >"$tmp/chat.json" && json_ok "$tmp/chat.json" "$2"; }
# last_reply_is CHAT_ID TEXT REPLY_TO: the bot's latest message in the chat.
last_reply_is() {
  chat_ok "$1" "d['messages'][-1]['text'] == '$2' and d['messages'][-1]['reply_to_message']['message_id'] == $3"
}
# say CHAT_ID TEXT: the user writes TEXT; prints the message_id it got.
say() {
  curl -s "$dev/dev/chats/$1/messages" -d "{\"text\":\"$2\"}" >"$tmp/out.json"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["message_id"])' "$tmp/out.json"
}
logs() {
  echo "--- asgigram dev"; cat "$tmp/dev.log"
  echo "--- shim"; cat "$tmp/shim.log"
  echo "--- last answers"; cat "$tmp/out.json" "$tmp/chat.json" 2>/dev/null || true
}

# --- unit tests -----------------------------------------------------------------
if (cd "$here" && python3 -m unittest test_shim >"$tmp/unit.log" 2>&1); then
  check "unit tests: $(grep -o 'Ran [0-9]* tests' "$tmp/unit.log")" true
else
  check "unit tests" false
  cat "$tmp/unit.log"
fi

# --- asgigram ---------------------------------------------------------------------
bin=${ASGIGRAM:-}
if [ -z "$bin" ]; then
  (cd "$root" && go build -o "$tmp/asgigram" ./cmd/asgigram)
  bin=$tmp/asgigram
fi
ASGIGRAM_APP_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
export ASGIGRAM_APP_SECRET

# --- each ASGI style, each behind its own shim and dev mode ----------------------
for app in echo_app:application echo_app:LegacyApplication echo_app:legacy_application; do
  style="ASGI 3"; [ "$app" = echo_app:application ] || style="ASGI 2"
  label="$app ($style)"
  failed_before=$failed
  (cd "$here" && exec python3 asgigram_shim.py "$app" --listen 127.0.0.1:0) >"$tmp/shim.log" 2>&1 &
  pids+=($!)
  started=true
  until_ok 10 grep -q '^listening on' "$tmp/shim.log" || started=false
  shim=$(sed -n 's/^listening on \(http:.*\)$/\1/p' "$tmp/shim.log")
  if $started; then
    "$bin" dev "$shim" --listen 127.0.0.1:0 >"$tmp/dev.log" 2>&1 & # reads ASGIGRAM_APP_SECRET
    pids+=($!)
    until_ok 10 grep -q 'listening on' "$tmp/dev.log" || started=false
    dev=$(sed -n 's/.*listening on *\(http:[^ ]*\).*/\1/p' "$tmp/dev.log" | head -n1)
  fi
  check "$label: the shim and asgigram dev start" $started
  if ! $started; then logs; continue; fi

  check "$label: detected as $style" grep -q "(${style/ /.}" "$tmp/shim.log"
  id=$(say 42 hello)
  check "$label: the shim answers 204 once the app has sent" json_ok "$tmp/out.json" \
    'd["delivery"]["status"] == 204 and d["replies"][0]["text"] == "echo #1: hello"'
  check "$label: telegram.send_message with chat_id, text, reply_to_message_id" \
    last_reply_is 42 'echo #1: hello' "$id"
  id=$(say 42 again)
  check "$label: the chat's instance lives on (#2)" last_reply_is 42 'echo #2: again' "$id"
  id=$(say -1001234567890 'hi all')
  check "$label: another chat gets its own instance (#1)" last_reply_is -1001234567890 'echo #1: hi all' "$id"
  curl -s "$dev/dev/users/42/inline" -d '{"query":"cats"}' >"$tmp/out.json"
  check "$label: an inline query (the original had none) gets 204, nothing sent" json_ok "$tmp/out.json" \
    'd["delivery"]["status"] == 204 and d["delivery"]["calls"] == []'

  [ "$failed" -eq "$failed_before" ] || logs
  # Stop this pair before the next style.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
done

# --- the signature is checked (a shim started with the secret) --------------------
(cd "$here" && exec python3 asgigram_shim.py echo_app:application --listen 127.0.0.1:0) >"$tmp/shim.log" 2>&1 &
pids+=($!)
until_ok 10 grep -q '^listening on' "$tmp/shim.log" || true
shim=$(sed -n 's/^listening on \(http:.*\)$/\1/p' "$tmp/shim.log")
status=$(curl -s -o /dev/null -w '%{http_code}' "$shim" -H 'Content-Type: application/json' \
  -d '{"scope":{"type":"telegram","chat":{"id":1}},"event":{"type":"telegram.message","text":"hi"},"token":"x","send_url":"http://127.0.0.1:1/send"}')
check "an unsigned request gets 401" test "$status" = 401

echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
