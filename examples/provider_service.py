#!/usr/bin/env python3
"""An example external provisioning web service for SessionCloud (docs/provider-service.md).

Copy it and replace USERS with a lookup in your own customer database. It uses only Python's
standard library, so it runs anywhere Python 3.11 runs:

    python examples/provider_service.py --port 8001 --secret "<signing secret from the portal>"

Then set the App's provisioning URL to http://127.0.0.1:8001/provisioning (any path works).

What SessionCloud sends (one GET per login and on every re-provisioning):

    GET /provisioning?username=1000&password=1234&reprovision=false&deviceId=3kQs875391li29
    User-Agent: SessionCloud/<version>
    Accept: application/json
    X-SessionCloud-Timestamp: 1767225600
    X-SessionCloud-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>\\n<METHOD>\\n<path>?<query>")>

What it expects back: HTTP 200 and JSON such as

    {"update": true, "errmsg": "", "sipaccounts": [{"sipusername": "1000", "sippassword": "..."}]}

An empty `sipaccounts` with an `errmsg` rejects the login; SessionCloud shows your errmsg to the
user. Account fields you leave out (domain, transport, ...) come from the App's SIP profile in
the portal.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# Demo customers: provisioning username -> provisioning password and the SIP account(s) to hand
# out. In a real service the provisioning password is checked against a hash in your database.
USERS: dict[str, dict[str, object]] = {
    "1000": {
        "password": "1234",
        "sipaccounts": [
            {"sipusername": "1000", "sippassword": "demo-sip-secret-1000", "displayname": "Demo 1000"},
        ],
    },
    "1001": {
        "password": "1234",
        "sipaccounts": [
            {"sipusername": "1001", "sippassword": "demo-sip-secret-1001", "displayname": "Demo 1001"},
        ],
    },
}

MAX_SKEW_SECONDS = 300  # refuse signatures older than five minutes: they may be replays


def signature_is_valid(secret: str, timestamp: str, method: str, path_and_query: str, header: str) -> bool:
    """Check X-SessionCloud-Signature; copy this function into your own service."""
    try:
        if abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
            return False
    except ValueError:
        return False
    message = f"{timestamp}\n{method}\n{path_and_query}".encode()
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    # While a secret is being rotated, SessionCloud sends one v1= entry per valid secret.
    entries = [part.strip().removeprefix("v1=") for part in header.split(",")]
    return any(hmac.compare_digest(entry.encode(), expected.encode()) for entry in entries)


def answer_for(username: str, password: str) -> dict[str, object]:
    """The answer (docs/provider-service.md) for one login attempt."""
    user = USERS.get(username)
    # compare_digest so the answer time does not reveal how much of the password was right.
    if user is None or not hmac.compare_digest(str(user["password"]).encode(), password.encode()):
        return {"update": True, "sipaccounts": [], "errmsg": "Wrong username or password."}
    return {"update": True, "errmsg": "", "sipaccounts": user["sipaccounts"]}


class ProvisioningHandler(BaseHTTPRequestHandler):
    server_version = "ExampleProvider/1.0"
    signing_secret: str | None = None  # set by make_server

    def do_GET(self) -> None:
        # Verify the signature over the request target exactly as received (path and query).
        if self.signing_secret and not signature_is_valid(
            self.signing_secret,
            self.headers.get("X-SessionCloud-Timestamp", ""),
            self.command,
            self.path,
            self.headers.get("X-SessionCloud-Signature", ""),
        ):
            self.send_json(401, {"error": "bad or missing X-SessionCloud-Signature"})
            return
        params = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        username = params.get("username", [""])[0]
        password = params.get("password", [""])[0]
        # `reprovision` and `deviceId` are here too, if you want to track devices.
        self.send_json(200, answer_for(username, password))

    def send_json(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The default log line holds the query string, and with it the user's password.
        path = urlsplit(self.path).path
        sys.stderr.write(f"{self.address_string()} {self.command} {path} {code}\n")


def make_server(host: str, port: int, secret: str | None) -> ThreadingHTTPServer:
    handler = type("Handler", (ProvisioningHandler,), {"signing_secret": secret or None})
    return ThreadingHTTPServer((host, port), handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Example provider provisioning service for SessionCloud.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--secret",
        default=os.environ.get("PROVIDER_SIGNING_SECRET"),
        help="the App's signing secret; when set, unsigned calls get 401 (env PROVIDER_SIGNING_SECRET)",
    )
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.secret)
    signed = "verifying signatures" if args.secret else "NOT verifying signatures (no --secret)"
    print(
        f"Example provider service on http://{args.host}:{server.server_port}/provisioning, {signed}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
