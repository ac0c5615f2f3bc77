"""What the command line's commands share: the command's database and the demo's PIN pepper.

Both `api.cli` and the doors' command modules it carries (`api.console.cli`) import it; it imports
neither, so the command line has no cycle. Imports stay light (the core's `db` and `pins` are
imported when a command runs) for the start-up time of `vision-ledger --help`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

DEMO_PEPPER_FILE = "demo_pin_pepper"


def url(args: argparse.Namespace) -> str:
    """--database, else VISION_DATABASE_URL, else the embedded SQLite file."""
    from vision_ledger.db import embedded_sqlite_url  # noqa: PLC0415 - CLI start-up time

    return args.database or args.settings.database_url or embedded_sqlite_url()


def database(args: argparse.Namespace) -> Any:
    """The command's database (one per command; `main` disposes of its engine at the end)."""
    from vision_ledger import currencies  # noqa: PLC0415 - CLI start-up time
    from vision_ledger.db import Database  # noqa: PLC0415 - CLI start-up time

    if getattr(args, "_db", None) is None:
        args._db = Database(url(args), replica_url=args.settings.database_replica_url)
        currencies.install(args._db)  # amounts read and written with the installation's digits
    return args._db


def demo_pepper(args: argparse.Namespace) -> None:
    """The demo's PIN pepper: VISION_PIN_PEPPER when set, else one generated once and kept in
    ./instance (beside the demo database, whose PIN hashes need the same pepper next time)."""
    from vision_ledger import pins  # noqa: PLC0415 - CLI start-up time

    if args.settings.pin_pepper:
        return
    path = Path("instance") / DEMO_PEPPER_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(pins.generate_pepper())
        print(f"generated a demo PIN pepper in {path} (set {pins.PEPPER_ENV} in production)")
    args.settings = replace(args.settings, pin_pepper=path.read_text().strip())
    pins.configure(args.settings.pin_pepper)
