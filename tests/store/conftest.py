"""Fixtures for the zlmdb.store tests: real LMDB files under tmp_path, always closed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

import zlmdb
from zlmdb.store import LmdbObjectStore


@pytest.fixture
def make_store(tmp_path) -> Iterator[Callable[..., LmdbObjectStore]]:
    """Return ``make(path_name="db", **kw)`` opening a store under tmp_path; closed at teardown."""
    opened: List[LmdbObjectStore] = []

    def make(name: str = "db", *args: Any, **kwargs: Any) -> LmdbObjectStore:
        store = LmdbObjectStore(str(tmp_path / name), *args, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in reversed(opened):
        store.close()


@pytest.fixture
def db(make_store) -> LmdbObjectStore:
    """A store with str keys (utf-8) and the default batch size."""
    return make_store(key_encoding="utf-8")


# The directory holding the zlmdb this test run imports (the checkout's src/ normally).
SRC = str(Path(zlmdb.__file__).resolve().parents[1])


def child_env() -> dict:
    """The environment of a child interpreter that imports this checkout's zlmdb."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def run_child() -> Callable[..., subprocess.CompletedProcess]:
    """Return ``run(code, *args)``: run ``code`` in a fresh interpreter, assert exit 0."""

    def run(code: str, *args: Any, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-c", code, *map(str, args)],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert proc.returncode == 0, proc.stderr
        return proc

    return run


@pytest.fixture
def child_environ() -> dict:
    """Environment variables for a child interpreter importing this checkout's zlmdb."""
    return child_env()
