#!/usr/bin/env python3
"""Run an application written for the Python asgigram behind the Go asgigram.

The Python asgigram was an ASGI server for Telegram bots: it ran an ASGI
application in its own process, one application instance per chat, with
scope {"type": "telegram", "chat": {...}}, events {"type": "telegram.message",
...} from receive() and {"type": "telegram.send_message", ...} given to
send(). The Go asgigram speaks HTTP instead. This shim is the bridge: an
HTTP server (asyncio, standard library only) that asgigram POSTs events to,
and that runs the ASGI application unchanged:

    python3 asgigram_shim.py echo_app:application      # serves 127.0.0.1:8000
    asgigram <TOKEN> http://127.0.0.1:8000/            # or: asgigram dev http://127.0.0.1:8000/

- One application instance per scope token (that is, per chat, while
  asgigram keeps the scope), created at the scope's first event, with the
  scope asgigram sent ({"type": "telegram", "chat": {...}}, plus "asgi").
- receive() returns the POSTed events, in order.
- send(message) POSTs the message as JSON to the event's send_url with the
  scope token (asgigram's /send); it returns when Telegram has answered and
  raises SendError when the call failed.
- ASGI 3 applications (async def app(scope, receive, send)) and ASGI 2
  ones (app(scope) returns an instance, awaited as instance(receive, send);
  the original was built on asgiref 2) are both run, detected as asgiref
  detects them (--interface to force one).
- By default only the event types the original delivered (telegram.message,
  telegram.edited_message, telegram.channel_post,
  telegram.edited_channel_post) reach the application; the others are
  answered 204. --all-events delivers every type (telegram.callback_query,
  ...), for applications that expect them.

The HTTP answer to each event is 204 once the application has taken it and
is waiting for the next one (it called receive() again) or has returned, so
the replies it sent meanwhile are made before asgigram delivers the chat's
next event; after --ack-timeout (8 s, below asgigram's 10 s app_timeout) it
is 204 anyway and the instance goes on working. An instance that raises is
logged and dropped, and the event is answered 500: asgigram retries it, with
a new instance. A redelivered event (same update_epoch and update_id: an
update_id alone can come back for another update once Telegram's ids start
again) is not given to the instance twice. Instances idle for --idle-timeout (asgigram's
scope_idle_timeout, 15 min: its token is dead by then) are cancelled, and
at most --max-instances are kept.

With asgigram's lifecycle_events on (docs/protocol.md "Lifecycle events"):

- asgigram.startup runs the ASGI lifespan protocol's startup (the app gets
  {"type": "lifespan.startup"} in a scope {"type": "lifespan"}); the answer is
  204 once the app sent lifespan.startup.complete, 500 on
  lifespan.startup.failed (asgigram asks again until its startup_timeout).
  An application that raises on the lifespan scope does not support it: it
  is left alone and startup is answered 204 (as is one that returns, or
  says nothing for --ack-timeout). asgigram.shutdown sends
  {"type": "lifespan.shutdown"} and waits for lifespan.shutdown.complete.
- asgigram.scope_closed gives the scope's instance (found through the
  token of asgigram.scope_opened) {"type": "telegram.disconnect",
  "reason": "idle"|"evicted"|"shutdown"|"bot_blocked"|"migrated"} as its
  last event, then cancels it if it has not returned, so that the
  application can clean up. asgigram.scope_opened itself reaches no
  application: the instance is still created at the scope's first event.

ASGIGRAM_APP_SECRET (whsec_<base64>), when set, makes the shim check every
event's Standard Webhooks signature (401 otherwise).
"""

import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.request

log = logging.getLogger("asgigram_shim")

# The event types the Python asgigram delivered.
ORIGINAL_EVENTS = frozenset(
    {"telegram.message", "telegram.edited_message", "telegram.channel_post", "telegram.edited_channel_post"}
)
MAX_BODY = 1 << 20


