#!/usr/bin/env bash
# End-to-end test of examples/asgi: echo_app.py, written for the Python
# asgigram, run unchanged by asgigram_shim.py behind `asgigram dev`, once
# per ASGI style (ASGI 3, ASGI 2 class, ASGI 2 function), with signed
# events. Checks the replies in GET /dev/chats/{id}, polled with a deadline.
# Then, with --lifecycle-events, the ASGI lifespan and the disconnects.
# Runs the shim's unit tests (test_shim.py) first.
#
#   examples/asgi/test.sh     (ASGIGRAM=/path/to/asgigram skips the build)
#
# Needs python3 (3.9 or newer) and nothing else.
set -euo pipefail
name=examples/asgi
# shellcheck source=SCRIPTDIR/../testlib.sh
. "$(dirname "$0")/../testlib.sh"

# last_reply_is CHAT_ID TEXT REPLY_TO: the bot's latest message in the chat.
last_reply_is() {
  chat_ok "$1" "d['messages'][-1]['text'] == '$2' and d['messages'][-1]['reply_to_message']['message_id'] == $3"
}
# say CHAT_ID TEXT: the user writes TEXT; prints the message_id it got.
say() {
  curl -sS "$dev/dev/chats/$1/messages" -d "{\"text\":\"$2\"}" >"$tmp/out.json"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["message_id"])' "$tmp/out.json"
}
app_label=shim

# --- unit tests -----------------------------------------------------------------
if (cd "$here" && python3 -m unittest test_shim >"$tmp/unit.log" 2>&1); then
  check "unit tests: $(grep -o 'Ran [0-9]* tests' "$tmp/unit.log")" true
else
  check "unit tests" false
  cat "$tmp/unit.log"
fi

# --- asgigram ---------------------------------------------------------------------
prepare_asgigram

# --- each ASGI style, each behind its own shim and dev mode ----------------------
# (The shim logs to $tmp/app.log; serve_dev sets app to its URL.)
for target in echo_app:application echo_app:LegacyApplication echo_app:legacy_application; do
  style="ASGI 3"; [ "$target" = echo_app:application ] || style="ASGI 2"
  label="$target ($style)"
  failed_before=$failed
  : >"$tmp/app.log" # see start_dev: listen_url must not read the last shim's log
  (cd "$here" && exec python3 asgigram_shim.py "$target" --listen 127.0.0.1:0) >"$tmp/app.log" 2>&1 &
  pids+=($!)
  started=true
  serve_dev || started=false
  check "$label: the shim and asgigram dev start" $started
  if ! $started; then logs; stop_all; continue; fi

  check "$label: detected as $style" grep -q "(${style/ /.}" "$tmp/app.log"
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
  stop_all # this pair, before the next style
done

# --- lifecycle events: ASGI lifespan, and a disconnect when a scope closes -------
: >"$tmp/app.log"
(cd "$here" && exec python3 asgigram_shim.py echo_app:application --listen 127.0.0.1:0) >"$tmp/app.log" 2>&1 &
pids+=($!)
started=true
app=$(listen_url "$tmp/app.log") || started=false
if $started; then
  start_dev "$app" --lifecycle-events
  dev_pid=${pids[-1]}
  wait_dev || started=false
fi
check "lifecycle: the shim and asgigram dev --lifecycle-events start" $started
if $started; then
  failed_before=$failed
  check "lifecycle: asgigram.startup runs the app's lifespan startup" until_ok 5 grep -q "echo_app: started up" "$tmp/app.log"
  id=$(say 42 hello)
  check "lifecycle: events reach the app as before" last_reply_is 42 'echo #1: hello' "$id"
  say 43 hi >/dev/null
  curl -s "$dev/dev/updates" -d '{"my_chat_member":{"chat":{"id":43,"type":"private"},"from":{"id":43,"is_bot":false,"first_name":"Ann"},"date":1781340000,"old_chat_member":{"status":"member","user":{"id":1000000001,"is_bot":true,"first_name":"Dev"}},"new_chat_member":{"status":"kicked","until_date":0,"user":{"id":1000000001,"is_bot":true,"first_name":"Dev"}}}}' >"$tmp/out.json"
  check "lifecycle: a blocked bot's chat gets telegram.disconnect (bot_blocked)" \
    until_ok 5 grep -q "chat 43 closed (bot_blocked) after 1 messages" "$tmp/app.log"
  check "lifecycle: dev mode traces the scope events" until_ok 5 grep -q "asgigram.scope_closed chat:43 (bot_blocked) -> 204" "$tmp/dev.log"
  kill "$dev_pid" 2>/dev/null || true
  wait "$dev_pid" 2>/dev/null || true
  check "lifecycle: on shutdown the other chat gets telegram.disconnect (shutdown)" \
    grep -q "chat 42 closed (shutdown) after 1 messages" "$tmp/app.log"
  check "lifecycle: asgigram.shutdown runs the app's lifespan shutdown" grep -q "echo_app: shut down" "$tmp/app.log"
  [ "$failed" -eq "$failed_before" ] || logs
fi
stop_all

# --- the signature is checked (a shim started with the secret) --------------------
: >"$tmp/app.log"
(cd "$here" && exec python3 asgigram_shim.py echo_app:application --listen 127.0.0.1:0) >"$tmp/app.log" 2>&1 &
pids+=($!)
shim=$(listen_url "$tmp/app.log") || true
status=$(curl -s -o /dev/null -w '%{http_code}' "$shim" -H 'Content-Type: application/json' \
  -d '{"scope":{"type":"telegram","chat":{"id":1}},"event":{"type":"telegram.message","text":"hi"},"token":"x","send_url":"http://127.0.0.1:1/send"}')
check "an unsigned request gets 401" test "$status" = 401

summary # the logs were printed for each style that failed
