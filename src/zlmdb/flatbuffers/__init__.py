"""``zlmdb.flatbuffers``: the FlatBuffers runtime, i.e. the PyPI ``flatbuffers`` package.

Upstream zlmdb vendored a copy here; we re-export the installed package instead (so there is
one runtime per process and ``sys.modules["flatbuffers"]`` is never replaced). The
submodules are importable under this name too (``zlmdb.flatbuffers.builder``), and
:mod:`zlmdb.flatbuffers.reflection` holds the classes generated from FlatBuffers'
reflection schema (to read ``.bfbs`` files).
"""

import importlib
import re
import sys
from typing import Optional, Tuple

import flatbuffers as _runtime
from flatbuffers import Builder, Table, util  # noqa: F401

__version__ = getattr(_runtime, "__version__", None)

# Upstream vendored the runtime from a git checkout and recorded ``git describe --tags`` here.
# The PyPI package carries no git information, so this is the release tag of its version
# (``"unknown"`` if the runtime has no ``__version__``); version() reads it at call time.
__git_version__ = f"v{__version__}" if __version__ else "unknown"

_DESCRIBE = re.compile(r"v(\d+)\.(\d+)\.(\d+)(?:-(\d+))?(?:-g([0-9a-fA-F]+))?")
_RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")

VersionTuple = Tuple[int, int, int, Optional[int], Optional[str]]


def version() -> VersionTuple:
    """Return the FlatBuffers runtime version as ``(major, minor, patch, commits, commit_hash)``.

    ``__git_version__`` is read first, in ``git describe`` form: ``"v25.9.23"`` gives
    ``(25, 9, 23, None, None)``, ``"v25.9.23-71"`` gives ``(25, 9, 23, 71, None)`` and
    ``"v25.9.23-71-g19b2300f"`` gives ``(25, 9, 23, 71, "19b2300f")``. Anything else there
    (a bare commit hash, ``"unknown"``, a ``-dirty`` suffix) falls back to the leading
    ``X.Y.Z`` of ``__version__`` with ``None, None``; ``(0, 0, 0, None, None)`` when that
    does not start with three dot-separated numbers either.

    Raises:
        nothing: malformed version strings give the fallbacks above.
    """
    described = globals().get("__git_version__")
    if isinstance(described, str):
        m = _DESCRIBE.fullmatch(described)
        if m is not None:
            commits = int(m.group(4)) if m.group(4) is not None else None
            return (int(m.group(1)), int(m.group(2)), int(m.group(3)), commits, m.group(5))
    release = globals().get("__version__")
    if isinstance(release, str):
        m = _RELEASE.match(release)
        if m is not None:
            return (int(m.group(1)), int(m.group(2)), int(m.group(3)), None, None)
    return (0, 0, 0, None, None)


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

__all__ = ["Builder", "Table", "util", "__version__", "__git_version__", "version"]
