#!/usr/bin/env bash
# End-to-end test of examples/python: the Flask app behind `asgigram dev`,
# with signed events. Acts as user 42 (/start, a button press, plain text)
# and checks what the bot did with GET /dev/chats/42.
#
#   examples/python/test.sh     (ASGIGRAM=/path/to/asgigram skips the build)
#
# Needs Flask: the first python3 that imports it is used; else Debian's
# python3-flask is installed with apt-get (as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=examples/python
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
  "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$@" 2>/dev/null
}
# chat_ok CHAT_ID EXPR: is EXPR true of GET /dev/chats/CHAT_ID? Polled for 5 s.
chat_ok() { until_ok 5 chat_now "$@"; }
chat_now() { curl -sf "$dev/dev/chats/$1" >"$tmp/chat.json" && json_ok "$tmp/chat.json" "$2"; }
# finish: print the logs if anything failed, the summary line, and exit.
finish() {
  if [ "$failed" -ne 0 ]; then
    echo "--- asgigram dev"; cat "$tmp/dev.log"
    echo "--- app"; cat "$tmp/app.log"
    echo "--- last answers"; cat "$tmp/out.json" "$tmp/chat.json" 2>/dev/null || true
  fi
  echo "$name: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- Flask ----------------------------------------------------------------------
py=
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import flask' 2>/dev/null; then py=$candidate; break; fi
done
if [ -z "$py" ]; then
  echo "$name: installing Debian's python3-flask"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-flask >/dev/null
  py=/usr/bin/python3
fi

# --- asgigram ---------------------------------------------------------------------
bin=${ASGIGRAM:-}
if [ -z "$bin" ]; then
  (cd "$root" && go build -o "$tmp/asgigram" ./cmd/asgigram)
  bin=$tmp/asgigram
fi

# --- start the app and dev mode, sharing one signing secret ---------------------
ASGIGRAM_APP_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
export ASGIGRAM_APP_SECRET
port=$(free_port)
app=http://127.0.0.1:$port/
APP_LISTEN=127.0.0.1:$port "$py" "$here/app.py" >"$tmp/app.log" 2>&1 &
pids+=($!)
"$bin" dev "$app" --listen 127.0.0.1:0 >"$tmp/dev.log" 2>&1 & # reads ASGIGRAM_APP_SECRET
pids+=($!)

started=true
until_ok 15 curl -s -o /dev/null "$app" || started=false
until_ok 10 grep -q 'listening on' "$tmp/dev.log" || started=false
dev=$(sed -n 's/.*listening on *\(http:[^ ]*\).*/\1/p' "$tmp/dev.log" | head -n1)
check "the app and asgigram dev start" $started
$started || finish

# --- /start: a question with an inline keyboard ------------------------------
curl -s "$dev/dev/chats/42/messages" -d '{"text":"/start"}' >"$tmp/out.json"
check "/start: delivered, the app answered 200" json_ok "$tmp/out.json" 'd["delivery"]["status"] == 200'
check "/start: the bot asks with two buttons" chat_ok 42 \
  'd["messages"][-1]["text"] == "What'"'"'s for dinner?" and [b["callback_data"] for b in d["messages"][-1]["reply_markup"]["inline_keyboard"][0]] == ["pizza", "sushi"]'

# --- a button press: answer_callback_query + edit_message_text ---------------
curl -s "$dev/dev/chats/42/callback" -d '{"data":"pizza"}' >"$tmp/out.json"
check "button: the callback query is answered" json_ok "$tmp/out.json" \
  'd["answer"]["params"]["text"] == "🍕 Pizza it is!"'
check "button: the question is edited to the choice, the buttons are gone" chat_ok 42 \
  'd["messages"][-1]["text"].endswith("You chose: 🍕 Pizza") and "reply_markup" not in d["messages"][-1] and len(d["messages"]) == 1'
check "button: GET /dev/chats/42 lists the callback answer" chat_ok 42 \
  'len(d["callback_answers"]) == 1'

# --- a stale button: an alert, no edit ------------------------------------------
curl -s "$dev/dev/chats/42/callback" -d '{"data":"broccoli","message_id":2}' >"$tmp/out.json"
check "stale button: answered with an alert" json_ok "$tmp/out.json" \
  'd["answer"]["params"]["show_alert"] is True'

# --- plain text: a hint --------------------------------------------------------
curl -s "$dev/dev/chats/42/messages" -d '{"text":"hungry"}' >"$tmp/out.json"
check "text: the bot hints at /start" chat_ok 42 \
  'd["messages"][-1]["text"] == "Send /start to choose dinner."'

# --- the signature is checked ----------------------------------------------------
status=$(curl -s -o /dev/null -w '%{http_code}' "$app" -H 'Content-Type: application/json' \
  -d '{"event":{"type":"telegram.message","text":"/start"}}')
check "an unsigned request gets 401" test "$status" = 401

finish
