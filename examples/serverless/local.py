#!/usr/bin/env python3
"""Serves a Lambda function-URL style handler over plain HTTP, for local runs.

    python3 local.py                         # handler.handler on 127.0.0.1:8000
    python3 local.py --listen 127.0.0.1:0    # a free port; the first line says which
    asgigram dev http://127.0.0.1:8000/

Each request becomes the event dict a function URL passes (payload format
2.0: rawPath, headers, requestContext.http.method, body, isBase64Encoded),
the handler is called with it and a small context object, and its return
value (statusCode, headers, body) becomes the response. Unlike the real
platform, the process keeps running after the response, so background
threads finish: see the CAVEAT in handler.py.
"""

import argparse
import base64
import importlib
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Context:
    """The parts of a Lambda context object that handlers commonly use."""

    def __init__(self, timeout=30.0):
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "asgigram-bot"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (port 0: a free one)")
    parser.add_argument("--handler", default="handler.handler", help="module.function (default handler.handler)")
    args = parser.parse_args()
    module, _, function = args.handler.rpartition(".")
    sys.path.insert(0, ".")
    handle = getattr(importlib.import_module(module), function)

    class Adapter(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            event = {
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": path,
                "rawQueryString": query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "requestContext": {"http": {"method": self.command, "path": path, "sourceIp": self.client_address[0]}},
                "body": base64.b64encode(body).decode(),
                "isBase64Encoded": True,
            }
            result = handle(event, Context())
            if not isinstance(result, dict) or "statusCode" not in result:  # a bare body, as Lambda allows
                result = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
            out = result.get("body") or ""
            out = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
            self.send_response(result["statusCode"])
            for name, value in (result.get("headers") or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, fmt, *fmt_args):
            print("local: " + fmt % fmt_args, flush=True)

    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Adapter)
    print(f"listening on http://{host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
