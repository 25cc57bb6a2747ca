#!/usr/bin/env python3
"""The smallest asgigram application: it answers every event with 204.

204 means "nothing to send", so the bot stays silent until you answer by
hand, with curl, on asgigram's /send endpoint. To make that possible the
app saves the last event it received (scope, event, token and send_url) to
a file. Standard library only.

    python3 app.py --listen 127.0.0.1:8000 --save /tmp/last-event.json

Port 0 picks a free port; the first line printed says which one:

    app listening on http://127.0.0.1:38123/
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (port 0: a free one)")
    parser.add_argument("--save", default="last-event.json", help="where to save the last event")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            payload = json.loads(body)
            # Write to a temporary file, then rename: a reader never sees half a file.
            tmp = args.save + ".tmp"
            with open(tmp, "w") as f:
                json.dump(payload, f, indent=2)
            os.replace(tmp, args.save)
            event = payload["event"]
            print(f"app: update {payload['update_id']}: {event['type']}, saved to {args.save}", flush=True)
            self.send_response(204)  # nothing to send (yet)
            self.end_headers()

        def log_message(self, *_):  # keep the terminal for the lines above
            pass

    server = ThreadingHTTPServer((host, int(port)), Handler)
    print(f"app listening on http://{host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
