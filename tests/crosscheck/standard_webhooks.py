"""The official Standard Webhooks library (PyPI: standardwebhooks) as the independent check.

    python3 standard_webhooks.py serve SECRET       verifies with Webhook.verify; prints its port
    python3 standard_webhooks.py send SECRET URL    signs with Webhook.sign and POSTs a sample
"""
import json
import sys
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def serve(secret):
    webhook = Webhook(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                webhook.verify(body, dict(self.headers.items()))
                status, text = 200, b"ok"
            except WebhookVerificationError as err:
                status, text = 400, str(err).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def send(secret, url):
    body = json.dumps({"type": "invoice.paid", "timestamp": datetime.now(timezone.utc).isoformat(),
                       "data": {"id": "inv_" + uuid.uuid4().hex[:12], "amount": 4200}})
    msg_id = "msg_" + uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    signature = Webhook(secret).sign(msg_id, now, body)
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    })
    with urllib.request.urlopen(request) as response:
        print(response.status)


if __name__ == "__main__":
    {"serve": lambda: serve(sys.argv[2]), "send": lambda: send(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