class SendError(Exception):
    """A send() that asgigram's /send refused or could not carry out."""

    def __init__(self, status, description):
        super().__init__(f"/send answered {status}: {description}")
        self.status = status
        self.description = description


def is_double_callable(app):
    """Tells whether app is an ASGI 2 (double-callable) application, as
    asgiref.compatibility does: classes and plain functions are ASGI 2,
    coroutine functions and objects with an async __call__ are ASGI 3."""
    if getattr(app, "_asgi_single_callable", False):
        return False
    if getattr(app, "_asgi_double_callable", False):
        return True
    if inspect.isclass(app):
        return True
    if hasattr(app, "__call__") and inspect.iscoroutinefunction(app.__call__):
        return False
    return not inspect.iscoroutinefunction(app)


async def post_to_send(send_url, token, message):
    """The default sender: one POST to asgigram's /send; returns its results."""
    body = json.dumps(message).encode()

    def call():
        request = urllib.request.Request(
            send_url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=40) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            try:
                return err.code, json.load(err)
            except ValueError:
                return err.code, {}

    try:
        status, answer = await asyncio.to_thread(call)
    except OSError as err:
        raise SendError(0, f"cannot reach {send_url}: {err}") from None
    if status != 200:
        raise SendError(status, answer.get("description", "no description"))
    return answer.get("results")


def scope_name(scope):
    """chat:42 or user:42, for logs (never the token)."""
    for kind in ("chat", "user"):
        if kind in scope:
            return f"{kind}:{scope[kind].get('id')}"
    return "scope:?"


class Instance:
    """One application instance: one scope token, one task, one queue."""

    def __init__(self, shim, token, scope, send_url):
        self.shim = shim
        self.token = token
        self.scope = scope
        self.name = scope_name(scope)
        self.send_url = send_url
        self.queue = asyncio.Queue()
        self.current = None  # the future of the event the app is handling
        self.updates = collections.OrderedDict()  # recent (update_epoch, update_id) -> future
        self.last_active = time.monotonic()
        self.task = asyncio.create_task(self.run(), name=f"asgi instance {self.name}")

    def deliver(self, key, event):
        """Queues an event; the future completes when the app has taken it
        and asks for the next one (or returns), or fails if the app raises.
        key identifies the update: (update_epoch, update_id), or None."""
        self.last_active = time.monotonic()
        if key is not None and key in self.updates:  # a redelivery
            return self.updates[key]
        future = asyncio.get_running_loop().create_future()
        # Mark a failure as seen even when nobody waits for it any more.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        if key is not None:
            self.updates[key] = future
            while len(self.updates) > 100:
                self.updates.popitem(last=False)
        self.queue.put_nowait((event, future))
        return future

    def busy(self):
        return (self.current is not None and not self.current.done()) or not self.queue.empty()

    async def receive(self):
        self._settle(self.current, None)
        self.current = None
        event, self.current = await self.queue.get()
        self.last_active = time.monotonic()
        return event

    async def send(self, message):
        self.last_active = time.monotonic()
        return await self.shim.sender(self.send_url, self.token, message)

    async def run(self):
        error = None
        try:
            if self.shim.asgi3:
                await self.shim.app(self.scope, self.receive, self.send)
            else:
                await self.shim.app(self.scope)(self.receive, self.send)
            log.debug("application instance for %s returned", self.name)
        except asyncio.CancelledError:
            error = RuntimeError("application instance cancelled")
            raise
        except Exception as err:  # the app's bug: log it, drop the instance
            log.exception("application instance for %s raised", self.name)
            error = err
        finally:
            self.shim.forget(self)
            # The event in hand is done if the app returned, failed if it
            # raised; queued ones were never taken: fail them, so asgigram
            # redelivers them to a new instance.
            self._settle(self.current, error)
            while not self.queue.empty():
                _, future = self.queue.get_nowait()
                self._settle(future, error or RuntimeError("application instance returned"))

    @staticmethod
    def _settle(future, error):
        if future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


