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

An instance returns on {"type": "telegram.disconnect"} (its scope closed:
asgigram's lifecycle_events). The ASGI 3 application also speaks the ASGI
lifespan protocol (asgigram.startup and asgigram.shutdown, through the shim);
the ASGI 2 ones, like most applications of the original, do not.
"""

import logging

log = logging.getLogger("echo_app")


def reply(scope, message, count):
    """The outbound event for one incoming message."""
    return {
        "type": "telegram.send_message",
        "chat_id": scope["chat"]["id"],
        "text": f"echo #{count}: {message['text']}",
        "reply_to_message_id": message["message_id"],
    }


async def lifespan(receive, send):
    """The ASGI lifespan protocol: set up on startup, clean up on shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            log.info("echo_app: started up")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            log.info("echo_app: shut down")
            await send({"type": "lifespan.shutdown.complete"})
            return


# ASGI 3: one coroutine per scope.
async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    assert scope["type"] == "telegram"
    count = 0
    while True:
        event = await receive()
        if event["type"] == "telegram.disconnect":
            log.info("echo_app: chat %s closed (%s) after %d messages", scope["chat"]["id"], event["reason"], count)
            return
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
            if event["type"] == "telegram.disconnect":
                return
            if event["type"] == "telegram.message" and "text" in event:
                self.count += 1
                await send(reply(self.scope, event, self.count))


# ASGI 2 as a plain function returning the instance.
def legacy_application(scope):
    async def instance(receive, send):
        count = 0
        while True:
            event = await receive()
            if event["type"] == "telegram.disconnect":
                return
            if event["type"] == "telegram.message" and "text" in event:
                count += 1
                await send(reply(scope, event, count))

    return instance
