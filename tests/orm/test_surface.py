"""The ``zlmdb`` module surface: names, submodules, flatbuffers alias and reflection."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest

import zlmdb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_upstream_names_exist():
    for name in (
        "__version__", "Database", "Schema", "table", "Transaction", "TransactionStats",
        "PersistentMap", "NullValueConstraint", "TABLES_BY_UUID", "lmdb", "flatbuffers",
        "setup_flatbuffers_import", "check_autobahn_flatbuffers_version_in_sync",
    ):  # fmt: skip
        assert hasattr(zlmdb, name), name


def test_compression_constants():
    assert (zlmdb.PersistentMap.COMPRESS_ZLIB, zlmdb.PersistentMap.COMPRESS_SNAPPY) == (1, 2)


def test_lmdb_is_attribute_and_module():
    import zlmdb.lmdb

    assert zlmdb.lmdb is sys.modules["zlmdb.lmdb"]


def test_upstream_submodules_import():
    import zlmdb._database
    import zlmdb._pmap
    import zlmdb._schema
    import zlmdb._types

    assert zlmdb._pmap.MapOidPickle is zlmdb.MapOidPickle
    assert zlmdb._database.Database is zlmdb.Database
    assert zlmdb._schema.Schema is zlmdb.Schema
    assert zlmdb._types._OidKeysMixin.MAX_OID == 2**53


def test_upstream_transaction_and_errors_modules_import():
    import zlmdb._errors
    import zlmdb._transaction

    assert zlmdb._transaction.Transaction is zlmdb.Transaction
    assert zlmdb._transaction.TransactionStats is zlmdb.TransactionStats
    assert zlmdb._errors.NullValueConstraint is zlmdb.NullValueConstraint


def test_helpers_are_exported_at_top_level():
    import zlmdb._timeseries
    import zlmdb._writers

    for name in (
        "BackgroundWriter",
        "BufferedWriter",
        "WriteError",
        "WriterClosedError",
        "WriteOp",
    ):
        assert getattr(zlmdb, name) is getattr(zlmdb._writers, name), name
        assert name in zlmdb.__all__
    for name in ("TimeSeries", "to_datetime64"):
        assert getattr(zlmdb, name) is getattr(zlmdb._timeseries, name), name
        assert name in zlmdb.__all__


def test_import_pulls_in_no_framework_dependencies():
    code = (
        "import sys, zlmdb; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('txaio', 'twisted', 'click', 'yaml', 'nacl')]; "
        "print(bad)"
    )
    # The same zlmdb this test run imports (installed, or a PYTHONPATH=src checkout).
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["zlmdb.orm", "zlmdb.orm._transaction", "zlmdb.orm._pmap"])
def test_orm_modules_import_first(module):
    code = f"import {module}, zlmdb; print(zlmdb.Database.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Database"


def test_flatbuffers_alias_is_the_installed_runtime():
    import flatbuffers

    assert zlmdb.flatbuffers.Builder is flatbuffers.Builder
    assert sys.modules["flatbuffers"] is flatbuffers


def test_flatbuffers_submodules_import_under_zlmdb():
    import flatbuffers.builder
    import zlmdb.flatbuffers.builder

    assert zlmdb.flatbuffers.builder is flatbuffers.builder


def test_setup_flatbuffers_import_keeps_installed_package():
    import flatbuffers

    zlmdb.setup_flatbuffers_import()
    assert sys.modules["flatbuffers"] is flatbuffers


def test_reflection_reads_a_bfbs_written_by_flatc():
    from zlmdb.flatbuffers.reflection.BaseType import BaseType
    from zlmdb.flatbuffers.reflection.Schema import Schema

    with open(os.path.join(ROOT, "flatbuffers-src", "generated", "user.bfbs"), "rb") as f:
        data = f.read()
    schema = Schema.GetRootAs(data, 0)
    assert schema.RootTable().Name() == b"zlmdbtest.User"
    fields = {}
    root = schema.RootTable()
    for i in range(root.FieldsLength()):
        field = root.Fields(i)
        fields[field.Name()] = (field.Id(), field.Type().BaseType(), field.Type().Element())
    assert fields[b"oid"] == (0, BaseType.ULong, BaseType.None_)
    assert fields[b"tags"] == (6, BaseType.Vector, BaseType.String)
    assert fields[b"ratings"] == (7, BaseType.Vector, BaseType.Double)


def test_reflection_exports_upstream_classes():
    import importlib

    for name in ("Schema", "Object", "Field", "Enum", "EnumVal", "Type", "BaseType", "KeyValue",
                 "RPCCall", "Service", "SchemaFile", "AdvancedFeatures"):  # fmt: skip
        module = importlib.import_module(f"zlmdb.flatbuffers.reflection.{name}")
        assert hasattr(module, name)


def _user_bfbs():
    from zlmdb.flatbuffers.reflection.Schema import Schema

    with open(os.path.join(ROOT, "flatbuffers-src", "generated", "user.bfbs"), "rb") as f:
        return Schema.GetRootAs(f.read(), 0)


def test_reflection_reads_struct_layout():
    schema = _user_bfbs()
    point = next(
        schema.Objects(i)
        for i in range(schema.ObjectsLength())
        if schema.Objects(i).Name() == b"zlmdbtest.Point"
    )
    fields = {
        point.Fields(j).Name(): (point.Fields(j).Offset(), point.Fields(j).Padding())
        for j in range(point.FieldsLength())
    }
    assert (point.IsStruct(), point.Bytesize(), point.Minalign()) == (True, 16, 8)
    assert fields == {b"tag": (0, 7), b"y": (8, 0)}


def test_reflection_reads_enum_values():
    from zlmdb.flatbuffers.reflection.BaseType import BaseType

    schema = _user_bfbs()
    color = schema.Enums(0)
    values = [
        (color.Values(j).Name(), color.Values(j).Value()) for j in range(color.ValuesLength())
    ]
    assert color.Name() == b"zlmdbtest.Color" and color.UnderlyingType().BaseType() == BaseType.Byte
    assert values == [(b"Red", 1), (b"Green", 2), (b"Blue", 8)]


def test_flatbuffers_version_of_the_installed_runtime():
    import flatbuffers

    major, minor, patch, commits, commit_hash = zlmdb.flatbuffers.version()
    assert ".".join(map(str, (major, minor, patch))) == flatbuffers.__version__
    assert (commits, commit_hash) == (None, None)
    assert zlmdb.flatbuffers.__git_version__ == "v" + flatbuffers.__version__


@pytest.mark.parametrize(
    "described, expected",
    [
        ("v25.9.23", (25, 9, 23, None, None)),
        ("v25.9.23-71", (25, 9, 23, 71, None)),
        ("v25.9.23-71-g19b2300f", (25, 9, 23, 71, "19b2300f")),
        ("v1.2.3-0-gabc", (1, 2, 3, 0, "abc")),
        # not git-describe form: the runtime's release number (patched to 3.4.5 below)
        ("19b2300f", (3, 4, 5, None, None)),
        ("unknown", (3, 4, 5, None, None)),
        ("v25.9.23-dirty", (3, 4, 5, None, None)),
        ("25.9.23", (3, 4, 5, None, None)),
        ("", (3, 4, 5, None, None)),
    ],
)
def test_flatbuffers_version_parses_git_describe(monkeypatch, described, expected):
    monkeypatch.setattr(zlmdb.flatbuffers, "__version__", "3.4.5")
    monkeypatch.setattr(zlmdb.flatbuffers, "__git_version__", described)
    assert zlmdb.flatbuffers.version() == expected


@pytest.mark.parametrize(
    "release, expected",
    [
        ("25.9.23rc1", (25, 9, 23)),
        ("25.9.23.1", (25, 9, 23)),
        ("25.9", (0, 0, 0)),
        ("x.y.z", (0, 0, 0)),
    ],  # fmt: skip
)
def test_flatbuffers_version_falls_back_to_release_number(monkeypatch, release, expected):
    monkeypatch.setattr(zlmdb.flatbuffers, "__version__", release)
    monkeypatch.setattr(zlmdb.flatbuffers, "__git_version__", "unknown")
    assert zlmdb.flatbuffers.version() == expected + (None, None)


_NO_DEFAULT = inspect.Parameter.empty
_UPSTREAM_SIGNATURES = {
    # callable: [(parameter, default)], the parameter names and defaults upstream code passes
    "PersistentMap.select": [("self", _NO_DEFAULT), ("txn", _NO_DEFAULT), ("from_key", None),
                             ("to_key", None), ("return_keys", True), ("return_values", True),
                             ("reverse", False), ("limit", None)],
    "PersistentMap.count": [("self", _NO_DEFAULT), ("txn", _NO_DEFAULT), ("prefix", None)],
    "PersistentMap.count_range": [("self", _NO_DEFAULT), ("txn", _NO_DEFAULT),
                                  ("from_key", _NO_DEFAULT), ("to_key", _NO_DEFAULT)],
    "PersistentMap.truncate": [("self", _NO_DEFAULT), ("txn", _NO_DEFAULT),
                               ("rebuild_indexes", True)],
    "PersistentMap.attach_index": [("self", _NO_DEFAULT), ("name", _NO_DEFAULT),
                                   ("pmap", _NO_DEFAULT), ("fkey", _NO_DEFAULT),
                                   ("nullable", False), ("unique", True)],
    "PersistentMap.rebuild_index": [("self", _NO_DEFAULT), ("txn", _NO_DEFAULT),
                                    ("name", _NO_DEFAULT)],
    "PersistentMap.rebuild_indexes": [("self", _NO_DEFAULT), ("txn", _NO_DEFAULT)],
    "Database.__init__": [("self", _NO_DEFAULT), ("dbpath", None), ("maxsize", 10485760),
                          ("readonly", False), ("lock", True), ("sync", True), ("create", True),
                          ("open_now", True), ("writemap", False), ("context", None),
                          ("log", None), ("lib_version", None)],
    "Database.open": [("dbpath", None), ("maxsize", 10485760), ("readonly", False),
                      ("lock", True), ("sync", True), ("create", True), ("open_now", True),
                      ("writemap", False), ("context", None), ("log", None),
                      ("lib_version", None)],
    "Database.begin": [("self", _NO_DEFAULT), ("write", False), ("buffers", False),
                       ("stats", None)],
    "Database.stats": [("self", _NO_DEFAULT), ("include_slots", False)],
    "Database.attach_table": [("self", _NO_DEFAULT), ("klass", _NO_DEFAULT)],
    "table": [("oid", _NO_DEFAULT), ("marshal", None), ("parse", None), ("build", None),
              ("cast", None), ("compress", None)],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_UPSTREAM_SIGNATURES))
def test_call_signatures_match_upstream(name):
    obj = zlmdb
    for part in name.split("."):
        obj = getattr(obj, part)
    params = inspect.signature(obj).parameters.values()
    assert [(p.name, p.default) for p in params] == _UPSTREAM_SIGNATURES[name]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
