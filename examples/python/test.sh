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
name=examples/python
# shellcheck source=SCRIPTDIR/../testlib.sh
. "$(dirname "$0")/../testlib.sh"

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
prepare_asgigram

# --- start the app and dev mode, sharing one signing secret ---------------------
port=$(free_port)
app=http://127.0.0.1:$port/
APP_LISTEN=127.0.0.1:$port "$py" "$here/app.py" >"$tmp/app.log" 2>&1 &
pids+=($!)
start_dev "$app"

started=true
until_ok 15 curl -s -o /dev/null "$app" || started=false
wait_dev || started=false
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
