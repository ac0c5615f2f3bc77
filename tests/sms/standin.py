"""A loopback stand-in for Africa's Talking's SMS endpoint, POST /version1/messaging."""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

from sms.gsm import segments

MESSAGING_PATH = "/version1/messaging"
AUTH_INVALID = "The supplied authentication is invalid"
PRICE_PER_PART = 0.8  # KES, what the recorded sandbox responses show

# statusCode -> status text, from AT's documentation; 101 is "Success" in real responses.
STATUS_TEXT: dict[int, str] = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
ACCEPTED = frozenset({100, 101, 102})
_PHONE = re.compile(r"^\+\d{1,3}\d{3,}$")  # the SDK's own check


@dataclass(frozen=True)
class Delivered:
    """A message the stand-in accepted for one number, i.e. what AT would have sent."""

    number: str
    text: str
    message_id: str
    sender_id: str | None
    at: float  # time.time() when it was recorded


@dataclass(frozen=True)
class Received:
    """One HTTP request as it arrived, whatever became of it."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    at: float


@dataclass(frozen=True)
class Canned:
    """A response given instead of the normal processing (nothing is delivered)."""

    status: int
    body: str
    content_type: str = "text/plain"


class StandIn:
    """Africa's Talking's SMS endpoint on 127.0.0.1, with knobs for its failure modes.

    Knobs (plain attributes, change them at any time):
      api_key, username        -- the credentials it accepts (username None: any)
      invalid_sender_ids       -- a `from` in this set gets 201 {"Message": "InvalidSenderId"}
      forced_status            -- number -> per-recipient statusCode (403, 405, 500, ...)
      delay                    -- seconds to sleep AFTER recording a delivery, before answering
      content_type             -- of success responses; "application/json" exactly, like AT
    Methods: fail_next() (canned HTTP errors), drop_next() (hang up after delivering),
    chaos() (seeded random 500s and slow answers).
    """

    def __init__(self, api_key: str = "at-test-key", username: str | None = None) -> None:
        self.api_key = api_key
        self.username = username
        self.invalid_sender_ids: set[str] = set()
        self.forced_status: dict[str, int] = {}
        self.delay = 0.0
        self.content_type = "application/json"
        self._lock = threading.Lock()
        self._delivered: list[Delivered] = []
        self._received: list[Received] = []
        self._canned: deque[Canned] = deque()
        self._drops = 0
        self._rng = random.Random(0)
        self._error_rate = 0.0
        self._timeout_rate = 0.0
        self._chaos_sleep = 0.0
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._active = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        """Bind an OS-chosen port on loopback and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        self._stopping.clear()
        # A short poll interval makes shutdown() return quickly.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"at-standin-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers, wait for them, and close the socket."""
        if self._server is None:
            return
        self._stopping.set()  # handlers sleeping in delay/chaos return without answering
        self._server.shutdown()
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=5.0)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the port the OS gave the server."""
        assert self._server is not None, "stand-in not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Return the value for the SDK's SMS._baseUrl, ending in /version1."""
        return f"http://127.0.0.1:{self.port}/version1"

    # -- knobs ---------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        body: str = "Internal Server Error",
        content_type: str = "text/plain",
    ) -> None:
        """Answer the next n authenticated requests with this response, delivering nothing."""
        with self._lock:
            self._canned.extend(Canned(status, body, content_type) for _ in range(n))

    def drop_next(self, n: int = 1) -> None:
        """Record the next n messages as delivered, then hang up without an answer."""
        with self._lock:
            self._drops += n

    def chaos(
        self, error_rate: float, timeout_rate: float, sleep: float, seed: int = 0
    ) -> None:
        """Per request: HTTP 500 with error_rate; with timeout_rate deliver, then sleep."""
        with self._lock:
            self._rng = random.Random(seed)
            self._error_rate = error_rate
            self._timeout_rate = timeout_rate
            self._chaos_sleep = sleep

    # -- what happened -------------------------------------------------------------------

    @property
    def delivered(self) -> list[Delivered]:
        """Return a copy of every delivery so far, in order."""
        with self._lock:
            return list(self._delivered)

    @property
    def received(self) -> list[Received]:
        """Return a copy of every request so far, in order."""
        with self._lock:
            return list(self._received)

    def deliveries_of(self, number: str, text: str) -> int:
        """Return how many times this text was delivered to this number."""
        return sum(1 for d in self.delivered if d.number == number and d.text == text)

    # -- request processing (called from handler threads) --------------------------------

    def _handle(self, handler: _Handler) -> None:
        with self._idle:
            self._active += 1
        try:
            self._process(handler)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _process(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8", errors="replace") if length else ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        headers = {k: v for k, v in handler.headers.items()}
        with self._lock:
            self._received.append(
                Received(handler.command, handler.path, headers, form, time.time())
            )
        if handler.command != "POST" or handler.path != MESSAGING_PATH:
            handler.answer(404, "Not Found", "text/plain")
            return
        if handler.headers.get("apiKey") != self.api_key or (
            self.username is not None and form.get("username") != self.username
        ):
            handler.answer(401, AUTH_INVALID, "text/plain")
            return
        for field in ("username", "to", "message"):
            if field not in form:
                handler.answer(400, f"Request is missing required form field '{field}'")
                return

        # Decide the request's fate under the lock, so that the seeded RNG is drawn once per
        # request and a knob consumed by one request is not seen by a concurrent one.
        canned: Canned | None = None
        drop = slow = False
        with self._lock:
            if self._canned:
                canned = self._canned.popleft()
            elif self._drops:
                self._drops -= 1
                drop = True
            elif self._error_rate or self._timeout_rate:
                roll = self._rng.random()
                if roll < self._error_rate:
                    canned = Canned(500, "Internal Server Error")
                else:
                    slow = roll < self._error_rate + self._timeout_rate
        if canned is not None:
            handler.answer(canned.status, canned.body, canned.content_type)
            return

        sender = form.get("from")
        body: dict[str, Any]
        if sender is not None and sender in self.invalid_sender_ids:
            body = {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}
        else:
            body = self._send(form["to"], form["message"], sender)

        if drop:
            return  # the handler closes the connection without a status line
        wait = self._chaos_sleep if slow else self.delay
        # Wake early on stop(), and then do not answer: the client gave up long ago.
        if wait and self._stopping.wait(wait):
            return
        handler.answer(201, json.dumps(body), self.content_type)

    def _send(self, to: str, text: str, sender: str | None) -> dict[str, Any]:
        """Deliver text to each comma-separated number; return AT's SMSMessageData body."""
        parts = segments(text)
        recipients: list[dict[str, Any]] = []
        total = 0.0
        for number in (n.strip() for n in to.split(",")):
            code = self.forced_status.get(number, 101 if _PHONE.match(number) else 403)
            if code in ACCEPTED:
                message_id = "ATXid_" + uuid.uuid4().hex
                cost = PRICE_PER_PART * parts
                total += cost
                with self._lock:
                    self._delivered.append(
                        Delivered(number, text, message_id, sender, time.time())
                    )
                recipients.append(
                    {
                        "cost": f"KES {cost:.4f}",
                        "messageId": message_id,
                        "number": number,
                        "status": STATUS_TEXT[code],
                        "statusCode": code,
                    }
                )
            else:
                # What AT puts in a rejected recipient: no id, no cost.
                recipients.append(
                    {
                        "cost": "0",
                        "messageId": "None",
                        "number": number,
                        "status": STATUS_TEXT.get(code, "Unknown"),
                        "statusCode": code,
                    }
                )
        sent = sum(1 for r in recipients if r["statusCode"] in ACCEPTED)
        message = (
            f"Sent to {sent}/{len(recipients)} Total Cost: KES {total:.4f} Message parts: {parts}"
        )
        return {"SMSMessageData": {"Message": message, "Recipients": recipients}}


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its StandIn and keeps quiet about clients hanging up."""

    daemon_threads = True  # a handler sleeping past a test's end must not block the interpreter
    allow_reuse_address = False
    # socketserver's default backlog of 5 resets connections when a worker sends with more
    # threads than that; AT's load balancers do not.
    request_queue_size = 128
    standin: StandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (tests time them out on purpose); report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the StandIn; writes answers, tolerating gone clients."""

    server: _Server

    def do_POST(self) -> None:
        """Process a POST through the StandIn."""
        self.server.standin._handle(self)

    do_GET = do_POST

    def answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
        """Write a complete response with exactly this Content-Type."""
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and closed its socket

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""
