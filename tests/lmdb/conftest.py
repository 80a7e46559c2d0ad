"""Fixtures of the zlmdb.lmdb tests: real LMDB environments in pytest's tmp_path."""

from __future__ import annotations

from typing import Iterator

import pytest

import zlmdb.lmdb as lmdb

#: Modules whose tests run twice, once per bundled LMDB engine (0.9 and 1.0): everything that
#: is about behaviour rather than about one engine's file layout (hardening, verify and the
#: crash tests poke 0.9 page offsets).
ENGINE_MODULES = {
    "test_aio",
    "test_differential",
    "test_env_get",
    "test_lmdb_api",
    "test_lmdb_cursor",
    "test_lmdb_env",
    "test_lmdb_threads",
    "test_thread_stress",
    "test_lmdb_txn",
    "test_multi",
    "test_tool",
}


def pytest_generate_tests(metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "engine" in metafunc.fixturenames and module in ENGINE_MODULES:
        metafunc.parametrize("engine", [0, 1], ids=["lmdb0.9", "lmdb1.0"], indirect=True)


@pytest.fixture(autouse=True)
def engine(request, monkeypatch) -> int:
    """The engine new environments get (``$LMDB_DEFAULT_LIB_VERSION``): 0 = 0.9, 1 = 1.0."""
    number = getattr(request, "param", 0)
    monkeypatch.setenv("LMDB_DEFAULT_LIB_VERSION", str(number))
    return number


@pytest.fixture
def env(tmp_path) -> Iterator[lmdb.Environment]:
    """A fresh environment (default 10 MiB map, up to 8 named databases), closed afterwards."""
    e = lmdb.open(str(tmp_path / "env"), max_dbs=8)
    yield e
    e.close()
