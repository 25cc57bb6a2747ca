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
name=examples/serverless
# shellcheck source=SCRIPTDIR/../testlib.sh
. "$(dirname "$0")/../testlib.sh"

app_label=function # the heading of app.log in logs
prepare_asgigram

# --- start the function (on a free port: it prints which) and dev mode -----------
WORK_SECONDS=1 python3 "$here/local.py" --listen 127.0.0.1:0 >"$tmp/app.log" 2>&1 &
pids+=($!)
started=true
serve_dev || started=false
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
