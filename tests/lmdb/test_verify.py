"""zlmdb.lmdb.verify: real environments verify clean; each forged corruption is reported."""

from __future__ import annotations

import io
import os
import struct
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zlmdb.lmdb as lmdb
from zlmdb.lmdb import tool, verify

BO = "<" if sys.byteorder == "little" else ">"
HDR = 16  # LMDB 0.9 page header size on 64-bit builds
META_DBS = HDR + 24  # offset of the free/main MDB_db records in a meta page
DB_SIZE = 48


# -- building and forging ----------------------------------------------------------------


def build(path, fill=None, **kwargs) -> str:
    """Create an environment at ``path``, run ``fill(env)``, close it; return the path."""
    env = lmdb.open(str(path), max_dbs=8, map_size=64 << 20, **kwargs)
    try:
        if fill is not None:
            fill(env)
    finally:
        env.close()
    return str(path)


def put_many(env, count=2000, value=b"v" * 20, db=None) -> None:
    with env.begin(write=True, db=db) as txn:
        for i in range(count):
            txn.put(b"k%06d" % i, value)


def delete_every_third(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(0, 2000, 3):
            txn.delete(b"k%06d" % i)


class Raw:
    """A data.mdb loaded into memory, with the few navigation steps the forgeries need."""

    def __init__(self, env_path: str) -> None:
        self.path = os.path.join(env_path, "data.mdb")
        with open(self.path, "rb") as f:
            self.buf = bytearray(f.read())
        self.psize = self.u32(META_DBS)  # mm_psize = free DB record's md_pad

    def save(self) -> None:
        with open(self.path, "wb") as f:
            f.write(self.buf)

    def u16(self, off):
        return struct.unpack_from(BO + "H", self.buf, off)[0]

    def u32(self, off):
        return struct.unpack_from(BO + "I", self.buf, off)[0]

    def u64(self, off):
        return struct.unpack_from(BO + "Q", self.buf, off)[0]

    def put(self, fmt, off, value):
        struct.pack_into(BO + fmt, self.buf, off, value)

    def meta(self) -> int:
        """Byte offset of the MDB_meta of the committed snapshot."""
        txnid = [self.u64(pg * self.psize + META_DBS + 2 * DB_SIZE + 8) for pg in (0, 1)]
        return (1 if txnid[1] > txnid[0] else 0) * self.psize + HDR

    def record(self, which: str) -> int:
        """Byte offset of the free or main MDB_db record of the committed snapshot."""
        return self.meta() + 24 + (DB_SIZE if which == "main" else 0)

    def flags(self, pgno):
        return self.u16(pgno * self.psize + 10)

    def node(self, pgno, i):
        return pgno * self.psize + self.u16(pgno * self.psize + HDR + 2 * i)

    def nkeys(self, pgno):
        return (self.u16(pgno * self.psize + 12) - HDR) // 2

    def leftmost_leaf(self, root):
        pgno = root
        while not self.flags(pgno) & 0x02:
            o = self.node(pgno, 0)
            pgno = self.u16(o) | self.u16(o + 2) << 16 | self.u16(o + 4) << 32
        return pgno

    def first_free_value(self) -> int:
        """Offset of the value (count + page numbers) of the first freeDB record."""
        leaf = self.leftmost_leaf(self.u64(self.record("free") + 40))
        o = self.node(leaf, 0)
        assert not self.u16(o + 4) & 0x01, "freeDB record on overflow pages"
        return o + 8 + self.u16(o + 6)

    def first_bigdata(self, root) -> int:
        """Page number of the first overflow page referenced from the leftmost leaf."""
        leaf = self.leftmost_leaf(root)
        for i in range(self.nkeys(leaf)):
            o = self.node(leaf, i)
            if self.u16(o + 4) & 0x01:
                return self.u64(o + 8 + self.u16(o + 6))
        raise AssertionError("no overflow value in the leftmost leaf")


def problems_after(path: str, forge) -> list:
    assert verify.verify(path) == [], "the unforged file must verify clean"
    raw = Raw(path)
    forge(raw)
    raw.save()
    return verify.verify(path)


def assert_reported(problems, needle) -> None:
    assert problems, "verify passed a corrupted file"
    assert any(needle in p for p in problems), problems


# -- sound files --------------------------------------------------------------------------


def fill_dupsort(env) -> None:
    db = env.open_db(b"dups", dupsort=True)
    with env.begin(write=True, db=db) as txn:
        for i in range(40):
            for j in range(3 if i % 2 else 400):  # small sets inline, large ones promoted
                txn.put(b"key%03d" % i, b"dup-%06d" % j)


def fill_dupfixed(env) -> None:
    db = env.open_db(b"fixed", dupsort=True, dupfixed=True, integerdup=True)
    with env.begin(write=True, db=db) as txn:
        for i in range(10):
            for j in range(2 if i % 2 else 1000):
                txn.put(b"k%d" % i, struct.pack("=Q", j * 7))


def fill_integer_and_reverse(env) -> None:
    ints = env.open_db(b"ints", integerkey=True)
    rev = env.open_db(b"rev", reverse_key=True)
    both = env.open_db(b"both", reverse_key=True, integerkey=True)
    with env.begin(write=True) as txn:
        for i in range(1500):
            txn.put(struct.pack("=Q", (i * 7919) % 100003), b"v", db=ints)
            txn.put(b"%05d-x" % i, b"v", db=rev)
            txn.put(struct.pack("=Q", (i * 31) % 4099), b"v", db=both)


def fill_overflow_and_free(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(300):
            txn.put(b"big%04d" % i, bytes([i % 256]) * (5000 + i))
    with env.begin(write=True) as txn:  # frees enough pages for an overflow freeDB record
        for i in range(0, 300, 2):
            txn.delete(b"big%04d" % i)


@pytest.mark.parametrize(
    "fill",
    [
        None,
        lambda env: put_many(env, 50),
        lambda env: (put_many(env), delete_every_third(env)),
        fill_dupsort,
        fill_dupfixed,
        fill_integer_and_reverse,
        fill_overflow_and_free,
        lambda env: env.open_db(b"created-but-empty"),
    ],
    ids=[
        "empty",
        "small",
        "deletions",
        "dupsort",
        "dupfixed",
        "integer-reverse",
        "overflow",
        "empty-named",
    ],
)
def test_sound_environment_verifies_clean(tmp_path, fill):
    path = build(tmp_path / "env", fill)
    result = verify.verify(path)
    assert result == []
    assert result.ok
    assert str(result) == "verify: OK"


def test_writemap_environment_verifies_clean(tmp_path):
    path = build(tmp_path / "env", lambda env: (put_many(env), fill_dupsort(env)), writemap=True)
    assert verify.verify(path) == []


def test_single_file_environment_verifies_clean(tmp_path):
    path = str(tmp_path / "single.mdb")
    env = lmdb.open(path, subdir=False)
    put_many(env, 300)
    env.close()
    assert verify.verify(path) == []  # a file: subdir inferred
    assert verify.verify(path, subdir=False) == []


def test_compacted_copy_verifies_clean(tmp_path):
    path = build(tmp_path / "env", lambda env: (put_many(env), delete_every_third(env)))
    os.mkdir(tmp_path / "copy")
    env = lmdb.open(path)
    env.copy(str(tmp_path / "copy"), compact=True)
    env.close()
    assert verify.verify(str(tmp_path / "copy")) == []


def test_pages_outside_the_snapshot_are_ignored(tmp_path):
    path = build(tmp_path / "env", lambda env: (put_many(env), delete_every_third(env)))
    with open(os.path.join(path, "data.mdb"), "rb") as f:
        f.seek(0, os.SEEK_END)
        checker = verify._Verifier(f, f.tell())
        assert checker.verify() == []
    free_pages = [pg for pg in range(2, checker.next_pgno) if checker.free[pg]]
    assert free_pages
    with open(os.path.join(path, "data.mdb"), "r+b") as f:
        for pg in free_pages[:5]:  # free pages may hold anything
            f.seek(pg * checker.psize)
            f.write(b"\xee" * checker.psize)
        f.seek(0, os.SEEK_END)  # so may pages past the snapshot's last one
        f.write(b"\xee" * 3 * checker.psize)
    assert verify.verify(path) == []


# -- corrupted files ----------------------------------------------------------------------


def test_bad_magic_raises_verify_error(tmp_path):
    path = build(tmp_path / "env", put_many)
    raw = Raw(path)
    raw.put("I", HDR, 0x12345678)
    raw.save()
    with pytest.raises(verify.VerifyError, match="magic"):
        verify.verify(path)


def test_page_size_not_a_power_of_two_raises_verify_error(tmp_path):
    path = build(tmp_path / "env", put_many)
    raw = Raw(path)
    raw.put("I", META_DBS, raw.psize + 1)
    raw.save()
    with pytest.raises(verify.VerifyError, match="page size"):
        verify.verify(path)


def test_not_an_lmdb_file_raises_verify_error(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"hello" * 2000)
    with pytest.raises(verify.VerifyError):
        verify.verify(str(path), subdir=False)


def test_root_pointing_at_a_meta_page_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)
    problems = problems_after(path, lambda raw: raw.put("Q", raw.record("main") + 40, 1))
    assert_reported(problems, "root page 1 out of range")


def test_forged_entry_count_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)

    def forge(raw):
        off = raw.record("main") + 32
        raw.put("Q", off, raw.u64(off) + 5)

    assert_reported(problems_after(path, forge), "entries, record says 2005")


