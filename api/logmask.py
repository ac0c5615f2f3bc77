"""gunicorn's access log with every secret masked (the masking itself: `vision_ledger.obs.logs`)."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from vision_ledger.obs.logs import mask


class MaskingLogger(GunicornLogger):
    """gunicorn's logger with the request line, path and query masked in the access log."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask(atoms[key])
        return atoms
