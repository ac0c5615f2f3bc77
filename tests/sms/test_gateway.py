"""AfricasTalkingGateway drives the real africastalking SDK against the loopback stand-in."""

from __future__ import annotations

import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import africastalking
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

from sms import gateway as gw
from sms.gateway import AfricasTalkingGateway, SendResult, backoff, classify_response
from tests.sms.standin import AUTH_INVALID, StandIn

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

PHONE = "+254711000111"
OTHER = "+254722000222"
TIMEOUT = (0.3, 0.3)  # small, so the slow-answer tests stay fast
USERNAME = "vslaledger"  # not "sandbox": no WhatsApp warning, production-shaped base URL


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep requests off any proxy from the environment: these tests talk to 127.0.0.1 only."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def gateway(at_standin: StandIn) -> AfricasTalkingGateway:
    """A gateway with the stand-in's key, pointed at the stand-in."""
    return AfricasTalkingGateway(
        USERNAME, at_standin.api_key, base_url=at_standin.base_url, timeout=TIMEOUT
    )


@pytest.fixture
def timeouts_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Spy on requests.post (which the SDK calls) and collect the timeout of every call."""
    seen: list[Any] = []
    real_post = requests.post

    def spy(*args: Any, **kwargs: Any) -> requests.Response:
        seen.append(kwargs.get("timeout"))
        return real_post(*args, **kwargs)

    monkeypatch.setattr(requests, "post", spy)
    yield seen


@pytest.fixture
def refused_port() -> Iterator[int]:
    """Yield a loopback port that is bound but not listening, so connecting is refused."""
    # Held for the whole test, so no other process can start listening on it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- success and the shape of the request -------------------------------------------------


def test_success_keeps_message_id_and_cost(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    result = gateway.send("Umeweka akiba ya TSh 2,000.", PHONE)

    assert result.outcome == "sent"
    assert result.status_code == 101
    assert result.cost == "KES 0.8000"
    assert result.message_id is not None
    assert re.fullmatch(r"ATXid_[0-9a-f]{32}", result.message_id)
    [delivered] = at_standin.delivered
    assert (delivered.number, delivered.text) == (PHONE, "Umeweka akiba ya TSh 2,000.")
    assert delivered.message_id == result.message_id


def test_request_carries_the_fields_and_headers_at_expects(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    gateway.send("Hello", PHONE)

    [request] = at_standin.received
    assert (request.method, request.path) == ("POST", "/version1/messaging")
    assert request.headers["apiKey"] == at_standin.api_key
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    # One recipient, sent as a list: a bare string would be iterated character by character.
    assert request.form == {
        "username": USERNAME,
        "to": PHONE,
        "message": "Hello",
        "bulkSMSMode": "1",
    }


def test_sender_id_goes_in_from(at_standin: StandIn) -> None:
    gateway = AfricasTalkingGateway(
        USERNAME, at_standin.api_key, sender_id="VISION", base_url=at_standin.base_url,
        timeout=TIMEOUT,
    )
    assert gateway.send("Hello", PHONE).outcome == "sent"
    [request] = at_standin.received
    assert request.form["from"] == "VISION"
    assert "enqueue" not in request.form
    assert at_standin.delivered[0].sender_id == "VISION"


def test_every_call_carries_the_explicit_timeout(
    gateway: AfricasTalkingGateway, timeouts_seen: list[Any]
) -> None:
    gateway.send("one", PHONE)
    gateway.send("two", OTHER)
    assert timeouts_seen == [TIMEOUT, TIMEOUT]


def test_default_timeout_is_the_sdk_default(at_standin: StandIn) -> None:
    gateway = AfricasTalkingGateway(USERNAME, "k", base_url=at_standin.base_url)
    assert gateway.timeout == (3.05, 9.05)


@pytest.mark.parametrize("timeout", [(0, 1), (1, 0), (-1, 1)])
def test_timeout_must_be_positive(timeout: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="timeout"):
        AfricasTalkingGateway(USERNAME, "k", timeout=timeout)


def test_unicode_text_arrives_intact(gateway: AfricasTalkingGateway, at_standin: StandIn) -> None:
    text = "تم استلام مساهمتك 😀 €"
    assert gateway.send(text, PHONE).outcome == "sent"
    assert at_standin.delivered[0].text == text


def test_cost_follows_parts(gateway: AfricasTalkingGateway) -> None:
    assert gateway.send("a" * 161, PHONE).cost == "KES 1.6000"


def test_base_url_trailing_slash_is_tolerated(at_standin: StandIn) -> None:
    gateway = AfricasTalkingGateway(
        USERNAME, at_standin.api_key, base_url=at_standin.base_url + "/", timeout=TIMEOUT
    )
    assert gateway.send("Hello", PHONE).outcome == "sent"


def test_gateway_keeps_its_service_across_later_initialize(at_standin: StandIn) -> None:
    gateway = AfricasTalkingGateway(
        USERNAME, at_standin.api_key, base_url=at_standin.base_url, timeout=TIMEOUT
    )
    africastalking.initialize("someoneelse", "other-key")  # rebinds africastalking.SMS
    assert gateway.send("Hello", PHONE).outcome == "sent"
    assert at_standin.received[0].form["username"] == USERNAME


def test_repr_does_not_show_the_key(at_standin: StandIn) -> None:
    gateway = AfricasTalkingGateway(USERNAME, "secret-key", base_url=at_standin.base_url)
    assert "secret-key" not in repr(gateway)


# -- recipients that are not numbers ------------------------------------------------------


def test_invalid_phone_fails_without_a_request(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    result = gateway.send("Hello", "0711000111")
    assert result.outcome == "failed"
    assert "Invalid phone number" in result.reason
    assert at_standin.received == []


def test_a_list_of_phones_is_refused(gateway: AfricasTalkingGateway) -> None:
    with pytest.raises(TypeError):
        gateway.send("Hello", [PHONE])  # type: ignore[arg-type]


# -- authentication and sender id ---------------------------------------------------------


def test_bad_api_key_is_held(at_standin: StandIn) -> None:
    gateway = AfricasTalkingGateway(
        USERNAME, "wrong-key", base_url=at_standin.base_url, timeout=TIMEOUT
    )
    result = gateway.send("Hello", PHONE)
    assert result == SendResult("held", reason=AUTH_INVALID)
    assert at_standin.delivered == []


def test_invalid_sender_id_is_failed(at_standin: StandIn) -> None:
    at_standin.invalid_sender_ids.add("NOTMINE")
    gateway = AfricasTalkingGateway(
        USERNAME, at_standin.api_key, sender_id="NOTMINE", base_url=at_standin.base_url,
        timeout=TIMEOUT,
    )
    result = gateway.send("Hello", PHONE)
    assert result == SendResult("failed", reason="InvalidSenderId")
    assert at_standin.delivered == []


# -- per-recipient status codes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome", "status"),
    [
        (100, "sent", "Processed"),
        (102, "sent", "Queued"),
        (500, "retry", "InternalServerError"),
        (501, "retry", "GatewayError"),
        (401, "held", "RiskHold"),
        (405, "held", "InsufficientBalance"),
        (402, "failed", "InvalidSenderId"),
        (403, "failed", "InvalidPhoneNumber"),
        (404, "failed", "UnsupportedNumberType"),
        (406, "failed", "UserInBlacklist"),
        (407, "failed", "CouldNotRoute"),
        (409, "failed", "DoNotDisturbRejection"),
        (502, "failed", "RejectedByGateway"),
    ],
)
def test_recipient_status_codes(
    gateway: AfricasTalkingGateway, at_standin: StandIn, code: int, outcome: str, status: str
) -> None:
    at_standin.forced_status[PHONE] = code
    result = gateway.send("Hello", PHONE)
    assert (result.outcome, result.status_code, result.reason) == (outcome, code, status)
    if outcome == "sent":
        assert result.message_id is not None
        assert result.message_id.startswith("ATXid_")
    else:
        # AT puts messageId "None" and cost "0" in a rejected recipient: do not keep them.
        assert (result.message_id, result.cost) == (None, None)


def test_forced_status_is_per_number(gateway: AfricasTalkingGateway, at_standin: StandIn) -> None:
    at_standin.forced_status[OTHER] = 403
    assert gateway.send("Hello", PHONE).outcome == "sent"
    assert gateway.send("Hello", OTHER).outcome == "failed"
    assert [d.number for d in at_standin.delivered] == [PHONE]


# -- HTTP errors and odd bodies -----------------------------------------------------------


def test_http_500_is_retry_and_the_next_send_goes_through(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    at_standin.fail_next()
    first = gateway.send("Hello", PHONE)
    assert first.outcome == "retry"
    assert "Internal Server Error" in first.reason
    assert at_standin.delivered == []
    assert gateway.send("Hello", PHONE).outcome == "sent"


def test_html_error_page_is_retry_with_a_short_reason(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    page = "<html>" + "x" * 5000 + "</html>"
    at_standin.fail_next(status=502, body=page, content_type="text/html")
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "retry"
    assert len(result.reason) <= 300


def test_json_with_charset_is_parsed_from_the_raw_string(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    # The SDK hands back the raw text unless Content-Type is exactly application/json.
    at_standin.content_type = "application/json; charset=utf-8"
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "sent"
    assert result.message_id == at_standin.delivered[0].message_id


def test_unparseable_2xx_is_uncertain(gateway: AfricasTalkingGateway, at_standin: StandIn) -> None:
    at_standin.fail_next(status=200, body="<html>OK</html>", content_type="text/html")
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "uncertain"
    assert "unparseable" in result.reason


def test_broken_json_with_json_content_type_is_uncertain(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    at_standin.fail_next(status=201, body='{"SMSMessageData": ', content_type="application/json")
    assert gateway.send("Hello", PHONE).outcome == "uncertain"


# -- transport failures -------------------------------------------------------------------


def test_read_timeout_is_uncertain_and_the_message_did_go_out(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    at_standin.delay = 2.0  # well past the 0.3 s read timeout; stop() wakes the handler
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "uncertain"
    assert "read timeout" in result.reason
    assert at_standin.deliveries_of(PHONE, "Hello") == 1


def test_connection_dropped_after_delivery_is_uncertain(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    at_standin.drop_next()
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "uncertain"
    assert at_standin.deliveries_of(PHONE, "Hello") == 1


def test_connection_refused_is_retry(refused_port: int) -> None:
    gateway = AfricasTalkingGateway(
        USERNAME, "k", base_url=f"http://127.0.0.1:{refused_port}/version1", timeout=TIMEOUT
    )
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "retry"
    assert "refused" in result.reason.lower()


def test_stopped_standin_refuses() -> None:
    with StandIn() as other:
        gateway = AfricasTalkingGateway(
            USERNAME, other.api_key, base_url=other.base_url, timeout=TIMEOUT
        )
        assert gateway.send("Hello", PHONE).outcome == "sent"
    assert gateway.send("Hello", PHONE).outcome == "retry"


def test_stop_wakes_a_sleeping_handler_and_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    with StandIn() as standin:
        standin.delay = 30.0
        gateway = AfricasTalkingGateway(
            USERNAME, standin.api_key, base_url=standin.base_url, timeout=TIMEOUT
        )
        assert gateway.send("Hello", PHONE).outcome == "uncertain"
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    # A handler may still be closing its socket right after stop(); it must end promptly.
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=1.0)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []


def _dns_failure() -> requests.ConnectionError:
    """Return the ConnectionError requests raises when the host name does not resolve."""
    conn: Any = None
    reason = NameResolutionError("api.africastalking.com", conn, OSError())
    return requests.ConnectionError(MaxRetryError(conn, "/version1/messaging", reason))


def _raising(exc: BaseException) -> Callable[..., Any]:
    """Return a stand-in for requests.post that raises exc."""

    def post(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return post


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        # A connect timeout needs an address that drops SYNs, i.e. the outside network.
        (requests.ConnectTimeout("connect timed out"), "retry"),
        (requests.exceptions.SSLError("handshake failed"), "retry"),
        (requests.exceptions.ProxyError("proxy down"), "retry"),
        (_dns_failure(), "retry"),
        (requests.ConnectionError(ProtocolError("Connection aborted.", OSError())), "uncertain"),
        (requests.exceptions.ChunkedEncodingError("body cut"), "uncertain"),
        (requests.exceptions.TooManyRedirects("loop"), "uncertain"),
    ],
)
def test_transport_errors_hard_to_make_on_loopback(
    gateway: AfricasTalkingGateway,
    monkeypatch: pytest.MonkeyPatch,
    exc: Exception,
    outcome: str,
) -> None:
    monkeypatch.setattr(requests, "post", _raising(exc))
    assert gateway.send("Hello", PHONE).outcome == outcome


def test_malformed_base_url_is_held() -> None:
    gateway = AfricasTalkingGateway(USERNAME, "k", base_url="127.0.0.1:1/version1")
    result = gateway.send("Hello", PHONE)
    assert result.outcome == "held"
    assert "URL" in result.reason


# -- many sends through a flaky AT --------------------------------------------------------


def test_chaos_naive_resend_of_uncertain_makes_duplicates(
    gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    # Resending on "uncertain" as if it were "retry" delivers some messages twice: this is
    # what the outcome exists to prevent.
    at_standin.chaos(error_rate=0.2, timeout_rate=0.2, sleep=1.0, seed=7)
    uncertain = 0
    texts = [f"Receipt {i}" for i in range(12)]
    for text in texts:
        for _attempt in range(20):
            result = gateway.send(text, PHONE)
            if result.outcome == "sent":
                break
            assert result.outcome in {"retry", "uncertain"}
            uncertain += result.outcome == "uncertain"
        else:
            pytest.fail(f"{text} never went out")
    counts = [at_standin.deliveries_of(PHONE, t) for t in texts]
    assert all(c >= 1 for c in counts)
    assert sum(counts) - len(texts) == uncertain
    assert uncertain > 0, "seed 7 should give at least one slow answer"


def test_chaos_is_reproducible_with_a_seed() -> None:
    def run() -> list[str]:
        with StandIn() as standin:
            standin.chaos(error_rate=0.5, timeout_rate=0.0, sleep=0.0, seed=3)
            gateway = AfricasTalkingGateway(
                USERNAME, standin.api_key, base_url=standin.base_url, timeout=TIMEOUT
            )
            return [gateway.send("x", PHONE).outcome for _ in range(10)]

    first = run()
    assert first == run()
    assert {"sent", "retry"} == set(first)


# -- the sandbox and its WhatsApp warning -------------------------------------------------


def test_sandbox_username_uses_the_sandbox_url_and_its_warning_is_filtered() -> None:
    # pytest runs with -W error; pyproject ignores this warning by message. If the filter did
    # not match, constructing the gateway would raise here.
    gateway = AfricasTalkingGateway("sandbox", "k")
    assert gateway.base_url == "https://api.sandbox.africastalking.com/version1"


def test_the_sdk_warning_matches_the_pyproject_filter() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        africastalking.initialize("sandbox", "k")
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert messages
    assert all(re.match(".*[Ww]hats[Aa]pp.*", m) for m in messages)


def test_production_username_uses_the_production_url() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no warning at all
        gateway = AfricasTalkingGateway(USERNAME, "k")
    assert gateway.base_url == "https://api.africastalking.com/version1"


# -- classify_response on bodies the stand-in does not make -------------------------------


def _body(*recipients: Any, message: str = "Sent") -> dict[str, Any]:
    return {"SMSMessageData": {"Message": message, "Recipients": list(recipients)}}


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (None, "uncertain"),
        ([], "uncertain"),
        ({}, "uncertain"),
        ({"SMSMessageData": "x"}, "uncertain"),
        ({"SMSMessageData": {"Message": "x"}}, "uncertain"),
        (_body("oops"), "uncertain"),
        (_body({"status": "Success"}), "uncertain"),
        (_body({"statusCode": 999, "status": "New"}), "uncertain"),
        (_body({"statusCode": "101", "messageId": "ATXid_1", "cost": "KES 0.8"}), "sent"),
        (_body(message="InsufficientBalance"), "held"),
        (_body(message="InvalidSenderId"), "failed"),
        (_body(message=""), "failed"),
        ('{"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}', "failed"),
        (b'{"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}', "failed"),
        ("", "uncertain"),
    ],
)
def test_classify_response(body: Any, outcome: str) -> None:
    assert classify_response(body).outcome == outcome


def test_sent_without_id_or_cost_keeps_none() -> None:
    assert classify_response(_body({"statusCode": 101})) == SendResult(
        "sent", status_code=101
    )


def test_code_sets_are_disjoint() -> None:
    sets = [gw.SENT_CODES, gw.RETRY_CODES, gw.HELD_CODES, gw.FAILED_CODES]
    assert sum(len(s) for s in sets) == len(set().union(*sets))


# -- backoff ------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    top = [backoff(n, rng=lambda: 1.0) for n in range(10)]
    assert top == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 900.0, 900.0]


def test_backoff_full_jitter_reaches_zero() -> None:
    assert backoff(5, rng=lambda: 0.0) == 0.0
    assert backoff(3, rng=lambda: 0.5) == 20.0


def test_backoff_survives_huge_attempts() -> None:
    assert backoff(10_000, rng=lambda: 1.0) == 900.0


def test_backoff_rejects_negative_attempts() -> None:
    with pytest.raises(ValueError, match="attempt"):
        backoff(-1)


@given(
    st.integers(min_value=0, max_value=2000),
    st.floats(min_value=0.01, max_value=60),
    st.floats(min_value=0.01, max_value=86_400),
    st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_is_within_bounds(attempt: int, base: float, cap: float, u: float) -> None:
    delay = backoff(attempt, base=base, cap=cap, rng=lambda: u)
    assert 0 <= delay <= min(cap, base * 2.0 ** min(attempt, 64))
    assert delay <= backoff(attempt + 1, base=base, cap=cap, rng=lambda: u)


def test_backoff_uses_random_by_default() -> None:
    delays = {backoff(4) for _ in range(20)}
    assert len(delays) > 1
    assert all(0 <= d < 80 for d in delays)
