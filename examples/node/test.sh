#!/usr/bin/env bash
# End-to-end test of examples/node: the Express app behind `asgigram dev`,
# with signed events. The app answers text with 204 and replies later
# through /send; the test checks that the reply arrives, in
# GET /dev/chats/{id}, polled with a deadline.
#
#   examples/node/test.sh     (ASGIGRAM=/path/to/asgigram skips the build)
#
# Needs node and npm; runs `npm ci` (the npm registry) to install Express.
set -euo pipefail
name=examples/node
# shellcheck source=SCRIPTDIR/../testlib.sh
. "$(dirname "$0")/../testlib.sh"

# json_ok FILE EXPR: is the JavaScript expression EXPR true of the JSON in FILE (as d)?
# (Replaces testlib.sh's, which takes Python.)
json_ok() {
  node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(eval(process.argv[2]) ? 0 : 1)' "$@" 2>/dev/null
}

# --- Express and asgigram ----------------------------------------------------------
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
prepare_asgigram

# --- start the app (on a free port: it prints which) and dev mode ----------------
APP_LISTEN=127.0.0.1:0 JOB_DELAY_MS=300 node "$here/app.js" >"$tmp/app.log" 2>&1 &
pids+=($!)
started=true
serve_dev || started=false
check "the app and asgigram dev start" $started
$started || finish

# --- /start: answered in the response body -------------------------------------
curl -s "$dev/dev/chats/42/messages" -d '{"text":"/start"}' >"$tmp/out.json"
check "/start: answered in the response body" json_ok "$tmp/out.json" \
  'd.delivery.status === 200 && d.replies[0].text.startsWith("Send me any text")'

# --- text: 204 at once, the reply later through /send -----------------------------
curl -s "$dev/dev/chats/42/messages" -d '{"text":"hello"}' >"$tmp/out.json"
msg=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).message_id)' "$tmp/out.json")
check "text: the app answers 204, nothing in the response body" json_ok "$tmp/out.json" \
  'd.delivery.status === 204 && d.delivery.calls.length === 0'
check "text: the job's progress message arrives through /send, as a reply" chat_ok 42 \
  "d.messages.some((m) => m.reply_to_message?.message_id === $msg)"
check "text: the job edits it into the result" chat_ok 42 \
  "d.messages.some((m) => m.reply_to_message?.message_id === $msg && m.text === '✅ Done: olleh')"
check "text: the calls were sendMessage, then editMessageText" chat_ok 42 \
  'JSON.stringify(d.calls.map((c) => c.method)) === JSON.stringify(["sendMessage", "sendMessage", "editMessageText"])'

# --- two chats at once: each job uses its own scope's token -----------------------
curl -s "$dev/dev/chats/7/messages?wait=0" -d '{"text":"abc"}' >/dev/null
curl -s "$dev/dev/chats/-1001234567890/messages?wait=0" -d '{"text":"xyz"}' >/dev/null
check "two chats: chat 7 gets its own result" chat_ok 7 'd.messages.some((m) => m.text === "✅ Done: cba")'
check "two chats: the group gets its own result" chat_ok -1001234567890 \
  'd.messages.some((m) => m.text === "✅ Done: zyx")'

# --- the signature is checked ----------------------------------------------------
status=$(curl -s -o /dev/null -w '%{http_code}' "$app" -H 'Content-Type: application/json' \
  -d '{"event":{"type":"telegram.message","text":"hi"}}')
check "an unsigned request gets 401" test "$status" = 401

finish
