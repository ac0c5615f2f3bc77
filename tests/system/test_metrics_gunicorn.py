"""`vision-ledger serve` with VISION_METRICS=on: two gunicorn workers count into the multiprocess
directory `serve` prepares, and a scrape answered by either worker reports the sum of both."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.conftest import fresh_database_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_serve_sums_every_gunicorn_workers_samples(tmp_path_factory):
    url = fresh_database_url(tmp_path_factory, "metrics")
    port = _free_port()
    env = {**os.environ, "VISION_METRICS": "on", "VISION_DATABASE_URL": url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port),
                               "--workers", "2", "--threads", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        for _ in range(40):
            assert _get(f"{base}/readyz")[0] == 200
        for _ in range(6):  # scrape several times: each worker must answer with the same sum
            status, text = _get(f"{base}/metrics")
            assert status == 200
            found = re.search(r'vision_http_request_duration_seconds_count\{method="GET",'
                              r'route="/readyz",status="200"\} (\S+)', text)
            assert found is not None and float(found.group(1)) == 40.0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server.stderr.close()
