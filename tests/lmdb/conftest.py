"""Fixtures of the zlmdb.lmdb tests: real LMDB environments in pytest's tmp_path."""

from __future__ import annotations

from typing import Iterator

import pytest

import zlmdb.lmdb as lmdb


@pytest.fixture
def env(tmp_path) -> Iterator[lmdb.Environment]:
    """A fresh environment (default 10 MiB map, up to 8 named databases), closed afterwards."""
    e = lmdb.open(str(tmp_path / "env"), max_dbs=8)
    yield e
    e.close()
