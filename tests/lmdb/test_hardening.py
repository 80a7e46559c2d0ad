"""Hardening: crafted or corrupt data.mdb files raise lmdb.Error subclasses, never crash.

Every read of a damaged file runs in a child interpreter, so that a crash shows up as a
failed test (with the signal) instead of ending the pytest run.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys

import pytest

import zlmdb.lmdb as lmdb

PAGE = 4096
# Offsets inside a meta page: 16-byte page header, then MDB_meta.
META_MAGIC = 16
FREE_DB = 40  # mm_dbs[0]; its md_pad holds the page size
MAIN_DB = 88  # mm_dbs[1]
MAIN_ROOT = MAIN_DB + 40
LAST_PGNO = 136

READER = r"""
import sys
import zlmdb.lmdb as lmdb

try:
    env = lmdb.open(sys.argv[1], readonly=True, lock=False, max_dbs=4)
    with env.begin() as txn:
        n = sum(1 for _ in txn.cursor())
        for name in env.dbs(txn):
            db = env.open_db(name, txn=txn, create=False)
            n += sum(1 for _ in txn.cursor(db))
        txn.get(b"key-00100")
    env.close()
    print("ok", n)
except lmdb.Error as exc:
    print("error", type(exc).__name__, exc)
"""


def make_env(path: str, engine: int = 0) -> str:
    """Write a small valid environment with a few hundred keys in three pages levels."""
    env = lmdb.open(path, map_size=16 << 20, max_dbs=4, lib_version=engine)
    sub = env.open_db(b"sub")
    with env.begin(write=True) as txn:
        for i in range(600):
            txn.put(b"key-%05d" % i, b"value-%05d" % i * 3)
            txn.put(b"sub-%05d" % i, b"x" * (i % 50), db=sub)
        txn.put(b"big", b"B" * 20000)  # an overflow value
    env.close()
    return os.path.join(path, "data.mdb")


def read_in_child(path: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", READER, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert proc.returncode == 0, f"reader crashed (exit {proc.returncode}):\n{proc.stdout[-3000:]}"
    return proc.stdout.strip().splitlines()[-1]


def patch_both_metas(data: str, offset: int, fmt: str, value: int) -> None:
    with open(data, "r+b") as fp:
        for page in (0, 1):
            fp.seek(page * PAGE + offset)
            fp.write(struct.pack(fmt, value))


P_BRANCH, P_LEAF = 0x01, 0x02


def current_meta(data: str) -> int:
    """Offset of the meta page with the highest txnid (the one LMDB uses)."""
    with open(data, "rb") as fp:
        ids = []
        for page in (0, 1):
            fp.seek(page * PAGE + LAST_PGNO + 8)
            ids.append(struct.unpack("<Q", fp.read(8))[0])
    return PAGE if ids[1] > ids[0] else 0


def main_root(data: str) -> int:
    with open(data, "rb") as fp:
        fp.seek(current_meta(data) + MAIN_ROOT)
        return struct.unpack("<Q", fp.read(8))[0]


def page_flags(data: str, pgno: int) -> int:
    with open(data, "rb") as fp:
        fp.seek(pgno * PAGE + 10)
        return struct.unpack("<H", fp.read(2))[0]


def write_at(data: str, offset: int, fmt: str, *values: int) -> None:
    with open(data, "r+b") as fp:
        fp.seek(offset)
        fp.write(struct.pack(fmt, *values))


def test_intact_file_reads_cleanly(tmp_path) -> None:
    make_env(str(tmp_path / "env"))
    assert read_in_child(str(tmp_path / "env")) == "ok 1202"


def test_bad_page_size_in_meta_raises(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    patch_both_metas(data, FREE_DB, "<I", 12345)
    assert read_in_child(str(tmp_path / "env")).startswith("error")


def test_root_page_beyond_file_raises(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    patch_both_metas(data, MAIN_ROOT, "<Q", 10**9)
    assert read_in_child(str(tmp_path / "env")).startswith("error")


def test_root_page_pointing_at_meta_page_raises(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    patch_both_metas(data, MAIN_ROOT, "<Q", 1)
    assert read_in_child(str(tmp_path / "env")).startswith("error")


def test_bad_magic_raises_invalid_error(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    patch_both_metas(data, META_MAGIC, "<I", 0x12345678)
    assert read_in_child(str(tmp_path / "env")).startswith("error InvalidError")


@pytest.mark.parametrize("engine", [0, 1], ids=["lmdb0.9", "lmdb1.0"])
# Seed 16 once crashed both py-lmdb and zlmdb (SIGBUS: a leaf node whose key size points past
# the file); lmdb-src/patches/*/zlmdb-node-bounds.patch makes it MDB_CORRUPTED.
@pytest.mark.parametrize(
    "seed", sorted(set(range(int(os.environ.get("ZLMDB_FUZZ_SEEDS", "4")))) | {16})
)
def test_garbage_data_pages_never_crash(tmp_path, seed: int, engine: int) -> None:
    data = make_env(str(tmp_path / "env"), engine)
    rng = random.Random(seed)
    size = os.path.getsize(data)
    with open(data, "r+b") as fp:
        for page in range(2, size // PAGE):
            if rng.random() < 0.5:
                fp.seek(page * PAGE + rng.randrange(0, PAGE - 64))
                fp.write(bytes(rng.randrange(256) for _ in range(64)))
    result = read_in_child(str(tmp_path / "env"))
    assert result.startswith(("ok", "error"))


def test_not_an_lmdb_file_raises_invalid_error(tmp_path) -> None:
    os.mkdir(tmp_path / "env")
    with open(tmp_path / "env" / "data.mdb", "wb") as fp:
        fp.write(os.urandom(4 * PAGE))
    assert read_in_child(str(tmp_path / "env")).startswith("error InvalidError")


def test_root_page_with_wrong_page_type_raises(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    root = main_root(data)
    assert page_flags(data, root) & P_BRANCH  # 600 keys: the main tree has two levels
    write_at(data, root * PAGE + 10, "<H", P_LEAF)  # a branch page claiming to be a leaf
    assert read_in_child(str(tmp_path / "env")).startswith("error")


def test_page_with_impossible_free_space_bounds_raises(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    root = main_root(data)
    write_at(data, root * PAGE + 12, "<H", 0xFFF0)  # mp_lower far beyond mp_upper
    assert read_in_child(str(tmp_path / "env")).startswith("error")


def test_branch_pointing_at_itself_raises(tmp_path) -> None:
    data = make_env(str(tmp_path / "env"))
    root = main_root(data)
    with open(data, "rb") as fp:
        fp.seek(root * PAGE + 16)
        first_node = struct.unpack("<H", fp.read(2))[0]  # mp_ptrs[0]: offset of node 0
    # A branch node starts with the child page number (48 bits in lo/hi/flags fields).
    write_at(data, root * PAGE + first_node, "<H", root & 0xFFFF)
    write_at(data, root * PAGE + first_node + 2, "<H", (root >> 16) & 0xFFFF)
    write_at(data, root * PAGE + first_node + 4, "<H", (root >> 32) & 0xFFFF)
    assert read_in_child(str(tmp_path / "env")).startswith("error")


@pytest.mark.parametrize("engine", [0, 1], ids=["lmdb0.9", "lmdb1.0"])
def test_overflow_value_size_beyond_the_file_raises(tmp_path, engine: int) -> None:
    data = make_env(str(tmp_path / "env"), engine)
    with open(data, "rb") as fp:
        raw = fp.read()
    # The leaf node of b"big": data size (lo, hi), flags F_BIGDATA, key size 3, key.
    at = raw.find(b"\x01\x00\x03\x00big")
    assert at > 0
    write_at(data, at - 4, "<HH", 0xFFFF, 0x7FFF)  # about 2 GiB of overflow pages
    assert read_in_child(str(tmp_path / "env")).startswith("error")
