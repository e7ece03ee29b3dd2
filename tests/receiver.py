"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 that checks signatures.

It verifies X-Scheduler-Signature with the secret it is given (its own HMAC code, not the
service's), answers from a script of status codes (then 200), can hang, and records every call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Call:
    """One request the receiver got."""

    headers: dict
    raw: bytes
    signature_ok: bool
    received_at: float

    @property
    def body(self) -> dict:
        """Return the JSON body."""
        return json.loads(self.raw)


def signature_ok(secret: str, header: str, raw: bytes) -> bool:
    """Check 't=<unix>,v1=<hex>' against HMAC-SHA256(secret, '<t>.<raw>')."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts:
        return False
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


@dataclass
class Receiver:
    """The server's state: the secret to check with, the answers to give, the calls seen."""

    secret: str = ""
    script: list[int] = field(default_factory=list)
    hang_seconds: float = 0.0
    location: str | None = None
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        """Return the next scripted status code (200 once the script is used up)."""
        with self.lock:
            return self.script.pop(0) if self.script else 200


def start(receiver: Receiver) -> ThreadingHTTPServer:
    """Serve `receiver` on a free port of 127.0.0.1 in a daemon thread; set its url."""

    class Handler(BaseHTTPRequestHandler):
        """Record the call, then answer as scripted."""

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            """Handle one delivery."""
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = signature_ok(receiver.secret, self.headers.get("X-Scheduler-Signature", ""), raw)
            with receiver.lock:
                receiver.calls.append(Call(dict(self.headers), raw, ok, time.time()))
            if receiver.hang_seconds:
                time.sleep(receiver.hang_seconds)
            status = receiver.answer()
            payload = b"nope" if status >= 400 else b"ok"
            try:
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (a hanging receiver's caller times out)

        def log_message(self, *_args) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    return server