def test_forged_flag_combination_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)
    problems = problems_after(path, lambda raw: raw.put("H", raw.record("main") + 4, 0x10))
    assert_reported(problems, "invalid flag combination")


def test_keys_out_of_order_are_reported(tmp_path):
    path = build(tmp_path / "env", put_many)

    def forge(raw):
        leaf = raw.leftmost_leaf(raw.u64(raw.record("main") + 40))
        o = raw.node(leaf, 1)
        ksize = raw.u16(o + 6)
        raw.buf[o + 8 : o + 8 + ksize] = b"\x00" * ksize

    assert_reported(problems_after(path, forge), "out of order")


def test_dirty_page_at_rest_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)

    def forge(raw):
        leaf = raw.leftmost_leaf(raw.u64(raw.record("main") + 40))
        raw.put("H", leaf * raw.psize + 10, raw.flags(leaf) | 0x10)

    assert_reported(problems_after(path, forge), "P_DIRTY")


def test_leaf_with_overflow_flag_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)

    def forge(raw):
        leaf = raw.leftmost_leaf(raw.u64(raw.record("main") + 40))
        raw.put("H", leaf * raw.psize + 10, raw.flags(leaf) | 0x04)

    assert_reported(problems_after(path, forge), "mixed or invalid page flags")


def test_bad_upper_bound_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)

    def forge(raw):
        leaf = raw.leftmost_leaf(raw.u64(raw.record("main") + 40))
        raw.put("H", leaf * raw.psize + 14, raw.psize + 8)

    assert_reported(problems_after(path, forge), "bad mp_lower/mp_upper")


