"""Incompatibilities found by running real clients of upstream zlmdb 26.10.1 (cfxdb 26.6.1,
crossbar 26.10.1) against this package. Each test asserts what upstream does.

* Catalogue names: upstream's ``attach_table`` records ``twisted.python.reflect.qual(klass)``
  (``"module.Class"``) as the slot name when Twisted is importable -- which it always is for
  cfxdb/crossbar (autobahn[twisted]) -- and ``klass.__name__`` only without Twisted. So a
  database created by crossbar with upstream has ``"cfxdb.cookiestore._cookie.Cookies"`` in
  its catalogue (and in ``db.stats(include_slots=True)``, which crossbar logs); zlmdb wrote
  ``"Cookies"`` until 2026-12-04, so the files were not byte-identical.

The rest of what those clients do (cfxdb's 63 tests, crossbar's 417, a driver over seven cfxdb
schemas comparing every stored byte) behaved identically; the one deliberate difference is that
unique indexes are enforced (``UniqueValueConstraint``, docs/orm-indexes.rst).
"""

import sys
import types

import zlmdb


@zlmdb.table("3c0e7f52-5d0b-4d61-9a43-1b7f0d7e9a01")
class ClientThings(zlmdb.MapUuidString):
    """Things of a client schema."""


def _with_twisted_qual(monkeypatch):
    """Make ``from twisted.python.reflect import qual`` work (real Twisted or a stand-in with
    Twisted's exact definition), as in every cfxdb/crossbar installation."""
    try:
        import twisted.python.reflect  # noqa: F401
    except ImportError:
        reflect = types.ModuleType("twisted.python.reflect")
        reflect.qual = lambda clazz: clazz.__module__ + "." + clazz.__name__
        python = types.ModuleType("twisted.python")
        python.reflect = reflect
        twisted = types.ModuleType("twisted")
        twisted.python = python
        monkeypatch.setitem(sys.modules, "twisted", twisted)
        monkeypatch.setitem(sys.modules, "twisted.python", python)
        monkeypatch.setitem(sys.modules, "twisted.python.reflect", reflect)


def test_catalogue_name_is_qualified_when_twisted_is_installed(tmp_path, monkeypatch):
    _with_twisted_qual(monkeypatch)
    with zlmdb.Database(dbpath=str(tmp_path / "db")) as db:
        db.attach_table(ClientThings)
        names = [slot.name for slot in db._get_slots().values()]
        stats_names = [s["name"] for s in db.stats(include_slots=True)["slots"]]
    expected = ClientThings.__module__ + ".ClientThings"
    # upstream 26.10.1 with Twisted importable; zlmdb before 2026-12-04 wrote 'ClientThings'
    assert names == [expected]
    assert stats_names == [expected]


def test_catalogue_name_is_the_bare_class_name_without_twisted(tmp_path, monkeypatch):
    from zlmdb.orm import _database

    for name in [m for m in sys.modules if m == "twisted" or m.startswith("twisted.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(_database, "_TWISTED_INSTALLED", False)
    with zlmdb.Database(dbpath=str(tmp_path / "db")) as db:
        db.attach_table(ClientThings)
        assert [slot.name for slot in db._get_slots().values()] == ["ClientThings"]


def test_the_recorded_name_stays_when_the_table_is_attached_again(tmp_path, monkeypatch):
    """The name is written once, when the slot is allocated; later attaches only read it."""
    from zlmdb.orm import _database

    monkeypatch.setattr(_database, "_TWISTED_INSTALLED", False)
    path = str(tmp_path / "db")
    with zlmdb.Database(dbpath=path) as db:
        db.attach_table(ClientThings)
    _with_twisted_qual(monkeypatch)
    with zlmdb.Database(dbpath=path) as db:
        db.attach_table(ClientThings)
        assert [slot.name for slot in db._get_slots().values()] == ["ClientThings"]
