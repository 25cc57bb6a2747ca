"""Unit tests of asgigram_shim (standard library unittest, no network).

    cd examples/asgi && python3 -m unittest -v test_shim
"""

import asyncio
import base64
import hashlib
import hmac
import json
import time
import unittest

import asgigram_shim
import echo_app
from asgigram_shim import Shim, is_double_callable


def event_body(token="t1", chat_id=42, text="hi", update_id=1, event_type="telegram.message", update_epoch=0):
    event = {"type": event_type, "message_id": update_id, "chat": {"id": chat_id, "type": "private"}, "text": text}
    body = {
        "scope": {"type": "telegram", "chat": {"id": chat_id, "type": "private"}},
        "event": event,
        "update_id": update_id,
        "token": token,
        "send_url": "http://127.0.0.1:1/send",
    }
    if update_epoch:
        body["update_epoch"] = update_epoch
    return json.dumps(body).encode()


class Recorder:
    """A sender that records what the application sent."""

    def __init__(self, delay=0.0):
        self.sent = []
        self.delay = delay

    async def __call__(self, send_url, token, message):
        await asyncio.sleep(self.delay)
        self.sent.append((token, message))
        return [{"message_id": len(self.sent)}]


class DetectionTest(unittest.TestCase):
    def test_styles(self):
        class Asgi3Object:
            async def __call__(self, scope, receive, send):
                pass

        cases = [
            ("async function (ASGI 3)", echo_app.application, False),
            ("object with async __call__ (ASGI 3)", Asgi3Object(), False),
            ("class (ASGI 2)", echo_app.LegacyApplication, True),
            ("function returning the instance (ASGI 2)", echo_app.legacy_application, True),
        ]
        for name, app, want in cases:
            with self.subTest(name):
                self.assertEqual(is_double_callable(app), want)

    def test_parse_secret(self):
        self.assertEqual(asgigram_shim.parse_secret("whsec_" + base64.b64encode(b"abc").decode()), b"abc")
        with self.assertRaises(ValueError):
            asgigram_shim.parse_secret("abc")


