"""The one place that imports the compiled extension: everything else uses ``ffi``/``lib`` here."""

from __future__ import annotations

try:
    from zlmdb._lmdb_cffi import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "zlmdb's LMDB extension (zlmdb._lmdb_cffi) is not built. Install the package with "
        "`pip install .` or build it in place with `python build_lmdb.py`."
    ) from exc

__all__ = ["ffi", "lib"]