def test_truncated_file_is_reported(tmp_path):
    path = build(tmp_path / "env", put_many)

    def forge(raw):
        root = raw.u64(raw.record("main") + 40)
        del raw.buf[root * raw.psize :]

    assert_reported(problems_after(path, forge), "beyond EOF")


def test_overflow_header_page_count_is_checked(tmp_path):
    path = build(tmp_path / "env", fill_overflow_and_free)

    def forge(raw):
        first = raw.first_bigdata(raw.u64(raw.record("main") + 40))
        raw.put("I", first * raw.psize + 12, raw.u32(first * raw.psize + 12) + 1)

    assert_reported(problems_after(path, forge), "header mp_pages")


def test_overflow_pointer_at_a_tree_page_is_reported(tmp_path):
    path = build(tmp_path / "env", fill_overflow_and_free)

    def forge(raw):
        root = raw.u64(raw.record("main") + 40)
        leaf = raw.leftmost_leaf(root)
        for i in range(raw.nkeys(leaf)):
            o = raw.node(leaf, i)
            if raw.u16(o + 4) & 0x01:
                raw.put("Q", o + 8 + raw.u16(o + 6), leaf)
                return

    assert_reported(problems_after(path, forge), "not a pure overflow page")


def test_free_list_naming_a_live_page_is_reported(tmp_path):
    path = build(tmp_path / "env", lambda env: (put_many(env), delete_every_third(env)))

    def forge(raw):
        value = raw.first_free_value()
        raw.put("Q", value + 8, raw.u64(raw.record("main") + 40))

    assert_reported(problems_after(path, forge), "both reachable and in the freeDB")