class ShimTest(unittest.IsolatedAsyncioTestCase):
    async def asyncTearDown(self):
        await self.shim.close()

    def make(self, app, **options):
        self.sender = options.pop("sender", Recorder())
        self.shim = Shim(app, sender=self.sender, **options)
        return self.shim

    async def test_one_instance_per_token_in_both_styles(self):
        for app in (echo_app.application, echo_app.LegacyApplication, echo_app.legacy_application):
            with self.subTest(app.__name__):
                shim = self.make(app)
                self.assertEqual(await shim.handle_event({}, event_body("a", 42, "one", 1)), (204, None))
                self.assertEqual(await shim.handle_event({}, event_body("a", 42, "two", 2)), (204, None))
                self.assertEqual(await shim.handle_event({}, event_body("b", 43, "three", 3)), (204, None))
                got = [(token, m["chat_id"], m["text"], m["reply_to_message_id"]) for token, m in self.sender.sent]
                self.assertEqual(
                    got,
                    [("a", 42, "echo #1: one", 1), ("a", 42, "echo #2: two", 2), ("b", 43, "echo #1: three", 3)],
                )
                self.assertEqual(len(shim.instances), 2)
                await shim.close()

    async def test_answer_waits_for_the_sends(self):
        shim = self.make(echo_app.application, sender=Recorder(delay=0.2))
        await shim.handle_event({}, event_body())
        self.assertEqual(len(self.sender.sent), 1, "answered before send() finished")

    async def test_scope_carries_asgi_version(self):
        scopes = []

        async def app(scope, receive, send):
            scopes.append(scope)
            await receive()

        await self.make(app).handle_event({}, event_body())
        self.assertEqual(scopes[0]["type"], "telegram")
        self.assertEqual(scopes[0]["chat"]["id"], 42)
        self.assertEqual(scopes[0]["asgi"]["version"], "3.0")

    async def test_raise_answers_500_and_a_new_instance_takes_the_retry(self):
        instances = []

        async def app(scope, receive, send):
            instances.append(scope)
            event = await receive()
            if event["text"] == "boom" and len(instances) == 1:
                raise RuntimeError("bug")
            await send({"type": "telegram.send_message", "text": "fine"})
            await receive()

        shim = self.make(app)
        with self.assertLogs("asgigram_shim", "ERROR"):
            status, _ = await shim.handle_event({}, event_body(text="boom"))
        self.assertEqual(status, 500)
        self.assertEqual(await shim.handle_event({}, event_body(text="boom")), (204, None))  # the retry
        self.assertEqual(len(instances), 2)
        self.assertEqual(len(self.sender.sent), 1)

    async def test_redelivery_is_not_handled_twice(self):
        shim = self.make(echo_app.application)
        await shim.handle_event({}, event_body(update_id=7))
        await shim.handle_event({}, event_body(update_id=7))
        self.assertEqual(len(self.sender.sent), 1)

    async def test_same_update_id_in_another_epoch_is_another_update(self):
        shim = self.make(echo_app.application)
        await shim.handle_event({}, event_body(update_id=7))
        await shim.handle_event({}, event_body(update_id=7, update_epoch=1))
        await shim.handle_event({}, event_body(update_id=7, update_epoch=1))
        self.assertEqual(len(self.sender.sent), 2)

    async def test_only_the_originals_event_types_by_default(self):
        shim = self.make(echo_app.application)
        body = event_body(event_type="telegram.callback_query")
        self.assertEqual(await shim.handle_event({}, body), (204, None))
        self.assertEqual(shim.instances, {})

        received = []

        async def app(scope, receive, send):
            while True:
                received.append((await receive())["type"])

        shim = self.make(app, all_events=True)
        await shim.handle_event({}, body)
        self.assertEqual(received, ["telegram.callback_query"])

    async def test_slow_application_is_answered_after_ack_timeout(self):
        async def app(scope, receive, send):
            await receive()
            await asyncio.sleep(5)

        shim = self.make(app, ack_timeout=0.1)
        start = time.monotonic()
        self.assertEqual(await shim.handle_event({}, event_body()), (204, None))
        self.assertLess(time.monotonic() - start, 2)

    async def test_max_instances_evicts_the_least_recently_active(self):
        shim = self.make(echo_app.application, max_instances=2)
        for update_id, token in enumerate(["a", "b", "a", "c"], 1):
            await shim.handle_event({}, event_body(token, update_id=update_id))
        self.assertEqual(list(shim.instances), ["a", "c"])

    async def test_signature(self):
        key = b"k" * 32
        shim = self.make(echo_app.application, secret_key=key)
        body = event_body()
        timestamp = str(int(time.time()))
        mac = hmac.new(key, f"tg-1-1.{timestamp}.".encode() + body, hashlib.sha256).digest()
        headers = {"webhook-id": "tg-1-1", "webhook-timestamp": timestamp,
                   "webhook-signature": "v1,bm90IGl0 v1," + base64.b64encode(mac).decode()}
        self.assertEqual((await shim.handle_event(headers, body))[0], 204)
        self.assertEqual((await shim.handle_event(headers, body + b" "))[0], 401)
        self.assertEqual((await shim.handle_event({}, body))[0], 401)
        old = dict(headers, **{"webhook-timestamp": str(int(time.time()) - 3600)})
        self.assertEqual((await shim.handle_event(old, body))[0], 401)

    async def test_scope_closed_disconnects_the_scopes_instance(self):
        received = []

        async def app(scope, receive, send):
            while True:
                event = await receive()
                received.append((scope["chat"]["id"], event["type"], event.get("reason")))
                if event["type"] == "telegram.disconnect":
                    return

        shim = self.make(app)
        opened = {"scope": {"type": "telegram", "chat": {"id": 42}},
                  "event": {"type": "asgigram.scope_opened", "scope_key": "chat:42", "opens": 1},
                  "token": "a", "send_url": "http://127.0.0.1:1/send"}
        self.assertEqual(await shim.handle_event({}, json.dumps(opened).encode()), (204, None))
        self.assertEqual(received, [], "scope_opened reaches no application")
        await shim.handle_event({}, event_body("a", 42, "one", 1))
        await shim.handle_event({}, event_body("b", 43, "other", 2))
        closed = {"scope": {"type": "telegram", "chat": {"id": 42}},
                  "event": {"type": "asgigram.scope_closed", "scope_key": "chat:42", "reason": "idle"}}
        self.assertEqual(await shim.handle_event({}, json.dumps(closed).encode()), (204, None))
        self.assertEqual(received, [(42, "telegram.message", None), (43, "telegram.message", None),
                                    (42, "telegram.disconnect", "idle")])
        self.assertEqual(list(shim.instances), ["b"], "the closed scope's instance is gone")
        # A close of a scope without an instance is fine too.
        self.assertEqual(await shim.handle_event({}, json.dumps(closed).encode()), (204, None))

    async def test_lifespan_startup_and_shutdown(self):
        messages = []

        async def app(scope, receive, send):
            if scope["type"] != "lifespan":
                return
            while True:
                message = await receive()
                messages.append(message["type"])
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return

        shim = self.make(app)
        startup = json.dumps({"event": {"type": "asgigram.startup", "bot": {"id": 1}}}).encode()
        shutdown = json.dumps({"event": {"type": "asgigram.shutdown", "bot": {"id": 1}}}).encode()
        self.assertEqual(await shim.handle_event({}, startup), (204, None))
        self.assertEqual(await shim.handle_event({}, startup), (204, None), "a second startup is no second lifespan")
        self.assertEqual(await shim.handle_event({}, shutdown), (204, None))
        self.assertEqual(messages, ["lifespan.startup", "lifespan.shutdown"])

    async def test_lifespan_startup_failed_is_500(self):
        calls = []

        async def app(scope, receive, send):
            await receive()
            calls.append(scope["type"])
            if len(calls) == 1:
                await send({"type": "lifespan.startup.failed", "message": "no database"})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()

        shim = self.make(app)
        startup = json.dumps({"event": {"type": "asgigram.startup", "bot": {"id": 1}}}).encode()
        with self.assertLogs("asgigram_shim", "ERROR"):
            status, answer = await shim.handle_event({}, startup)
        self.assertEqual(status, 500)
        self.assertIn("no database", answer["description"])
        self.assertEqual(await shim.handle_event({}, startup), (204, None), "asked again, it starts")

    async def test_lifespan_not_supported_is_left_alone(self):
        for app in (echo_app.LegacyApplication, echo_app.legacy_application):
            with self.subTest(app.__name__):
                shim = self.make(app, ack_timeout=0.2)
                startup = json.dumps({"event": {"type": "asgigram.startup", "bot": {"id": 1}}}).encode()
                self.assertEqual(await shim.handle_event({}, startup), (204, None))
                self.assertFalse(shim.lifespan.supported)
                self.assertEqual(await shim.handle_event({}, event_body()), (204, None), "events still work")
                await shim.close()

    async def test_bad_body(self):
        self.assertEqual((await self.make(echo_app.application).handle_event({}, b"nope"))[0], 400)


if __name__ == "__main__":
    unittest.main()
