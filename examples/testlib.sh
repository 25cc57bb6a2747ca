# shellcheck shell=bash
# The harness shared by examples/*/test.sh. Each test sets `name` and sources
# this file first:
#
#   set -euo pipefail
#   name=examples/<name>
#   . "$(dirname "$0")/../testlib.sh"
#
# It sets here (the example's folder), root (the repository), tmp (removed on
# exit, with every process in pids stopped), and defines the helpers below.
# What a test may set or override:
#   py         the python json_ok runs (default python3)
#   app_label  the heading of the app's log in logs (default app)
#   json_ok    e.g. with another language's expressions
#   logs       what finish prints when a check failed

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
pids=()
# stop_all: stop every process in pids, wait for them, and forget them.
stop_all() {
  [ "${#pids[@]}" -ne 0 ] || return 0
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  local rc=$?
  # A command that failed outside check (set -e) ends the test early: say
  # where, and print the logs, which summary would otherwise never show.
  if [ "$rc" -ne 0 ] && [ -z "${summarized:-}" ]; then
    echo "FAIL ${name:-test} stopped early (exit $rc), after ${passed:-0} passed and ${failed:-0} failed checks"
    logs 2>/dev/null || true
  fi
  stop_all
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
  "${py:-python3}" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$@" 2>/dev/null
}
# chat_ok CHAT_ID EXPR: is EXPR true of GET /dev/chats/CHAT_ID? Polled for 5 s.
chat_ok() { until_ok 5 chat_now "$@"; }
chat_now() { curl -sf "$dev/dev/chats/$1" >"$tmp/chat.json" && json_ok "$tmp/chat.json" "$2"; }

# logs: print the logs of asgigram dev and the app, and the last answers.
logs() {
  echo "--- asgigram dev"; cat "$tmp/dev.log"
  echo "--- ${app_label:-app}"; cat "$tmp/app.log"
  echo "--- last answers"; cat "$tmp/out.json" "$tmp/chat.json" 2>/dev/null || true
}
# summary: print the summary line, and exit 0 if no check failed, else 1.
summary() {
  # shellcheck disable=SC2154 # name: set by the test before sourcing this
  echo "$name: $passed passed, $failed failed"
  summarized=1
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
# finish: print the logs if anything failed, the summary line, and exit.
finish() {
  if [ "$failed" -ne 0 ]; then logs; fi
  summary
}

# prepare_asgigram: set bin to $ASGIGRAM, or else to asgigram built from this
# repository into tmp, and export a fresh ASGIGRAM_APP_SECRET, the signing
# secret the app and asgigram dev share.
prepare_asgigram() {
  bin=${ASGIGRAM:-}
  if [ -z "$bin" ]; then
    (cd "$root" && go build -o "$tmp/asgigram" ./cmd/asgigram)
    bin=$tmp/asgigram
  fi
  ASGIGRAM_APP_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
  export ASGIGRAM_APP_SECRET
}
# listen_url LOG: wait up to 10 s for a server started in the background to
# print "listening on URL" as a line of LOG; print URL, fail if it did not.
listen_url() {
  local ok=0
  until_ok 10 grep -q '^listening on' "$1" || ok=1
  sed -n 's/^listening on \(http:.*\)$/\1/p' "$1"
  return "$ok"
}
# start_dev APP_URL [FLAG...]: start `asgigram dev` in front of APP_URL in the
# background (it reads ASGIGRAM_APP_SECRET), logging to $tmp/dev.log.
start_dev() {
  # Emptied here, not only by the redirection: that one happens in the
  # background child, and wait_dev could meanwhile find the "listening on"
  # of an earlier dev mode in the old log.
  : >"$tmp/dev.log"
  "$bin" dev "$1" --listen 127.0.0.1:0 "${@:2}" >"$tmp/dev.log" 2>&1 &
  pids+=($!)
}
# wait_dev: wait up to 10 s for asgigram dev to listen; set dev to its URL,
# fail if it did not.
wait_dev() {
  local ok=0
  until_ok 10 grep -q 'listening on' "$tmp/dev.log" || ok=1
  dev=$(sed -n 's/.*listening on *\(http:[^ ]*\).*/\1/p' "$tmp/dev.log" | head -n1)
  return "$ok"
}
# serve_dev: for an app started in the background that logs to $tmp/app.log and
# prints "listening on URL" there: set app to URL, then start asgigram dev in
# front of it and set dev. Fails if either did not start within 10 s.
serve_dev() {
  app=$(listen_url "$tmp/app.log") || return 1
  start_dev "$app"
  wait_dev
}