def test_free_list_count_mismatch_is_reported(tmp_path):
    path = build(tmp_path / "env", lambda env: (put_many(env), delete_every_third(env)))
    problems = problems_after(path, lambda raw: raw.put("Q", raw.first_free_value(), 10**6))
    assert_reported(problems, "does not match value size")


def test_free_list_out_of_order_is_reported(tmp_path):
    path = build(tmp_path / "env", lambda env: (put_many(env), delete_every_third(env)))

    def forge(raw):
        value = raw.first_free_value()
        assert raw.u64(value) >= 2
        raw.put("Q", value + 16, raw.u64(value + 8))

    assert_reported(problems_after(path, forge), "not strictly descending")


def test_problem_list_is_capped(tmp_path):
    path = build(tmp_path / "env", lambda env: put_many(env, 20000))

    def forge(raw):  # wreck every page after the metas
        for pg in range(2, len(raw.buf) // raw.psize):
            raw.buf[pg * raw.psize : pg * raw.psize + HDR] = b"\xff" * HDR

    problems = problems_after(path, forge)
    assert 1 < len(problems) <= 201


# -- command line -------------------------------------------------------------------------


def test_cli_prints_ok_for_a_sound_file(tmp_path, capsys):
    path = build(tmp_path / "env", put_many)
    tool.main(["-e", path, "verify"])
    assert capsys.readouterr().out == "verify: OK\n"


def test_cli_single_file_flag(tmp_path, capsys):
    path = str(tmp_path / "single.mdb")
    lmdb.open(path, subdir=False).close()
    tool.main(["-s", "verify", path])
    assert capsys.readouterr().out == "verify: OK\n"


def test_cli_lists_problems_and_exits_1(tmp_path, capsys):
    path = build(tmp_path / "env", put_many)
    problems_after(path, lambda raw: raw.put("Q", raw.record("main") + 32, 1))
    with pytest.raises(SystemExit) as exc:
        tool.main(["verify", path])
    assert exc.value.code == 1
    captured = capsys.readouterr()
    assert "entries, record says 1" in captured.out
    assert "FAILED (1 problem)" in captured.err


# -- properties -----------------------------------------------------------------------------

keys = st.binary(min_size=1, max_size=40)
records = st.lists(st.tuples(keys, st.binary(max_size=3000)), max_size=120)
dups = st.lists(st.tuples(keys, st.binary(min_size=1, max_size=40)), max_size=400)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plain=records, dupsorted=dups, deleted=st.sets(keys, max_size=40))
def test_anything_lmdb_writes_verifies_clean(tmp_path_factory, plain, dupsorted, deleted):
    def fill(env):
        db = env.open_db(b"dups", dupsort=True)
        with env.begin(write=True) as txn:
            for key, value in plain:
                txn.put(key, value)
            for key, value in dupsorted:
                txn.put(key, value, db=db)
        with env.begin(write=True) as txn:
            for key in deleted:
                txn.delete(key)
                txn.delete(key, db=db)

    path = build(tmp_path_factory.mktemp("env"), fill)
    assert verify.verify(path) == []


_BASE: dict = {}


