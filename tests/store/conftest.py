"""Fixtures for the zlmdb.store tests: real LMDB files under tmp_path, always closed."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

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
