"""gunicorn's access log with every secret masked (the masking itself: `vision_ledger.obs.logs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from gunicorn.glogging import Logger as GunicornLogger

from vision_ledger.obs.logs import mask

if TYPE_CHECKING:
    # What types-gunicorn says atoms() returns (a TypedDict of the stubs only, hence the import
    # for the type checker alone).
    from gunicorn.glogging import _AtomsDict

# The atoms that may carry a secret: the request line, the path, the query, the referer.
_MASKED: Final[tuple[Literal["r", "U", "q", "f"], ...]] = ("r", "U", "q", "f")


class MaskingLogger(GunicornLogger):
    """gunicorn's logger with the request line, path and query masked in the access log."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> _AtomsDict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in _MASKED:
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = mask(value)
        return atoms
