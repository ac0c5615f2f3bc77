"""`/metrics` in Prometheus' text format (the figures themselves: `vision_ledger.obs.metrics`).

Where it is served, and to whom: `/metrics` exists only with `VISION_METRICS=on`, and answers only
a peer whose socket address is in `VISION_METRICS_ALLOW` (CIDRs; default loopback) and whose
request was not relayed by a proxy (no `X-Forwarded-For` / `Forwarded` header); anyone else gets
the same 404 as any unknown path. One port rather than a second listener: under gunicorn every
worker process writes its samples to the multiprocess directory `serve` prepares, and any worker
can answer a scrape by reading them all, so nothing but the app has to run. A reverse proxy on the
same host connects from loopback, so its relayed requests are refused by the header test: keep
`/metrics` out of the proxy's locations too (README, Production).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vision_ledger.obs import Gauge
from vision_ledger.obs.metrics import REQUESTS, USSD_HOPS, scrape_registry, subscribe
from vision_ledger.settings import settings_of

from .session import database


def install(app: Flask, gauges: Sequence[Gauge] = ()) -> None:
    """With VISION_METRICS=on: time every request and serve `/metrics` to the allow-list, with
    the `gauges` the other doors add to every scrape."""
    settings = settings_of(app.config)
    if not settings.metrics:
        return
    subscribe()
    allow = [ipaddress.ip_network(part, strict=False) for part in settings.metrics_allow]

    @app.before_request
    def _note_route() -> None:
        rule = request.url_rule
        request.environ[_ROUTE] = rule.rule if rule is not None else "(unmatched)"

    @app.after_request
    def _note_ussd_reply(response: Response) -> Response:
        if request.blueprint == "ussd" and not response.direct_passthrough:
            reply = response.get_data()[:3].decode("ascii", "replace")
            request.environ[_USSD_REPLY] = reply if reply in ("CON", "END") else "other"
        return response

    # Wrapping wsgi_app is Flask's documented way to add middleware; mypy refuses any method assignment.
    app.wsgi_app = _Timed(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/metrics", endpoint="metrics")
    def metrics() -> Response:
        if not _allowed(allow):
            abort(404)
        registry = scrape_registry(database(), gauges)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


_ROUTE = "vision.metrics.route"
_USSD_REPLY = "vision.metrics.ussd_reply"


class _Timed:
    """WSGI middleware: the whole request, the unit of work's commit included (it happens in an
    after_request hook), until the response is handed to the server."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        status: list[str] = []

        def _start(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, exc_info)

        result = self.wsgi_app(environ, _start)
        route = environ.get(_ROUTE, "(unmatched)")
        if route != "/metrics":
            seconds = time.perf_counter() - started
            REQUESTS.labels(route=route, method=environ.get("REQUEST_METHOD", "?"),
                            status=status[0] if status else "?").observe(seconds)
            reply = environ.get(_USSD_REPLY)
            if reply is not None:
                USSD_HOPS.labels(route=route, reply=reply).observe(seconds)
        return result


def _allowed(allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False  # relayed by a proxy: the peer address is the proxy's, not the caller's
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in net for net in allow)
