"""Run the app under gunicorn, the production WSGI server, through its Python API."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


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
        from . import create_app, logmask

        logmask.install()
        return create_app(self.app_config)


def serve(url: str, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 2, threads: int = 4,
          **options: Any) -> None:
    LedgerServer({"bind": f"{host}:{port}", "workers": workers, "threads": threads,
                  "worker_class": "gthread", "accesslog": "-", "preload_app": False,
                  "logger_class": "api.logmask.MaskingLogger", **options},
                 {"VISION_DATABASE_URL": url}).run()