class Lifespan:
    """The ASGI lifespan protocol, driven by asgigram.startup and
    asgigram.shutdown: one application call per startup, with scope
    {"type": "lifespan"}, that lives until shutdown."""

    def __init__(self, shim):
        self.shim = shim
        self.task = None
        self.queue = None
        self.answer = None  # the future of the app's answer to the message in hand
        self.supported = True
        self.started = False

    async def receive(self):
        return await self.queue.get()

    async def send(self, message):
        kind = message.get("type", "")
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(message)
        if kind.endswith(".failed"):
            log.error("lifespan: %s: %s", kind, message.get("message", ""))
        else:
            log.info("lifespan: %s", kind)

    async def run(self):
        scope = {"type": "lifespan", "asgi": self.shim.asgi_version(), "state": {}}
        try:
            if self.shim.asgi3:
                await self.shim.app(scope, self.receive, self.send)
            else:
                await self.shim.app(scope)(self.receive, self.send)
            if self.answer is not None and not self.answer.done():
                # Returned without answering startup: no lifespan support.
                self.supported = False
                log.info("lifespan: not supported by the application (it returned): left alone")
                self.answer.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            if not self.started:
                # Raising before answering startup means: no lifespan
                # support (as uvicorn's "auto" mode takes it).
                self.supported = False
                log.info("lifespan: not supported by the application (%s): left alone", type(err).__name__)
            else:
                log.exception("lifespan: the application raised")
            if self.answer is not None and not self.answer.done():
                self.answer.set_result(None)

    async def _ask(self, message):
        loop = asyncio.get_running_loop()
        self.answer = loop.create_future()
        self.queue.put_nowait(message)
        done, _ = await asyncio.wait({self.answer, self.task}, timeout=self.shim.ack_timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self.answer.done():
            return self.answer.result()
        return None  # the app returned, or took too long

    async def startup(self):
        """Answers asgigram.startup: (204, None) once started, 500 if the
        application says startup failed."""
        if not self.supported or (self.task is not None and not self.task.done() and self.started):
            return 204, None  # not supported, or already started (asgigram restarted)
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self.run(), name="asgi lifespan")
        answer = await self._ask({"type": "lifespan.startup"})
        if answer is None and self.supported:
            # It took the message and said nothing within ack_timeout: an
            # application that ignores what it does not know. Left alone.
            log.warning("lifespan: no answer to lifespan.startup within %.0fs: taken as not supported",
                        self.shim.ack_timeout)
            self.supported = False
            self.task.cancel()
            self.task = None
        if not self.supported:
            return 204, None
        if answer.get("type") != "lifespan.startup.complete":
            self.task.cancel()
            self.task = None
            return 500, {"ok": False, "description": "lifespan.startup.failed: " + answer.get("message", "")}
        self.started = True
        return 204, None

    async def shutdown(self):
        """Answers asgigram.shutdown: lifespan.shutdown, waited for."""
        if self.task is None or self.task.done() or not self.started:
            return 204, None
        self.started = False
        await self._ask({"type": "lifespan.shutdown"})
        task, self.task = self.task, None
        try:
            await asyncio.wait_for(task, self.shim.ack_timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
            task.cancel()
        return 204, None


class Shim:
    """Receives asgigram's events and runs them through an ASGI application."""

    def __init__(
        self,
        app,
        *,
        interface="auto",
        all_events=False,
        ack_timeout=8.0,
        idle_timeout=900.0,
        max_instances=1000,
        secret_key=None,
        sender=post_to_send,
    ):
        self.app = app
        self.asgi3 = {"asgi3": True, "asgi2": False}.get(interface, not is_double_callable(app))
        self.all_events = all_events
        self.ack_timeout = ack_timeout
        self.idle_timeout = idle_timeout
        self.max_instances = max_instances
        self.secret_key = secret_key
        self.sender = sender
        self.instances = collections.OrderedDict()  # token -> Instance, least recently active first
        self.tokens = {}  # scope key -> token, from asgigram.scope_opened
        self.lifespan = Lifespan(self)

    async def handle_event(self, headers, body):
        """Handles one POSTed event; returns (HTTP status, JSON answer or None)."""
        if self.secret_key is not None and not verify(self.secret_key, headers, body):
            return 401, {"ok": False, "description": "invalid or missing signature"}
        try:
            payload = json.loads(body)
            lifecycle_type = payload["event"]["type"]
        except (ValueError, KeyError, TypeError):
            return 400, {"ok": False, "description": "not an asgigram event"}
        if isinstance(lifecycle_type, str) and lifecycle_type.startswith("asgigram."):
            return await self.handle_lifecycle(payload)
        try:
            scope, event, token = payload["scope"], payload["event"], payload["token"]
            send_url, update_id = payload["send_url"], payload.get("update_id")
            event_type = event["type"]
        except (ValueError, KeyError, TypeError):
            return 400, {"ok": False, "description": "not an asgigram event"}
        if not self.all_events and event_type not in ORIGINAL_EVENTS:
            return 204, None

        instance = self.instances.pop(token, None)
        if instance is None:
            instance = Instance(self, token, dict(scope, asgi=self.asgi_version()), send_url)
            log.debug("new application instance for %s", instance.name)
        self.instances[token] = instance  # most recently active last
        instance.send_url = send_url
        self.evict()

        # update_epoch (absent: 0) tells apart two updates with the same
        # update_id, before and after Telegram's ids started again.
        key = None if update_id is None else (payload.get("update_epoch", 0), update_id)
        done = instance.deliver(key, event)
        try:
            await asyncio.wait_for(asyncio.shield(done), self.ack_timeout)
        except asyncio.TimeoutError:
            log.info("update %s: %s still busy after %.0fs, answering 204", update_id, instance.name, self.ack_timeout)
        except Exception as err:
            return 500, {"ok": False, "description": f"the application raised {type(err).__name__}"}
        return 204, None

    async def handle_lifecycle(self, payload):
        """Handles asgigram's lifecycle events (lifecycle_events)."""
        event = payload["event"]
        kind = event["type"]
        if kind == "asgigram.startup":
            return await self.lifespan.startup()
        if kind == "asgigram.shutdown":
            return await self.lifespan.shutdown()
        if kind == "asgigram.scope_opened":
            if payload.get("token"):
                self.tokens[event.get("scope_key")] = payload["token"]
            return 204, None
        if kind == "asgigram.scope_closed":
            token = self.tokens.pop(event.get("scope_key"), None)
            instance = self.instances.get(token) if token else None
            if instance is not None:
                await self.disconnect(instance, event.get("reason", ""))
            return 204, None
        return 204, None  # a lifecycle event this shim does not know

    async def disconnect(self, instance, reason):
        """Gives instance telegram.disconnect as its last event, waits (up to
        ack_timeout) for it to take it, then cancels it if it goes on."""
        self.forget(instance)
        log.info("application instance for %s disconnected (%s)", instance.name, reason)
        done = instance.deliver(None, {"type": "telegram.disconnect", "reason": reason})
        try:
            await asyncio.wait_for(asyncio.shield(done), self.ack_timeout)
        except (asyncio.TimeoutError, Exception):
            pass
        if not instance.task.done():
            instance.task.cancel()

    def asgi_version(self):
        return {"version": "3.0" if self.asgi3 else "2.0", "spec_version": "1.0"}

    def forget(self, instance):
        if self.instances.get(instance.token) is instance:
            del self.instances[instance.token]

    def evict(self):
        """Cancels the least recently active idle instances beyond max_instances."""
        excess = len(self.instances) - self.max_instances
        for instance in list(self.instances.values()):
            if excess <= 0:
                break
            if not instance.busy():
                self.forget(instance)
                instance.task.cancel()
                excess -= 1

    async def expire(self):
        """Cancels instances idle for longer than idle_timeout, forever."""
        while True:
            await asyncio.sleep(min(60.0, self.idle_timeout / 4))
            cutoff = time.monotonic() - self.idle_timeout
            for instance in list(self.instances.values()):
                if instance.last_active < cutoff and not instance.busy():
                    log.debug("application instance for %s idle, cancelled", instance.name)
                    self.forget(instance)
                    instance.task.cancel()

    async def close(self):
        await self.lifespan.shutdown()
        tasks = [instance.task for instance in self.instances.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- a minimal HTTP/1.1 server on asyncio streams --------------------------

    async def serve_connection(self, reader, writer):
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), 75)  # keep-alive idle limit
                except asyncio.TimeoutError:
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                parts = line.decode("latin-1").split()
                headers = {}
                while True:
                    header = await reader.readline()
                    if not header.strip():
                        break
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if len(parts) != 3:
                    await respond(writer, 400, {"ok": False, "description": "bad request line"}, close=True)
                    break
                method, _, version = parts
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    await respond(writer, 411, {"ok": False, "description": "send a Content-Length"}, close=True)
                    break
                length = int(headers.get("content-length") or 0)
                if length > MAX_BODY:
                    await respond(writer, 413, {"ok": False, "description": "body too large"}, close=True)
                    break
                body = await reader.readexactly(length)
                if method == "POST":
                    status, answer = await self.handle_event(headers, body)
                elif method in ("GET", "HEAD"):
                    status, answer = 200, {"ok": True, "description": "asgigram_shim is running"}
                else:
                    status, answer = 405, {"ok": False, "description": "POST events here"}
                close = version != "HTTP/1.1" or headers.get("connection", "").lower() == "close"
                await respond(writer, status, answer, close=close)
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:  # shutting down
            pass
        finally:
            writer.close()


REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 405: "Method Not Allowed",
           411: "Length Required", 413: "Content Too Large", 500: "Internal Server Error"}


async def respond(writer, status, answer, close=False):
    body = b"" if answer is None or status == 204 else json.dumps(answer).encode()
    head = f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    if close:
        head += "Connection: close\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()


# --- Standard Webhooks signature ------------------------------------------------


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


# --- command line -----------------------------------------------------------------


def import_by_path(path):
    """module.path:attribute.path -> the object, like the original's CLI."""
    module_path, _, object_path = path.partition(":")
    target = importlib.import_module(module_path)
    for part in (object_path or "application").split("."):
        target = getattr(target, part)
    return target


async def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a Python-asgigram ASGI application behind asgigram.")
    parser.add_argument("application", help="the application, as module.path:attribute (default attribute: application)")
    parser.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT to serve (port 0: a free one)")
    parser.add_argument("--interface", choices=["auto", "asgi3", "asgi2"], default="auto")
    parser.add_argument("--all-events", action="store_true", help="deliver every event type, not only the original's")
    parser.add_argument("--ack-timeout", type=float, default=8.0, metavar="SECONDS")
    parser.add_argument("--idle-timeout", type=float, default=900.0, metavar="SECONDS")
    parser.add_argument("--max-instances", type=int, default=1000)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")

    sys.path.insert(0, ".")
    secret = os.environ.get("ASGIGRAM_APP_SECRET")
    shim = Shim(
        import_by_path(args.application),
        interface=args.interface,
        all_events=args.all_events,
        ack_timeout=args.ack_timeout,
        idle_timeout=args.idle_timeout,
        max_instances=args.max_instances,
        secret_key=parse_secret(secret) if secret else None,
    )
    host, _, port = args.listen.rpartition(":")
    server = await asyncio.start_server(shim.serve_connection, host, int(port))
    bound = server.sockets[0].getsockname()
    print(f"listening on http://{bound[0]}:{bound[1]}/", flush=True)
    log.info("running %s (ASGI %s)%s", args.application, shim.asgi_version()["version"],
             ", signatures checked" if shim.secret_key else "")

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    expiry = asyncio.create_task(shim.expire())
    await stop.wait()
    server.close()  # open connections are cancelled when asyncio.run returns
    expiry.cancel()
    await shim.close()


if __name__ == "__main__":
    asyncio.run(main())
