"""An echo bot written for the Python asgigram, in both ASGI styles.

Nothing here knows about HTTP or the Go asgigram: this is an application as
the original's README specified it. Each chat gets its own application
instance (scope {"type": "telegram", "chat": {...}}), which receives
{"type": "telegram.message", ...Telegram Message keys...} events and sends
{"type": "telegram.send_message", "chat_id", "text", "parse_mode",
"reply_to_message_id"} messages. Each instance counts the messages of its
chat, to show that it lives as long as the conversation.

    python3 asgigram_shim.py echo_app:application          # ASGI 3
    python3 asgigram_shim.py echo_app:LegacyApplication    # ASGI 2 (asgiref 2 era)
    python3 asgigram_shim.py echo_app:legacy_application   # ASGI 2, as a function
"""


def reply(scope, message, count):
    """The outbound event for one incoming message."""
    return {
        "type": "telegram.send_message",
        "chat_id": scope["chat"]["id"],
        "text": f"echo #{count}: {message['text']}",
        "reply_to_message_id": message["message_id"],
    }


# ASGI 3: one coroutine per scope.
async def application(scope, receive, send):
    assert scope["type"] == "telegram"
    count = 0
    while True:
        event = await receive()
        if event["type"] == "telegram.message" and "text" in event:
            count += 1
            await send(reply(scope, event, count))


# ASGI 2: a class instantiated with the scope, then called with receive and
# send -- how applications were written for asgiref 2, which the original
# asgigram was built on.
class LegacyApplication:
    def __init__(self, scope):
        assert scope["type"] == "telegram"
        self.scope = scope
        self.count = 0

    async def __call__(self, receive, send):
        while True:
            event = await receive()
            if event["type"] == "telegram.message" and "text" in event:
                self.count += 1
                await send(reply(self.scope, event, self.count))


# ASGI 2 as a plain function returning the instance.
def legacy_application(scope):
    async def instance(receive, send):
        count = 0
        while True:
            event = await receive()
            if event["type"] == "telegram.message" and "text" in event:
                count += 1
                await send(reply(scope, event, count))

    return instance
