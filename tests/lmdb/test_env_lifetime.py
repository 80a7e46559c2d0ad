"""Environment lifetime and database-handle ownership, as py-lmdb client projects rely on.

Found by running the test suites of PyPI projects built on py-lmdb with ``import lmdb``
resolving to ``zlmdb.lmdb`` (zict, lmdb-queue, yuna-db, lmdb-dict-full, lmdbm, nque,
lmdb_embeddings 0.4.0, PersistDict 0.2.14): on CPython, py-lmdb frees an Environment (and
closes its LMDB handle) as soon as its last reference goes, so code that opens an
environment, never closes it and later opens the same path again works; zlmdb's database
handles referred back to their environment, a cycle that kept it open until a cyclic
collection. And a handle of one environment passed to another's transaction must raise, not
name whichever database has the same dbi number there.

Each test runs once with ``zlmdb.lmdb`` and once with py-lmdb (skipped where py-lmdb is
absent); the assertions state py-lmdb's behaviour. The cyclic garbage collector is paused
during each test so the result does not depend on when a collection happens.
"""

from __future__ import annotations

import gc
import platform
import weakref

import pytest

import zlmdb.lmdb

refcounting = pytest.mark.skipif(
    platform.python_implementation() != "CPython",
    reason="py-lmdb's refcount-timed release is a CPython behaviour",
)


@pytest.fixture(params=["zlmdb", "py-lmdb"])
def lm(request):
    """The binding under test: ``zlmdb.lmdb``, or py-lmdb itself for comparison."""
    if request.param == "zlmdb":
        return zlmdb.lmdb
    return pytest.importorskip("lmdb")


@pytest.fixture(autouse=True)
def no_cyclic_gc():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


@refcounting
def test_env_is_freed_when_its_last_reference_goes(lm, tmp_path):
    env = lm.open(str(tmp_path / "db"))
    ref = weakref.ref(env)
    del env
    assert ref() is None


@refcounting
def test_env_with_named_db_is_freed_when_its_last_reference_goes(lm, tmp_path):
    env = lm.open(str(tmp_path / "db"), max_dbs=2)
    db = env.open_db(b"named")
    with env.begin(db=db, write=True) as txn:
        txn.put(b"k", b"v")
    ref = weakref.ref(env)
    del env, db, txn
    assert ref() is None


@refcounting
def test_reopen_a_path_whose_unclosed_env_was_dropped(lm, tmp_path):
    """lmdb_embeddings: the writer opens an env it never closes, then a reader opens the path."""
    path = str(tmp_path / "db")

    def write():
        env = lm.open(path)
        with env.begin(write=True) as txn:
            txn.put(b"word", b"vector")

    write()
    env = lm.open(path, readonly=True)  # zlmdb: Error "... is already open in this process."
    with env.begin() as txn:
        assert txn.get(b"word") == b"vector"
    env.close()


@refcounting
def test_weak_value_cache_of_envs_empties_when_users_go(lm, tmp_path):
    """lmdb-dict-full shares one env per path through a WeakValueDictionary; PersistDict
    deletes the directory between uses and relies on the entry vanishing with its users
    (with a stale env it calls clear() and deadlocks against its own background thread)."""
    cache = weakref.WeakValueDictionary()
    path = str(tmp_path / "db")

    def user():
        env = cache.get(path)
        if env is None:
            env = cache[path] = lm.open(path, max_dbs=3)
        db = env.open_db(b"values")
        with env.begin(db=db, write=True) as txn:
            txn.put(b"k", b"v")

    user()
    assert path not in cache


def _two_envs(lm, tmp_path):
    a = lm.open(str(tmp_path / "a"), max_dbs=3)
    b = lm.open(str(tmp_path / "b"), max_dbs=3)
    a_db = a.open_db(b"only-in-a")
    b_db = b.open_db(b"only-in-b")  # the same dbi number as a_db, in b
    with b.begin(write=True, db=b_db) as txn:
        txn.put(b"k", b"b's value")
    return a, b, a_db


FOREIGN_OPS = {
    "get": lambda env, txn, db: txn.get(b"k", db=db),
    "put": lambda env, txn, db: txn.put(b"k", b"v", db=db),
    "delete": lambda env, txn, db: txn.delete(b"k", db=db),
    "pop": lambda env, txn, db: txn.pop(b"k", db=db),
    "replace": lambda env, txn, db: txn.replace(b"k", b"v", db=db),
    "stat": lambda env, txn, db: txn.stat(db),
    "drop": lambda env, txn, db: txn.drop(db, delete=False),
    "cursor": lambda env, txn, db: txn.cursor(db=db),
    "Cursor": lambda env, txn, db: type(txn.cursor())(db, txn),
    "begin(db=)": lambda env, txn, db: env.begin(db=db),
    "Transaction(db=)": lambda env, txn, db: type(txn)(env, db=db),
}


@pytest.mark.parametrize("op", list(FOREIGN_OPS))
def test_a_db_handle_of_another_environment_raises_and_changes_nothing(lm, tmp_path, op):
    a, b, a_db = _two_envs(lm, tmp_path)
    with b.begin(write=True) as txn:
        with pytest.raises(lm.Error, match="belongs to another environment"):
            FOREIGN_OPS[op](b, txn, a_db)
    with b.begin(db=b.open_db(b"only-in-b")) as txn:
        assert txn.get(b"k") == b"b's value"
    a.close()
    b.close()


def test_a_db_handle_of_a_closed_environment_raises_in_its_reopened_successor(lm, tmp_path):
    path = str(tmp_path / "db")
    old = lm.open(path, max_dbs=3)
    old_db = old.open_db(b"x")
    old.close()
    new = lm.open(path, max_dbs=3)
    new.open_db(b"x")
    with new.begin() as txn:
        with pytest.raises(lm.Error, match="belongs to another environment"):
            txn.get(b"k", db=old_db)
    new.close()


def test_one_shot_reads_refuse_a_db_handle_of_another_environment(tmp_path):
    a, b, a_db = _two_envs(zlmdb.lmdb, tmp_path)
    for call in (b.get, b.exists):  # zlmdb extensions: Environment.get/exists
        with pytest.raises(zlmdb.lmdb.Error, match="belongs to another environment"):
            call(b"k", db=a_db)
        with pytest.raises(TypeError):
            call(b"k", db="not a db")
    a.close()
    b.close()


def test_every_public_class_names_zlmdb_lmdb_as_its_module():
    """Tracebacks and pytest summaries print ``zlmdb.lmdb.Error``, as py-lmdb's print
    ``lmdb.Error`` (Error said ``zlmdb.lmdb._errors`` before 2026-12-04); pickles of errors
    refer to the public module."""
    import pickle

    lm = zlmdb.lmdb
    classes = [getattr(lm, name) for name in lm.__all__ if isinstance(getattr(lm, name), type)]
    assert lm.Error in classes and lm.Environment in classes
    assert {cls.__name__: cls.__module__ for cls in classes} == {
        cls.__name__: "zlmdb.lmdb" for cls in classes
    }
    err = pickle.loads(pickle.dumps(lm.Error("some text")))
    assert type(err) is lm.Error and err.args == ("some text",)
