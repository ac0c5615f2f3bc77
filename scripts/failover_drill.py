"""The failover drill: writers post grants through `vision-ledger serve` while the primary is
killed and its synchronous standby promoted; the service, given both hosts in one URL with
target_session_attrs=read-write, finds the new primary by itself.

    bash scripts/failover_drill.sh [--writers 4] [--before 3] [--after 12]

Passes (exit 0) when every acknowledged write (2xx) is in the promoted database, no client saw a
500 (every refusal was a 503 with Retry-After), and writes succeeded again within --resume-bound
seconds of the primary's death. Prints the figures the README quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "scripts" / "pg_standby.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, token: str, key: str) -> tuple[int, str | None]:
    body = json.dumps({"amount": {"amount": "10.00", "currency": "KES"}, "reference": key}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, None
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, e.headers.get("Retry-After")
    except OSError:
        return 0, None  # no answer at all (the server itself never went away in this drill)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--before", type=float, default=3.0, help="seconds of writes before the kill")
    parser.add_argument("--after", type=float, default=12.0, help="seconds of writes after the kill")
    parser.add_argument("--resume-bound", type=float, default=10.0)
    args = parser.parse_args()

    from api import demo
    from migrations import upgrade
    from vision_ledger.db import Database
    from vision_ledger.models import Entry

    where = Path(tempfile.gettempdir()) / f"vision-drill.{uuid.uuid4().hex[:10]}"
    primary, standby = subprocess.run(["bash", str(PAIR), "start", str(where), "--sync"], check=True,
                                      capture_output=True, text=True).stdout.split()
    state = dict(line.split("=", 1) for line in (where / "state").read_text().split())
    p1, p2, bindir = state["PRIMARY_PORT"], state["STANDBY_PORT"], state["BIN"]
    both = (f"postgresql://postgres@/vision_test?host=127.0.0.1:{p1}&host=127.0.0.1:{p2}"
            "&target_session_attrs=read-write")
    server = None
    try:
        upgrade(primary)
        db = Database(primary)
        with db.unit_of_work() as s:
            loaded = demo.load(s)
        db.dispose()
        token = loaded.tokens["admin"][1]
        port = _free_port()
        env = {**os.environ, "VISION_DATABASE_URL": both}
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port),
                                   "--workers", "2", "--threads", "4"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        url = f"http://127.0.0.1:{port}/api/groups/{loaded.group_id}/grants"
        deadline = time.monotonic() + 60
        while _post(url, token, "warm-up")[0] != 201:
            if time.monotonic() > deadline:
                raise SystemExit("serve did not start")
            time.sleep(0.3)

        acknowledged: list[str] = []
        seen: list[tuple[float, int, str | None]] = []
        lock = threading.Lock()
        stop = threading.Event()

        def writer() -> None:
            while not stop.is_set():
                key = f"drill-{uuid.uuid4().hex}"
                status, retry_after = _post(url, token, key)
                with lock:
                    seen.append((time.monotonic(), status, retry_after))
                    if status == 201:
                        acknowledged.append(key)
                if status != 201:
                    time.sleep(float(retry_after or 0.2) / 5)  # a client honouring Retry-After, hurried

        threads = [threading.Thread(target=writer) for _ in range(args.writers)]
        for t in threads:
            t.start()
        time.sleep(args.before)
        killed = time.monotonic()
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*as_pg, f"{bindir}/pg_ctl", "-D", str(where / "primary"), "-m", "immediate",
                        "stop"], check=True, capture_output=True, cwd="/")
        subprocess.run([*as_pg, f"{bindir}/pg_ctl", "-D", str(where / "standby"), "-w", "promote"],
                       check=True, capture_output=True, cwd="/")
        promoted = time.monotonic()
        time.sleep(args.after)
        stop.set()
        for t in threads:
            t.join()

        db = Database(standby)
        with db.unit_of_work(write=False) as s:
            stored = set(s.scalars(select(Entry.memo).where(Entry.memo.in_(acknowledged))))  # the reference
        db.dispose()
        lost = [k for k in acknowledged if k not in stored]
        statuses = Counter(status for _, status, _ in seen)
        refusals = [(st, ra) for _, st, ra in seen if st != 201]
        bad = [r for r in refusals if r[0] != 503 or not r[1]]
        after = [when for when, st, _ in seen if when > killed and st == 201]
        resumed = (after[0] - killed) if after else None
        before_kill = sum(1 for when, st, _ in seen if when <= killed and st == 201)
        ok = not lost and not bad and resumed is not None and resumed <= args.resume_bound
        print(f"failover drill: {'PASSED' if ok else 'FAILED'}")
        print(f"  writers {args.writers}; requests {len(seen)}; by status {dict(sorted(statuses.items()))}")
        print(f"  acknowledged {len(acknowledged)} ({before_kill} before the kill); "
              f"all in the promoted database: {not lost} (lost {len(lost)})")
        print(f"  refusals during the switch: {len(refusals)}, every one 503 with Retry-After: {not bad}")
        if resumed is None:
            print("  no write succeeded after the kill")
        else:
            print(f"  promote took {promoted - killed:.2f} s; first acknowledged write "
                  f"{resumed:.2f} s after the kill")
        return 0 if ok else 1
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGINT)  # gunicorn's quick shutdown
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        subprocess.run(["bash", str(PAIR), "stop", str(where)], check=False)


if __name__ == "__main__":
    sys.exit(main())