def _base_file(tmp_path_factory) -> bytes:
    if "data" not in _BASE:
        path = build(
            tmp_path_factory.mktemp("base"),
            lambda env: (
                put_many(env),
                delete_every_third(env),
                fill_dupsort(env),
                fill_overflow_and_free(env),
            ),
        )
        with open(os.path.join(path, "data.mdb"), "rb") as f:
            _BASE["data"] = f.read()
    return _BASE["data"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_corruption_never_crashes_the_verifier(tmp_path_factory, edits, cut):
    data = bytearray(_base_file(tmp_path_factory))
    for where, patch in edits:
        at = int(where * (len(data) - len(patch)))
        data[at : at + len(patch)] = patch
    if cut is not None:
        del data[int(cut * len(data)) :]
    target = tmp_path_factory.mktemp("forged") / "data.mdb"
    target.write_bytes(bytes(data))
    try:
        result = verify.verify(str(target), subdir=False)
    except verify.VerifyError:
        return
    assert isinstance(result, list) and all(isinstance(p, str) for p in result)


# -- LMDB 1.0 files (written by zlmdb's own 1.0 engine) -------------------------------------


@pytest.fixture
def lmdb_1_0_path(tmp_path):
    path = str(tmp_path / "env10")
    env = lmdb.open(path, lib_version=1, max_dbs=4, map_size=64 << 20)
    dups = env.open_db(b"dups", dupsort=True, dupfixed=True)
    with env.begin(write=True) as txn:
        for i in range(2000):
            txn.put(b"k%06d" % i, b"v" * (i % 50))
        for i in range(20):
            txn.put(b"big%02d" % i, b"x" * 9000)
        for i in range(8):
            for j in range(2 if i % 2 else 700):
                txn.put(b"d%d" % i, struct.pack("=Q", j), db=dups)
    with env.begin(write=True) as txn:
        for i in range(0, 2000, 3):
            txn.delete(b"k%06d" % i)
    env.close()
    with open(os.path.join(path, "data.mdb"), "rb") as f:
        assert struct.unpack_from(BO + "I", f.read(64), 24)[0] == 0xBEEFC0DE  # 1.0 layout
    return path


def test_lmdb_1_0_file_verifies_clean(lmdb_1_0_path):
    assert verify.verify(lmdb_1_0_path) == []


def test_lmdb_1_0_forged_overflow_page_count_is_reported(lmdb_1_0_path):
    path = os.path.join(lmdb_1_0_path, "data.mdb")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    psize = struct.unpack_from(BO + "I", data, 24 + 24)[0]
    checker = verify._Verifier(io.BytesIO(bytes(data)), len(data))
    assert checker.verify() == []
    # find a leaf node with F_BIGDATA: 1.0 leaf, node offsets relative to the header end
    for pgno in range(2, checker.next_pgno):
        base = pgno * psize
        flags, lower = struct.unpack_from(BO + "HH", data, base + 18)
        if flags != 0x02 or not checker.live[pgno]:
            continue
        for i in range(lower // 2):
            node = base + 24 + struct.unpack_from(BO + "H", data, base + 24 + 2 * i)[0]
            nflags, ksize = struct.unpack_from(BO + "HH", data, node + 4)
            if nflags & 0x01:
                op_pages = node + 8 + ksize + (ksize & 1) + 16
                struct.pack_into(
                    BO + "Q", data, op_pages, struct.unpack_from(BO + "Q", data, op_pages)[0] + 1
                )
                problems = verify._Verifier(io.BytesIO(bytes(data)), len(data)).verify()
                assert_reported(problems, "overflow op_pages")
                return
    raise AssertionError("no overflow value found")


def test_lmdb_1_0_page_newer_than_the_snapshot_is_reported(lmdb_1_0_path):
    path = os.path.join(lmdb_1_0_path, "data.mdb")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    checker = verify._Verifier(io.BytesIO(bytes(data)), len(data))
    assert checker.verify() == []
    root = checker.meta.main.root
    struct.pack_into(BO + "Q", data, root * checker.psize + 8, checker.meta.txnid + 1)
    problems = verify._Verifier(io.BytesIO(bytes(data)), len(data)).verify()
    assert_reported(problems, "newer than the snapshot")
