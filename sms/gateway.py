"""Send one SMS through the africastalking SDK and classify what happened."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import africastalking
import requests
from africastalking.Service import AfricasTalkingException, validate_phone
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

Outcome = Literal["sent", "retry", "held", "failed", "uncertain"]
Timeout = tuple[float, float]

# Per-recipient statusCode values from AT's documentation. AT does not say which ones to retry;
# this is our reading of them.
SENT_CODES: Final = frozenset({100, 101, 102})  # Processed, Sent, Queued: AT accepted it
RETRY_CODES: Final = frozenset({500, 501})  # InternalServerError, GatewayError: transient
# RiskHold and InsufficientBalance: nothing is wrong with the message, but every further send
# will fail the same way until an operator acts (top-up, talk to AT).
HELD_CODES: Final = frozenset({401, 405})
# InvalidSenderId, InvalidPhoneNumber, UnsupportedNumberType, UserInBlacklist, CouldNotRoute,
# DoNotDisturbRejection, RejectedByGateway: resending the same message will not help.
FAILED_CODES: Final = frozenset({402, 403, 404, 406, 407, 409, 502})

# The body of AT's HTTP 401; the SDK turns every non-2xx into AfricasTalkingException(body),
# dropping the status code, so the text is all there is to recognise it by.
AUTH_INVALID: Final = "The supplied authentication is invalid"
# Words of a 201 with no recipients that mean "the account is blocked", not "this message is bad".
_HELD_WORDS: Final = ("InsufficientBalance", "RiskHold")
_REASON_MAX: Final = 300  # error bodies can be whole HTML pages; keep the log readable

DEFAULT_TIMEOUT: Final[Timeout] = (3.05, 9.05)
# urllib3 errors raised before a connection existed (refused, DNS failure; NameResolutionError
# subclasses NewConnectionError), so the request cannot have reached AT.
_NOT_CONNECTED: Final = (NewConnectionError, ConnectTimeoutError)


@dataclass(frozen=True)
class SendResult:
    """What one send attempt came to, and the facts an outbox needs to act on it."""

    outcome: Outcome
    message_id: str | None = None
    cost: str | None = None
    status_code: int | None = None  # AT's per-recipient statusCode, when a recipient came back
    reason: str = ""


def backoff(
    attempt: int,
    base: float = 5.0,
    cap: float = 900.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Return seconds to wait before retry number attempt (0-based): full-jitter exponential."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # Clamp the exponent: 2.0 ** 1100 overflows a float, and the cap is reached long before.
    ceiling = cap if attempt >= 64 else min(cap, base * 2.0**attempt)
    # Full jitter (uniform in [0, ceiling)) spreads a burst of failed sends so that they do not
    # come back to AT in lockstep.
    return rng() * ceiling


def _clip(text: str) -> str:
    """Return text stripped and cut to a length fit for a log line."""
    text = text.strip()
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def _reached_server(exc: requests.ConnectionError) -> bool:
    """Return False when a ConnectionError proves the request never left this machine."""
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False  # the TLS handshake or the proxy failed before any byte of the request
    # requests wraps a refused connection / DNS failure as ConnectionError(MaxRetryError(
    # reason=NewConnectionError)). Anything else (ProtocolError "Connection aborted", a reset
    # while reading) happened on an open connection, after the request may have been sent.
    cause = exc.args[0] if exc.args else None
    return not isinstance(getattr(cause, "reason", None), _NOT_CONNECTED)


def classify_response(body: Any) -> SendResult:
    """Classify what the SDK returned from a 2xx response for a single recipient."""
    if isinstance(body, bytes | str):
        # The SDK parses JSON only when Content-Type is exactly application/json; with
        # "application/json; charset=utf-8" it hands back the raw text.
        try:
            body = json.loads(body)
        except ValueError:
            return SendResult("uncertain", reason=_clip(f"unparseable response: {body!r}"))
    data = body.get("SMSMessageData") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return SendResult("uncertain", reason=_clip(f"unexpected response: {body!r}"))
    message = str(data.get("Message", ""))
    recipients = data.get("Recipients")
    if not isinstance(recipients, list):
        return SendResult("uncertain", reason=_clip(f"no Recipients list: {body!r}"))
    if not recipients:
        # e.g. {"Message": "InvalidSenderId", "Recipients": []}: a 201, yet nothing was sent.
        held = any(word in message for word in _HELD_WORDS)
        return SendResult("held" if held else "failed", reason=_clip(message or "no recipients"))
    recipient = recipients[0]
    if not isinstance(recipient, dict):
        return SendResult("uncertain", reason=_clip(f"unexpected recipient: {recipient!r}"))
    status = str(recipient.get("status", ""))
    try:
        # Whatever AT's JSON holds there: int() refusing it is the answer handled below.
        code = int(recipient.get("statusCode"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return SendResult("uncertain", reason=_clip(f"no statusCode: {recipient!r}"))
    if code in SENT_CODES:
        message_id = recipient.get("messageId")
        cost = recipient.get("cost")
        return SendResult(
            "sent",
            message_id=str(message_id) if message_id is not None else None,
            cost=str(cost) if cost is not None else None,
            status_code=code,
            reason=status,
        )
    if code in RETRY_CODES:
        return SendResult("retry", status_code=code, reason=status)
    if code in HELD_CODES:
        return SendResult("held", status_code=code, reason=status)
    if code in FAILED_CODES:
        return SendResult("failed", status_code=code, reason=status)
    # A code AT added after this was written: we cannot tell whether it went out.
    return SendResult("uncertain", status_code=code, reason=_clip(f"unknown statusCode: {status}"))


class AfricasTalkingGateway:
    """Send single SMS messages through the africastalking SDK, with an explicit timeout."""

    def __init__(
        self,
        username: str,
        api_key: str,
        sender_id: str | None = None,
        base_url: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        """Initialise the SDK and keep its SMS service; base_url points it at a stand-in."""
        connect, read = timeout  # requests reads None as "wait forever": refuse it here
        if not (connect > 0 and read > 0):
            raise ValueError(f"timeout must be two positive numbers, got {timeout!r}")
        self.username = username
        self.sender_id = sender_id
        self.timeout: Timeout = (float(connect), float(read))
        africastalking.initialize(username, api_key)
        # initialize() rebinds the module global on every call; keeping our own reference means
        # a later initialize() elsewhere (another gateway, a test) cannot redirect our sends.
        sms = africastalking.SMS
        assert sms is not None  # initialize() just set it
        if base_url is not None:
            sms._baseUrl = base_url.rstrip("/")  # the SDK appends "/messaging" to it
        self._sms = sms

    @property
    def base_url(self) -> str:
        """Return the URL prefix the SDK posts to (".../version1")."""
        return str(self._sms._baseUrl)

    def __repr__(self) -> str:
        return f"AfricasTalkingGateway(username={self.username!r}, base_url={self.base_url!r})"

    def send(self, message: str, phone: str) -> SendResult:
        """Send message to one E.164 phone number and classify the outcome; never raises on I/O."""
        if not isinstance(phone, str):
            raise TypeError("phone must be one E.164 string")
        # The SDK would raise ValueError for it too, but checking first keeps ValueError out of
        # the except clauses below (requests' JSONDecodeError is also a ValueError).
        if not validate_phone(phone):
            return SendResult("failed", reason=f"Invalid phone number: {phone}")
        try:
            # A list, never the bare string: the SDK iterates recipients. No callback: the SDK
            # then runs the request in a non-daemon thread and loses transport errors. SDK 2.0.3
            # takes timeout= and passes it to requests.post, so every call has an explicit one.
            body = self._sms.send(
                message,
                [phone],
                sender_id=self.sender_id,
                enqueue=False,
                timeout=self.timeout,
            )
        except AfricasTalkingException as exc:
            text = str(exc)
            if AUTH_INVALID in text:
                # HTTP 401: every send fails until an operator fixes the key.
                return SendResult("held", reason=_clip(text))
            # Any other non-2xx (the SDK hides the status; in practice 5xx from AT or a proxy).
            return SendResult("retry", reason=_clip(f"HTTP error: {text}"))
        except requests.ConnectTimeout as exc:
            # Subclass of both ConnectionError and Timeout: check it before either.
            return SendResult("retry", reason=_clip(f"connect timeout: {exc}"))
        except requests.ReadTimeout as exc:
            # AT has the request and may have sent the SMS; the API has no idempotency key.
            return SendResult("uncertain", reason=_clip(f"read timeout: {exc}"))
        except requests.ConnectionError as exc:
            if _reached_server(exc):
                return SendResult("uncertain", reason=_clip(f"connection lost: {exc}"))
            return SendResult("retry", reason=_clip(f"connection failed: {exc}"))
        except (requests.exceptions.ChunkedEncodingError, requests.JSONDecodeError) as exc:
            # AT answered 2xx but the body was cut or garbled: it may well have sent the SMS.
            return SendResult("uncertain", reason=_clip(f"bad response body: {exc}"))
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
        ) as exc:
            # Configuration, not AT: nothing will go out until someone fixes base_url.
            return SendResult("held", reason=_clip(f"bad gateway URL: {exc}"))
        except requests.RequestException as exc:
            return SendResult("uncertain", reason=_clip(f"{type(exc).__name__}: {exc}"))
        return classify_response(body)
