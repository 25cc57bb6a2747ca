#!/usr/bin/env bash
# A walk through asgigram with nothing but a shell and curl.
#
#   examples/curl/walkthrough.sh
#
# Part 1: `asgigram dev` with its built-in echo app. You play user 42, send
#         the bot a message, and read what the bot answered.
# Part 2: your own application (app.py: it answers 204, "nothing to send",
#         and saves the event). You look at the event it got, take the scope
#         token and send_url out of it, and answer the user by hand with curl
#         on /send.
#
# In a terminal it stops before each step (press Enter); otherwise (CI,
# examples/curl/test.sh) it runs straight through and exits non-zero as soon
# as something is not as described.
#
# Needs: go (to build asgigram; or set ASGIGRAM=/path/to/asgigram), curl,
# python3 (for app.py and to read JSON; jq works as well, see step 8).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- helpers (skip to "Part 1" for the walkthrough) --------------------------

interactive=false
if [ -t 0 ] && [ -t 1 ]; then interactive=true; fi

bold='' dim='' off=''
if [ -t 1 ]; then bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'; fi

# step TITLE: print a heading; in a terminal, wait for Enter.
step() {
  printf '\n%s== %s%s\n' "$bold" "$*" "$off"
  if $interactive; then read -r -p "   (Enter to run it) " _; fi
}

# show CMD...: print a command as you would type it, then run it.
show() {
  local arg line='$'
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:@=-]+$ ]]; then line+=" $arg"
    else line+=" '${arg//\'/\'\\\'\'}'"; fi
  done
  printf '%s%s%s\n' "$dim" "$line" "$off"
  "$@"
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds, or fail.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "walkthrough: gave up waiting for: $*" >&2
      return 1
    fi
    sleep 0.1
  done
}

# expect TEXT FILE: fail unless FILE contains TEXT.
expect() {
  grep -qF -- "$1" "$2" || { echo "walkthrough: expected $1 in:" >&2; cat "$2" >&2; exit 1; }
}

# chat_has CHAT_ID TEXT: does GET /dev/chats/CHAT_ID contain TEXT?
chat_has() {
  curl -s "$dev/dev/chats/$1" | grep -qF -- "$2"
}

# start_dev [APP_URL]: run `asgigram dev` in the background on a free port,
# its output going to $devlog, and set $dev to its URL, read from the banner
# line "listening on  http://...". Each run gets a new log file.
runs=0
start_dev() {
  runs=$((runs + 1))
  devlog=$work/dev$runs.log
  "$ASGIGRAM" dev "$@" --listen 127.0.0.1:0 >"$devlog" 2>&1 &
  pids+=($!)
  wait_for 10 grep -q 'listening on' "$devlog"
  dev=$(sed -n 's/.*listening on *\(http:[^ ]*\).*/\1/p' "$devlog" | head -n1)
}

# stop_dev: stop the last `asgigram dev` (Ctrl-C would do the same).
stop_dev() {
  local pid=${pids[-1]}
  kill "$pid"
  wait "$pid" || true
  unset 'pids[-1]'
}

if [ -z "${ASGIGRAM:-}" ]; then
  echo "building asgigram ..."
  (cd "$root" && go build -o "$work/asgigram" ./cmd/asgigram)
  ASGIGRAM=$work/asgigram
fi

# --- Part 1: the built-in echo app --------------------------------------------

step "1. Start dev mode: a fake Telegram and the built-in echo app, in one process"
# By hand you would run `asgigram dev` in a second terminal. --listen
# 127.0.0.1:0 picks a free port (the default is 127.0.0.1:8080).
start_dev
head -n 6 "$devlog"

step "2. Be user 42: send the bot \"hello\""
# The answer comes once the delivery has finished: the app answered and the
# bot's calls to (fake) Telegram were made. "replies" are the bot's messages.
show curl -s "$dev/dev/chats/42/messages" -d '{"text":"hello"}' | tee "$work/out.json"
expect '"text": "echo: hello"' "$work/out.json"

step "3. Read chat 42 as Telegram has it: the bot's messages and every Bot API call"
show curl -s "$dev/dev/chats/42" | tee "$work/out.json"
expect '"text": "echo: hello"' "$work/out.json"

step "4. The trace: one line per event, on dev mode's stdout"
tail -n 1 "$devlog"
stop_dev

# --- Part 2: your own app, answered by hand -----------------------------------

step "5. Start an application: app.py answers every event with 204 and saves it"
# Any HTTP server will do. This one is a few dozen lines of Python's
# standard library; examples/go-nethttp is the same idea in Go, answering for real.
python3 "$here/app.py" --listen 127.0.0.1:0 --save "$work/event.json" >"$work/app.log" 2>&1 &
pids+=($!)
wait_for 10 grep -q 'app listening on' "$work/app.log"
app=$(sed -n 's/^app listening on \(.*\)$/\1/p' "$work/app.log")
echo "app_url: $app"

step "6. Start dev mode again, pointed at the app: asgigram dev $app"
start_dev "$app"
head -n 3 "$devlog"

step "7. Be user 42 again. The app answers 204: nothing is sent, \"replies\" is empty"
show curl -s "$dev/dev/chats/42/messages" -d '{"text":"what time is it?"}' | tee "$work/out.json"
expect '"status": 204' "$work/out.json"

step "8. Watch the event: what asgigram POSTed to the app"
# scope: who the conversation is with; event: the Telegram message, with
# "type": "telegram.message"; token: this scope's credential for /send;
# send_url: where to send. (A real app keeps the token out of its logs.)
cat "$work/event.json"
echo
# Take the token and send_url out of it (with jq: jq -r .token event.json).
token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["token"])' "$work/event.json")
send_url=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["send_url"])' "$work/event.json")
message_id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["event"]["message_id"])' "$work/event.json")
echo "token=$token send_url=$send_url message_id=$message_id"

step "9. Answer it by hand: POST an outbound event to /send with the scope token"
# No chat_id: it defaults to the scope's chat (42). Any Bot API method works
# as telegram.<method_in_snake_case>; the answer carries Telegram's result.
show curl -s "$send_url" \
  -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' \
  -d "{\"type\": \"telegram.send_message\", \"text\": \"answered with curl\", \"reply_to_message_id\": $message_id}" |
  tee "$work/out.json"
expect '"ok":true' "$work/out.json"

step "10. Read chat 42: the answer is there, as a reply to the user's message"
# /send has already made the call when it answers, so the message is there;
# the loop only guards against surprises.
wait_for 10 chat_has 42 '"text": "answered with curl"'
show curl -s "$dev/dev/chats/42" | tee "$work/out.json"
expect '"text": "answered with curl"' "$work/out.json"

step "11. A wrong token is refused (401), with a JSON error"
show curl -s -w ' HTTP %{http_code}\n' "$send_url" \
  -H 'Authorization: Bearer not-a-token' \
  -H 'Content-Type: application/json' \
  -d '{"type": "telegram.send_message", "text": "nope"}' | tee "$work/out.json"
expect 'HTTP 401' "$work/out.json"

step "12. The trace lines of this run: dev mode's, then the app's"
# One line per event. Calls made through /send are not in them: they are in
# GET /dev/chats/42 under "calls" (step 10).
tail -n 1 "$devlog"
cat "$work/app.log"

printf '\nwalkthrough: done\n'
