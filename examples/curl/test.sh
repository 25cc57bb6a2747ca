#!/usr/bin/env bash
# End-to-end test of examples/curl: runs walkthrough.sh non-interactively
# (it fails by itself as soon as a step does not show what it describes)
# and checks its transcript for the bot's two replies.
#
#   examples/curl/test.sh       (ASGIGRAM=/path/to/asgigram skips the build)
set -euo pipefail
name=examples/curl
# shellcheck source=SCRIPTDIR/../testlib.sh
. "$(dirname "$0")/../testlib.sh"

logs() { echo "--- walkthrough transcript"; cat "$tmp/transcript"; }

status=0
timeout 120 bash "$here/walkthrough.sh" </dev/null >"$tmp/transcript" 2>&1 || status=$?
check "walkthrough.sh exits 0" test "$status" -eq 0
check "the built-in echo app answered \"echo: hello\"" \
  grep -qF '"text": "echo: hello"' "$tmp/transcript"
check "/send answered {\"ok\":true,...}" grep -qF '{"ok":true,"results":[' "$tmp/transcript"
# Step 10 prints GET /dev/chats/42 (step 9 shows the same text in the command).
sed -n '/== 10\./,/== 11\./p' "$tmp/transcript" >"$tmp/step10"
check "GET /dev/chats/42 shows the answer sent with curl, as a reply" \
  grep -qF '"reply_to_message": {' "$tmp/step10"
check "... with the text sent" grep -qF '"text": "answered with curl"' "$tmp/step10"
check "a wrong token gets 401" grep -qF 'HTTP 401' "$tmp/transcript"

finish
