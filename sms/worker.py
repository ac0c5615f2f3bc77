"""The SMS worker: drains the outbox through AT with a small thread pool.

`python -m sms.worker` (or `vision-ledger worker`) runs until SIGTERM/SIGINT; `--once` makes one
pass (`vision-ledger sms send-pending`): everything due now, retries that fall due meanwhile
included, then exit.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Protocol

from sms import heartbeat, outbox, schedule
from sms.gateway import SendResult
from sms.settings import Settings, gateway_of, worker_name
from vision_ledger import currencies, telemetry, verification_runs
from vision_ledger.db import Database
from vision_ledger.obs import logs
from vision_ledger.settings import Settings as InstallationSettings
from vision_ledger.settings import SettingsError

log = logging.getLogger("sms.worker")


class Sender(Protocol):
    def send(self, message: str, phone: str) -> SendResult: ...


class WorkerAlreadyRunning(RuntimeError):
    """A second worker on a SQLite database (which allows one)."""


@contextmanager
def single_worker(db: Database) -> Iterator[bool]:
    """On SQLite hold an exclusive lock file next to the database while the worker runs.

    Yields True when this process may treat every 'sending' row as abandoned (it holds the lock,
    so no other worker lives). The kernel drops a flock when its process dies, even by SIGKILL, so
    a killed worker never leaves a stale lock behind. PostgreSQL needs no lock: rows are claimed
    with SKIP LOCKED. Raises WorkerAlreadyRunning.
    """
    path = db.lock_path(".sms-worker.lock")
    if path is None:
        yield False
        return
    handle = path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkerAlreadyRunning(
                f"another SMS worker is running on this SQLite database (lock {path}); "
                "SQLite allows one worker, PostgreSQL any number"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{worker_name()}\n")
        handle.flush()
        yield True
    finally:
        handle.close()  # closing the file releases the lock


class Worker:
    """Claims due rows, sends each on a pool thread, records the outcome; see sms/__init__.py."""

    def __init__(self, db: Database, gateway: Sender, settings: Settings | None = None,
                 name: str | None = None) -> None:
        self.db = db
        self.gateway = gateway
        self.settings = settings or Settings()
        self.name = name or worker_name()
        self.stop = threading.Event()
        self.stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._last_beat = 0.0
        self._verifying: threading.Thread | None = None

    def run(self, *, once: bool = False) -> Counter[str]:
        """Send until stopped (or, once=True, until nothing is due); return the outcome counts."""
        with single_worker(self.db) as sole:
            self.stats["reclaimed"] += outbox.reclaim(self.db, self.name, self.settings,
                                                      all_sending=sole)
            self._beat()
            try:
                self._loop(once=once, sole=sole)
            finally:
                self._beat(stopped=True)
                if self._verifying is not None:
                    self._verifying.join()
        return self.stats

    def _beat(self, *, stopped: bool = False) -> None:
        """Write the heartbeat; a database that is away for a moment only delays it."""
        self._last_beat = time.monotonic()
        try:
            heartbeat.beat(self.db, self.name, stopped=stopped)
        except Exception:
            log.warning("could not write the heartbeat of worker %s", self.name, exc_info=True)

    def _loop(self, *, once: bool, sole: bool) -> None:
        s = self.settings
        window = 2 * s.concurrency  # claimed ahead so that a finished send is replaced at once
        in_flight: set[Future[None]] = set()
        last_reclaim = last_jobs = time.monotonic()
        if not once:
            self._jobs()
        with ThreadPoolExecutor(s.concurrency, thread_name_prefix="sms-send") as pool:
            while not self.stop.is_set():
                now = time.monotonic()
                if not sole and now - last_reclaim > s.stale_after / 2:
                    self.stats["reclaimed"] += outbox.reclaim(self.db, self.name, s)
                    last_reclaim = now
                if not once and now - last_jobs > s.jobs_every:
                    self._jobs()
                    last_jobs = now
                if now - self._last_beat > s.heartbeat_every:
                    self._beat()
                claimed = []
                if len(in_flight) < window:
                    claimed = outbox.claim(self.db, self.name, window - len(in_flight), s)
                for item in claimed:
                    in_flight.add(pool.submit(self._send, item))
                if not in_flight:
                    if once:
                        break
                    self.stop.wait(s.poll)
                    continue
                done, in_flight = wait(in_flight, timeout=s.poll, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.exception() is not None:
                        log.error("send task failed", exc_info=future.exception())
            wait(in_flight)

    def _send(self, item: outbox.Claimed) -> None:
        result = self.gateway.send(item.text, item.phone)
        telemetry.sms_send(result.outcome, result.status_code)
        for attempt in range(5):
            try:
                status = outbox.record(self.db, item, result, self.name, self.settings)
                break
            except Exception:  # the database is busy or gone for a moment: the row stays claimed
                if attempt == 4:
                    raise
                time.sleep(0.2 * 2**attempt)
        with self._lock:
            self.stats[result.outcome] += 1
            self.stats[f"now_{status}"] += 1

    def _jobs(self) -> None:
        try:
            self.stats["scheduled"] += schedule.run_jobs(self.db)
        except Exception:
            log.exception("reminder/monthly statement job failed; the next run catches up")
        try:
            if (self._verifying is None or not self._verifying.is_alive()) and \
                    schedule.claim_nightly_verification(self.db, self.settings.verify_hour):
                self._verifying = threading.Thread(target=self._verify, name="nightly-verify", daemon=True)
                self._verifying.start()
        except Exception:
            log.exception("could not start the nightly verification; the next job run tries again")

    def _verify(self) -> None:
        """The nightly `verify --all`, on a thread of its own so that sending goes on meanwhile."""
        try:
            kept = verification_runs.run(self.db, trigger="schedule")
        except Exception:
            log.exception("nightly verification failed to run")
            schedule.release_nightly_verification(self.db)
            return
        failed = sum(len(k.report.failures) for k in kept)
        self.stats["verified_programmes"] += len(kept)
        if failed:
            log.error("nightly verification: %d group(s) FAILED; see GET /api/programmes/<id>/verify", failed)
        else:
            log.info("nightly verification: %d programme(s) verified, all books hold", len(kept))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m sms.worker [--once]`: settings read from the environment, once."""
    parser = argparse.ArgumentParser(prog="python -m sms.worker")
    parser.add_argument("--once", action="store_true", help="one pass: send what is due, then exit")
    args = parser.parse_args(argv)
    try:
        settings = InstallationSettings.from_env(os.environ)
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    return run(settings, once=args.once)


def run(settings: InstallationSettings, *, once: bool, url: str | None = None) -> int:
    """Build database (`url`, else VISION_DATABASE_URL, else the embedded default), gateway and
    the worker's settings from the installation's settings, and run a worker."""
    logs.install()
    logs.remember_secret(*settings.secrets())
    logs.configure(settings.log_level, settings.log_format)
    db = Database(url or settings.database_url, replica_url=settings.database_replica_url)
    currencies.install(db)  # texts render amounts with the installation's digits
    worker = Worker(db, gateway_of(settings), Settings.of(settings))
    if settings.worker_metrics_port:
        # prometheus_client is imported only by a worker that exports metrics.
        from vision_ledger.obs.metrics import start_exporter  # noqa: PLC0415

        start_exporter(db, settings.worker_metrics_port, settings.worker_metrics_addr,
                       gauges=[heartbeat.HEARTBEAT_GAUGE])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop.set())
    try:
        stats = worker.run(once=once)
    except WorkerAlreadyRunning as exc:
        log.error("%s", exc)
        return 3
    log.info("worker %s done: %s", worker.name, dict(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
