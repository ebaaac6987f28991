"""The official Stripe library (PyPI: stripe) as the independent check of the Stripe scheme.

    python3 stripe_official.py serve SECRET       verifies with stripe.WebhookSignature.verify_header
                                                  (300 s tolerance); prints its port
    python3 stripe_official.py send SECRET URL    signs with the library's own signature code, POSTs
"""
import json
import sys
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import stripe


def serve(secret):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                stripe.WebhookSignature.verify_header(
                    body.decode("utf-8"), self.headers.get("Stripe-Signature", ""), secret, 300)
                status, text = 200, b"ok"
            except stripe.SignatureVerificationError as err:
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
    body = json.dumps({"id": "evt_" + uuid.uuid4().hex[:24], "object": "event",
                       "type": "invoice.paid", "created": int(time.time()),
                       "data": {"object": {"id": "in_" + uuid.uuid4().hex[:24], "amount_paid": 4200}}},
                      indent=2)
    t = int(time.time())
    # The library's own signing computation (it has no public signer; its tests use this).
    signature = stripe.WebhookSignature._compute_signature(f"{t}.{body}", secret)
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": f"t={t},v1={signature}",
    })
    with urllib.request.urlopen(request) as response:
        print(response.status)


if __name__ == "__main__":
    {"serve": lambda: serve(sys.argv[2]), "send": lambda: send(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
