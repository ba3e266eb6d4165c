# A Python (standard library only) API that trusts the identity headers `finora-auth serve --upstream` adds.

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        # The gateway removed Authorization and any client copies of these headers before adding its own.
        body = json.dumps({
            "path": self.path,
            "account": self.headers.get("Finora-Account-Id"),
            "environment": self.headers.get("Finora-Environment"),
            "module": self.headers.get("Finora-Module"),
            "authorization": self.headers.get("Authorization"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


# Listen on loopback only: nothing but the gateway should reach this service.
server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), Handler)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
