"""zlmdb: LMDB for Python through cffi.

Three APIs over one LMDB binding: :mod:`zlmdb.lmdb` (py-lmdb compatible), the
object-relational layer exported here (upstream zlmdb compatible: :class:`Database`,
:class:`Schema`, :func:`table`, the ``Map*`` tables) and :mod:`zlmdb.store` (a buffered
object store). The ORM lives in :mod:`zlmdb.orm`.

The ORM names are loaded on first use (PEP 562), so ``import zlmdb.lmdb`` stays as light
as the binding itself; ``import zlmdb`` followed by any ORM name behaves exactly as if
everything had been imported eagerly.
"""

import importlib
from typing import Any, List

from zlmdb._version import __version__ as __version__


def _load_surface() -> Any:
    # import_module returns the module from sys.modules, also while it is being imported.
    return importlib.import_module("zlmdb._surface")


def __getattr__(name: str) -> Any:
    """Load the ORM surface on first use of one of its names.

    Raises:
        AttributeError: ``name`` is not a public name of zlmdb.
    """
    if name.startswith("_") and name != "__all__":
        raise AttributeError(f"module 'zlmdb' has no attribute {name!r}")
    surface = _load_surface()
    try:
        value = getattr(surface, name)
    except AttributeError:
        raise AttributeError(f"module 'zlmdb' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_load_surface().__all__))
