#!/usr/bin/env bash
# End-to-end test of examples/serverless: handler.py (a function-URL style
# handler) served by local.py behind `asgigram dev`, with signed events.
# The handler answers at once with a chat action and sends the result later
# through /send; the test checks both in GET /dev/chats/42, polled with a
# deadline.
#
#   examples/serverless/test.sh     (ASGIGRAM=/path/to/asgigram skips the build)
#
# Needs python3 and nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=examples/serverless
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
# finish: print the logs if anything failed, the summary line, and exit.
finish() {
  if [ "$failed" -ne 0 ]; then
    echo "--- asgigram dev"; cat "$tmp/dev.log"
    echo "--- function"; cat "$tmp/app.log"
    echo "--- last answers"; cat "$tmp/out.json" "$tmp/chat.json" 2>/dev/null || true
  fi
  echo "$name: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}

bin=${ASGIGRAM:-}
if [ -z "$bin" ]; then
  (cd "$root" && go build -o "$tmp/asgigram" ./cmd/asgigram)
  bin=$tmp/asgigram
fi

# --- start the function (on a free port: it prints which) and dev mode -----------
ASGIGRAM_APP_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
export ASGIGRAM_APP_SECRET
WORK_SECONDS=1 python3 "$here/local.py" --listen 127.0.0.1:0 >"$tmp/app.log" 2>&1 &
pids+=($!)
started=true
until_ok 10 grep -q '^listening on' "$tmp/app.log" || started=false
app=$(sed -n 's/^listening on \(http:.*\)$/\1/p' "$tmp/app.log")
if $started; then
  "$bin" dev "$app" --listen 127.0.0.1:0 >"$tmp/dev.log" 2>&1 & # reads ASGIGRAM_APP_SECRET
  pids+=($!)
  until_ok 10 grep -q 'listening on' "$tmp/dev.log" || started=false
  dev=$(sed -n 's/.*listening on *\(http:[^ ]*\).*/\1/p' "$tmp/dev.log" | head -n1)
fi
check "the function and asgigram dev start" $started
$started || finish

# --- a text message: typing at once, the result later ----------------------------
curl -s "$dev/dev/chats/42/messages" -d '{"text":"respond fast then send"}' >"$tmp/out.json"
msg=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["message_id"])' "$tmp/out.json")
check "the function answers at once: 200 with send_chat_action, and nothing else yet" json_ok "$tmp/out.json" \
  'd["delivery"]["status"] == 200 and [c["method"] for c in d["delivery"]["calls"]] == ["sendChatAction"] and d["delivery"]["latency_ms"] < 900'
check "the result arrives later through /send, as a reply" chat_ok 42 \
  "d['messages'][-1]['text'] == '📝 4 words, 22 characters; the longest: respond' and d['messages'][-1]['reply_to_message']['message_id'] == $msg"
check "the calls: sendChatAction, then sendMessage" chat_ok 42 \
  '[c["method"] for c in d["calls"]] == ["sendChatAction", "sendMessage"] and d["calls"][0]["params"]["action"] == "typing"'

# --- anything else: 200 {} ------------------------------------------------------
curl -s "$dev/dev/users/42/inline" -d '{"query":"cats"}' >"$tmp/out.json"
check "an inline query gets 200 {}: nothing to send" json_ok "$tmp/out.json" \
  'd["delivery"]["status"] == 200 and d["delivery"]["calls"] == []'

# --- the signature is checked ----------------------------------------------------
status=$(curl -s -o /dev/null -w '%{http_code}' "$app" -H 'Content-Type: application/json' \
  -d '{"event":{"type":"telegram.message","text":"hi"}}')
check "an unsigned request gets 401" test "$status" = 401

finish
