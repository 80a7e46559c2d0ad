"""The one place that imports the compiled extension: everything else uses ``ffi``/``lib`` here."""

from __future__ import annotations

import platform

try:
    from zlmdb._lmdb_cffi import ffi, lib
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "zlmdb's LMDB extension (zlmdb._lmdb_cffi) is not built. Install the package with "
        "`pip install .` or build it in place with `python build_lmdb.py`."
    ) from exc

#: On PyPy an object with ``__del__`` costs ~0.5 µs to allocate and collect, a cdata with a C
#: destructor (``ffi.gc``) less; on CPython ``__del__`` (run at once by refcounting) is the
#: cheaper. Transaction and Cursor own their C struct the cheaper way for the interpreter.
GC_OWNS = platform.python_implementation() == "PyPy"

__all__ = ["GC_OWNS", "ffi", "lib"]
