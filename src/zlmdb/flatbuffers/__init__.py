"""``zlmdb.flatbuffers``: the FlatBuffers runtime, i.e. the PyPI ``flatbuffers`` package.

Upstream zlmdb vendored a copy here; we re-export the installed package instead (so there is
one runtime per process and ``sys.modules["flatbuffers"]`` is never replaced). The
submodules are importable under this name too (``zlmdb.flatbuffers.builder``), and
:mod:`zlmdb.flatbuffers.reflection` holds the classes generated from FlatBuffers'
reflection schema (to read ``.bfbs`` files).
"""

import importlib
import sys

import flatbuffers as _runtime
from flatbuffers import Builder, Table, util  # noqa: F401

__version__ = getattr(_runtime, "__version__", None)

_SUBMODULES = (
    "builder",
    "compat",
    "encode",
    "number_types",
    "packer",
    "table",
    "util",
    "flexbuffers",
)

for _sub in _SUBMODULES:
    try:
        _module = importlib.import_module(f"flatbuffers.{_sub}")
    except ImportError:  # pragma: no cover - older runtimes lack flexbuffers
        continue
    globals()[_sub] = _module
    sys.modules.setdefault(f"{__name__}.{_sub}", _module)
del _sub, _module

__all__ = ["Builder", "Table", "util", "__version__"]
