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
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=examples/node
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
# json_ok FILE EXPR: is the JavaScript expression EXPR true of the JSON in FILE (as d)?
json_ok() {
  node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(eval(process.argv[2]) ? 0 : 1)' "$@" 2>/dev/null
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

# --- Express and asgigram ----------------------------------------------------------
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
bin=${ASGIGRAM:-}
if [ -z "$bin" ]; then
  (cd "$root" && go build -o "$tmp/asgigram" ./cmd/asgigram)
  bin=$tmp/asgigram
fi

# --- start the app (on a free port: it prints which) and dev mode ----------------
ASGIGRAM_APP_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
export ASGIGRAM_APP_SECRET
APP_LISTEN=127.0.0.1:0 JOB_DELAY_MS=300 node "$here/app.js" >"$tmp/app.log" 2>&1 &
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
