"""Run the app under gunicorn, the production WSGI server, through its Python API."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from vision_ledger.obs import MULTIPROC_ENV, logs
from vision_ledger.settings import Settings

from .app import create_app

# prometheus_client picks its storage when it is first imported: this module must not import it,
# so that `serve` can set the directory before anything does (vision_ledger.obs.metrics imports it).

def prepare_multiprocess_dir() -> Path:
    """Before gunicorn starts: an empty directory for the workers' samples, in the environment the
    workers inherit. An operator's PROMETHEUS_MULTIPROC_DIR is used (its old *.db files removed:
    counters start again with the server); otherwise a fresh temporary directory."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="vision-metrics."))
        os.environ[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path) -> None:
    """Remove the directory if `prepare_multiprocess_dir` made it (never an operator's)."""
    if path.name.startswith("vision-metrics."):
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(_server: Any, worker: Any) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges stop counting."""
    from prometheus_client import multiprocess  # noqa: PLC0415 (see the comment at the top)

    multiprocess.mark_process_dead(worker.pid)


class LedgerServer(BaseApplication):
    """gunicorn with our settings; each worker builds its own app (and database engine)."""

    def __init__(self, options: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        self.options = options
        self.app_config = config or {}
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        logs.install()
        # The application's own lines (one per request, USSD hop, SMS send...) as JSON on stderr;
        # gunicorn's access log stays its own (masked) line beside them.
        settings = self.app_config["SETTINGS"]
        logs.configure(settings.log_level, settings.log_format)
        return create_app(self.app_config)


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 2,
          threads: int = 4, **options: Any) -> None:
    """Serve the app under gunicorn with these settings (each worker builds its app from them)."""
    LedgerServer({"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                  "worker_class": "gthread", "accesslog": "-", "preload_app": False,
                  "logger_class": "api.logmask.MaskingLogger", **options},
                 {"SETTINGS": settings}).run()
