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


#: upstream's private submodules that its users reach as attributes after a bare
#: ``import zlmdb`` (upstream's ``__init__`` imports them all): ``zlmdb._types.dt_to_bytes``.
_SUBMODULES = frozenset(("_database", "_errors", "_pmap", "_schema", "_transaction", "_types"))


def __getattr__(name: str) -> Any:
    """Load the ORM surface on first use of one of its names (or one of upstream's private
    submodules, e.g. ``zlmdb._pmap``).

    Raises:
        AttributeError: ``name`` is not a public name of zlmdb.
    """
    if name in _SUBMODULES:
        # importing a submodule binds it as an attribute of this package
        return importlib.import_module(f"zlmdb.{name}")
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
