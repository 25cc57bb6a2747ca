"""A Telegram bot as a Flask app, behind asgigram.

    python3 app.py                          # serves POST / on 127.0.0.1:8000
    asgigram dev http://127.0.0.1:8000/     # or: asgigram <TOKEN> http://127.0.0.1:8000/

- /start answers with a question and an inline keyboard (two buttons);
- a button press is answered with answer_callback_query (the little
  notice on the user's screen) and edit_message_text (the question is
  replaced by the choice, and the buttons go away);
- /help and any other text get a short hint; every other event gets 204.

Every answer is a list of outbound events in the response body: asgigram
calls them in order. No chat_id: it defaults to the event's chat.

Environment: APP_LISTEN (default 127.0.0.1:8000); ASGIGRAM_APP_SECRET,
asgigram's app_secret (whsec_<base64>): when set, requests without a valid
Standard Webhooks signature get 401.
"""

import base64
import hashlib
import hmac
import json
import os
import time

from flask import Flask, abort, jsonify, request

app = Flask(__name__)

QUESTION = "What's for dinner?"
CHOICES = {"pizza": "🍕 Pizza", "sushi": "🍣 Sushi"}
KEYBOARD = {
    "inline_keyboard": [
        [{"text": label, "callback_data": data} for data, label in CHOICES.items()]
    ]
}


@app.post("/")
def telegram():
    body = request.get_data()  # the raw bytes: the signature covers them
    if SECRET_KEY is not None and not verify(SECRET_KEY, request.headers, body):
        abort(401)
    event = json.loads(body)["event"]
    if event["type"] == "telegram.message":
        replies = on_message(event)
    elif event["type"] == "telegram.callback_query":
        replies = on_button(event)
    else:
        replies = []
    if not replies:
        return "", 204  # nothing to send
    return jsonify(replies)  # Content-Type: application/json


def on_message(message):
    text = message.get("text", "")
    command = text.split()[0].split("@")[0] if text.startswith("/") else None
    if command == "/start":
        return [{"type": "telegram.send_message", "text": QUESTION, "reply_markup": KEYBOARD}]
    if "text" in message:
        return [{"type": "telegram.send_message", "text": "Send /start to choose dinner."}]
    return []


def on_button(query):
    choice = CHOICES.get(query.get("data"))
    if choice is None:  # a stale or unknown button
        return [
            {
                "type": "telegram.answer_callback_query",
                "callback_query_id": query["id"],
                "text": "That button is not on the menu any more.",
                "show_alert": True,
            }
        ]
    # Always answer the query, or the user's button keeps spinning.
    replies = [
        {
            "type": "telegram.answer_callback_query",
            "callback_query_id": query["id"],
            "text": f"{choice} it is!",
        }
    ]
    if "message" in query:  # absent for buttons under inline-mode messages
        replies.append(
            {
                "type": "telegram.edit_message_text",
                "message_id": query["message"]["message_id"],
                "text": f"{QUESTION}\n\nYou chose: {choice}",
            }
        )
    return replies


# --- Standard Webhooks signature (copy it into your app) --------------------


def parse_secret(secret):
    """Returns the HMAC key of a whsec_<base64> secret."""
    if not secret.startswith("whsec_"):
        raise ValueError("ASGIGRAM_APP_SECRET must look like whsec_<base64>")
    return base64.b64decode(secret[len("whsec_"):], validate=True)


def verify(key, headers, body, tolerance=300):
    """Checks the webhook-signature header of a request: HMAC-SHA256 over
    "id.timestamp.body", base64, any of the listed v1 signatures."""
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > tolerance:  # a replay, or a clock problem
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for signature in headers.get("webhook-signature", "").split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


SECRET_KEY = parse_secret(os.environ["ASGIGRAM_APP_SECRET"]) if os.environ.get("ASGIGRAM_APP_SECRET") else None

if __name__ == "__main__":
    host, port = os.environ.get("APP_LISTEN", "127.0.0.1:8000").rsplit(":", 1)
    app.run(host=host, port=int(port))
