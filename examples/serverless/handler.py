"""A Telegram bot as a serverless function behind asgigram: respond fast, then send.

The shape is an AWS Lambda function URL handler (payload format 2.0):
handler(event, context) gets the HTTP request as a dict and returns the
response as a dict. Other platforms differ in names, not in the idea.

For each text message the function

1. answers at once, in the response body, with one cheap outbound event:
   {"type": "telegram.send_chat_action", "action": "typing"} (the user sees
   "typing..."; asgigram makes the call and the delivery is done);
2. does the slow work after the response and sends the result through
   asgigram's /send endpoint, with the scope token from the event.

Every other event gets 200 {} (nothing to send).

CAVEAT: step 2 runs in a thread (defer() below), which is fine for a
long-running process (local.py, a container) but not on most serverless
platforms: they freeze or stop the function once it has returned its
response, so the thread may run much later or never. There, defer() should
hand the job to something that runs it: a queue (SQS, Pub/Sub, Cloud Tasks)
consumed by a second function, an asynchronous self-invocation (Lambda
InvocationType="Event"), or the platform's own "keep running after the
response" hook (waitUntil on Vercel and Cloudflare Workers). The job needs
only the event, the token and send_url; the token stays valid while the chat
is active (asgigram's scope_idle_timeout, 15 min idle).

Environment: ASGIGRAM_APP_SECRET (whsec_<base64>): when set, requests
without a valid Standard Webhooks signature get 401 (do set it: a function
URL is on the internet). WORK_SECONDS: how long the "slow work" takes
(default 2).
"""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request

WORK_SECONDS = float(os.environ.get("WORK_SECONDS", "2"))


def handler(event, context):
    body = event.get("body") or ""
    body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if SECRET_KEY is not None and not verify(SECRET_KEY, headers, body):
        return {"statusCode": 401, "body": "invalid signature"}

    payload = json.loads(body)
    message = payload["event"]
    if message["type"] != "telegram.message" or "text" not in message:
        return respond({})  # nothing to send

    defer(work, payload["send_url"], payload["token"], message)
    return respond({"type": "telegram.send_chat_action", "action": "typing"})


def respond(outbound):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(outbound),
    }


def defer(job, *args):
    """Runs job(*args) after the response: here a thread (see the CAVEAT)."""
    threading.Thread(target=job, args=args).start()


def work(send_url, token, message):
    """The slow part, then the result through /send."""
    time.sleep(WORK_SECONDS)
    words = message["text"].split()
    text = f"📝 {len(words)} words, {len(message['text'])} characters; the longest: {max(words, key=len, default='-')}"
    try:
        send(send_url, token, {"type": "telegram.send_message", "text": text,
                               "reply_to_message_id": message["message_id"]})
    except Exception as err:  # a real function would let the queue retry it
        print(f"sending the result for message {message['message_id']} failed: {err}", flush=True)


def send(send_url, token, outbound, attempts=3):
    """POSTs an outbound event to asgigram's /send; returns Telegram's results.
    Retries 503 (busy or stopping) only: after a 504 the outcome is unknown,
    and sending again could send the message twice."""
    request = urllib.request.Request(
        send_url,
        data=json.dumps(outbound).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=40) as response:
                return json.load(response)["results"]
        except urllib.error.HTTPError as err:
            if err.code == 503 and attempt < attempts:
                time.sleep(float(err.headers.get("Retry-After") or 1))
                continue
            raise RuntimeError(f"/send {err.code}: {err.read().decode(errors='replace')}") from None


# --- Standard Webhooks signature (copy it into your function) ---------------


def parse_secret(secret):
    """Returns the HMAC key of a whsec_<base64> secret."""
    if not secret.startswith("whsec_"):
        raise ValueError("ASGIGRAM_APP_SECRET must look like whsec_<base64>")
    return base64.b64decode(secret[len("whsec_"):], validate=True)


def verify(key, headers, body, tolerance=300):
    """Checks webhook-signature (lower-case header names): HMAC-SHA256 over
    "id.timestamp.body", base64, any of the listed v1 signatures."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in headers.get("webhook-signature", "").split())
    )


SECRET_KEY = parse_secret(os.environ["ASGIGRAM_APP_SECRET"]) if os.environ.get("ASGIGRAM_APP_SECRET") else None
