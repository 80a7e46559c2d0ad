"""zlmdb.lmdb.Cursor: positioning, iteration, writes, dupsort moves and multi-key calls."""

from __future__ import annotations

import itertools
import random

import pytest

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."
KEYS = [b"a", b"b", b"c", b"d"]


@pytest.fixture
def filled(env):
    with env.begin(write=True) as txn:
        for k in KEYS:
            txn.put(k, k.upper())
    return env


@pytest.fixture
def dups(env):
    db = env.open_db(b"dups", dupsort=True)
    with env.begin(write=True, db=db) as txn:
        for k, vs in ((b"a", b"12"), (b"b", b"123"), (b"c", b"1")):
            for v in vs:
                txn.put(k, bytes([v]))
    return env, db


@pytest.mark.parametrize("write", [False, True])
def test_new_cursor_is_unpositioned(filled, write: bool) -> None:
    with filled.begin(write=write) as txn:
        cur = txn.cursor()
        assert cur.key() == b"" and cur.value() == b"" and cur.item() == (b"", b"")


def test_first_last_next_prev(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        assert cur.first() and cur.key() == b"a"
        assert cur.next() and cur.key() == b"b"
        assert cur.last() and cur.item() == (b"d", b"D")
        assert cur.prev() and cur.value() == b"C"


def test_next_on_fresh_cursor_acts_as_first_and_prev_as_last(filled) -> None:
    with filled.begin() as txn:
        assert txn.cursor().next() and txn.cursor().prev()
        cur = txn.cursor()
        cur.prev()
        assert cur.key() == b"d"


def test_moving_past_the_end_unpositions(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        cur.last()
        assert cur.next() is False
        assert cur.key() == b""
        assert cur.next() is False


def test_first_on_empty_db_is_false(env) -> None:
    with env.begin() as txn:
        assert txn.cursor().first() is False


def test_set_key_exact_match_only(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        assert cur.set_key(b"c") and cur.value() == b"C"
        assert cur.set_key(b"bb") is False and cur.key() == b""
        with pytest.raises(lmdb.BadValsizeError):
            cur.set_key(b"")


def test_set_range_finds_first_key_at_or_after(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        assert cur.set_range(b"bb") and cur.key() == b"c"
        assert cur.set_range(b"") and cur.key() == b"a"
        assert cur.set_range(b"z") is False


def test_get_moves_and_returns_value_or_default(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        assert cur.get(b"b") == b"B"
        assert cur.get(b"x", b"none") == b"none"


@pytest.mark.parametrize("write", [False, True])
def test_iteration_starts_at_first_and_restarts_after_a_full_pass(filled, write: bool) -> None:
    with filled.begin(write=write) as txn:
        cur = txn.cursor()
        assert list(cur) == [(k, k.upper()) for k in KEYS]
        assert [k for k, _ in cur] == KEYS


@pytest.mark.parametrize("write", [False, True])
def test_iteration_continues_from_the_current_item(filled, write: bool) -> None:
    with filled.begin(write=write) as txn:
        cur = txn.cursor()
        cur.set_key(b"b")
        assert list(cur.iternext(values=False)) == [b"b", b"c", b"d"]
        cur.set_key(b"c")
        assert list(cur.iterprev(keys=False)) == [b"C", b"B", b"A"]


@pytest.mark.parametrize("write", [False, True])
def test_unpositioned_iterprev_starts_at_last(filled, write: bool) -> None:
    with filled.begin(write=write) as txn:
        assert list(txn.cursor().iterprev(values=False)) == KEYS[::-1]


def test_other_moves_during_block_iteration_resume_from_there(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(100):
            txn.put(b"%03d" % i, b"v")
    with env.begin() as txn:
        cur = txn.cursor()
        it = cur.iternext(values=False)
        assert next(it) == b"000"
        assert cur.key() == b"000"
        cur.set_key(b"050")
        assert next(it) == b"051"


def test_iteration_stops_after_deleting_the_rest(filled) -> None:
    with filled.begin(write=True) as txn:
        cur = txn.cursor()
        seen = []
        for key, _ in cur:
            seen.append(key)
            for k in KEYS:
                txn.delete(k)
        assert seen == [b"a"]


def test_delete_moves_to_the_next_item(filled) -> None:
    with filled.begin(write=True) as txn:
        cur = txn.cursor()
        cur.set_key(b"b")
        assert cur.delete()
        assert cur.key() == b"c"
        assert txn.get(b"b") is None
        assert txn.cursor().delete() is False


def test_put_through_cursor_positions_on_the_item(filled) -> None:
    with filled.begin(write=True) as txn:
        cur = txn.cursor()
        assert cur.put(b"bb", b"BB")
        assert cur.item() == (b"bb", b"BB")
        assert cur.put(b"bb", b"x", overwrite=False) is False


def test_cursor_replace_and_pop(filled) -> None:
    with filled.begin(write=True) as txn:
        cur = txn.cursor()
        assert cur.replace(b"a", b"new") == b"A"
        assert cur.pop(b"a") == b"new"
        assert cur.pop(b"a") is None


def test_putmulti_counts_consumed_and_added(env) -> None:
    with env.begin(write=True) as txn:
        cur = txn.cursor()
        txn.put(b"b", b"old")
        assert cur.putmulti([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], overwrite=False) == (3, 2)
        assert txn.get(b"b") == b"old"


def test_putmulti_accepts_only_two_tuples(env) -> None:
    with env.begin(write=True) as txn:
        cur = txn.cursor()
        with pytest.raises(TypeError):
            cur.putmulti([[b"a", b"1"]])
        with pytest.raises(TypeError):
            cur.putmulti([(b"a", b"1", b"x")])


def test_getmulti_skips_missing_keys(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        assert cur.getmulti([b"a", b"x", b"c"]) == [(b"a", b"A"), (b"c", b"C")]
        assert cur.getmulti([b"d", b"b"], values=False) == [b"d", b"b"]


def test_getmulti_argument_validation(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        with pytest.raises(TypeError):
            cur.getmulti([b"a"], dupdata=True, values=False)
        with pytest.raises(TypeError):
            cur.getmulti([b"a"], dupfixed_bytes=1)
        with pytest.raises(TypeError):
            cur.getmulti([b"a"], dupdata=True, keyfixed=True)
        with pytest.raises(OverflowError):
            cur.getmulti([b"a"], dupdata=True, dupfixed_bytes=-1)


def test_getmulti_keyfixed_packs_key_value_records(env) -> None:
    db = env.open_db(b"fx", dupsort=True, dupfixed=True)
    with env.begin(write=True, db=db) as txn:
        for k in (b"k1", b"k2"):
            for v in (b"\x01\x00", b"\x02\x00"):
                txn.put(k, v)
        packed = txn.cursor().getmulti(
            [b"k1", b"k2"], dupdata=True, dupfixed_bytes=2, keyfixed=True
        )
        assert bytes(packed) == b"k1\x01\x00k1\x02\x00k2\x01\x00k2\x02\x00"


def test_dup_moves(dups) -> None:
    env, db = dups
    with env.begin(db=db) as txn:
        cur = txn.cursor()
        assert cur.set_key(b"b") and cur.count() == 3
        assert cur.last_dup() and cur.value() == b"3"
        assert cur.prev_dup() and cur.value() == b"2"
        assert cur.first_dup() and cur.value() == b"1"
        assert cur.prev_dup() is False
        assert cur.set_key(b"b") and cur.next_nodup() and cur.item() == (b"c", b"1")
        assert cur.prev_nodup() and cur.item() == (b"b", b"3")
        assert cur.set_key_dup(b"a", b"2") and cur.set_key_dup(b"a", b"9") is False
        assert cur.set_range_dup(b"b", b"15") and cur.value() == b"2"


def test_dup_iterators(dups) -> None:
    env, db = dups
    with env.begin(db=db) as txn:
        cur = txn.cursor()
        cur.set_key(b"b")
        assert list(cur.iternext_dup()) == [b"1", b"2", b"3"]
        assert list(txn.cursor().iternext_nodup()) == [b"a", b"b", b"c"]
        assert list(txn.cursor().iterprev_nodup(values=True)) == [
            (b"c", b"1"),
            (b"b", b"3"),
            (b"a", b"2"),
        ]


def test_dup_methods_on_plain_db_raise_incompatible(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        cur.first()
        with pytest.raises(lmdb.IncompatibleError):
            cur.count()
        with pytest.raises(lmdb.IncompatibleError):
            cur.set_key_dup(b"a", b"A")
        with pytest.raises(lmdb.IncompatibleError):
            cur.first_dup()


def test_first_dup_on_unpositioned_cursor_raises_invalid_parameter(dups) -> None:
    env, db = dups
    with env.begin(db=db) as txn, pytest.raises(lmdb.InvalidParameterError):
        txn.cursor().first_dup()


def test_next_and_prev_after_a_failed_lookup_in_dupsort_db_are_safe(dups) -> None:
    # LMDB 0.9 leaves a stale duplicate sub-cursor after a failed MDB_SET; zlmdb re-seats
    # the cursor so the following move reads real data of the key at the insertion point.
    env, db = dups
    with env.begin(write=True, db=db) as txn:
        cur = txn.cursor()
        cur.set_key(b"b")
        cur.last_dup()
        assert cur.set_key(b"aa") is False
        assert cur.next() and cur.item() == (b"b", b"1")
        assert cur.set_key(b"aa") is False
        assert cur.prev_dup() and cur.item() == (b"b", b"3")


def test_cursor_methods_raise_closed_error_after_close(filled) -> None:
    with filled.begin() as txn:
        cur = txn.cursor()
        cur.first()
        cur.close()
        cur.close()
        for call in (cur.first, cur.key, cur.item, lambda: cur.set_key(b"a"), cur.count):
            with pytest.raises(lmdb.Error, match=CLOSED):
                call()


def test_cursor_dies_with_its_transaction(filled) -> None:
    txn = filled.begin()
    cur = txn.cursor()
    it = cur.iternext()
    next(it)
    txn.abort()
    with pytest.raises(lmdb.Error, match=CLOSED):
        cur.next()
    with pytest.raises(lmdb.Error):
        next(it)


def test_cursor_context_manager_closes(filled) -> None:
    with filled.begin() as txn:
        with txn.cursor() as cur:
            cur.first()
        with pytest.raises(lmdb.Error):
            cur.first()


def test_cursor_delete_after_the_txn_removed_a_sibling_duplicate_keeps_the_tree_sound(env) -> None:
    # LMDB 0.9 leaves this cursor's duplicate count stale after txn.pop() removed (a, 1);
    # deleting through it would keep key a with no duplicates (py-lmdb then crashes).
    db = env.open_db(b"dups", dupsort=True)
    with env.begin(write=True, db=db) as txn:
        txn.put(b"a", b"1")
        txn.put(b"a", b"x" * 40)
        txn.put(b"b", b"1")
        cur = txn.cursor()
        assert cur.first() and cur.item() == (b"a", b"1")
        assert txn.pop(b"a") == b"1"
        assert cur.item() == (b"a", b"x" * 40)
        assert cur.delete()
        assert cur.item() == (b"b", b"1")
        assert list(txn.cursor()) == [(b"b", b"1")]


def test_cursor_delete_after_the_txn_added_a_duplicate_removes_only_the_current_one(env) -> None:
    db = env.open_db(b"dups", dupsort=True)
    with env.begin(write=True, db=db) as txn:
        txn.put(b"e", b"1")
        cur = txn.cursor()
        assert cur.set_key(b"e")
        txn.put(b"e", b"2")  # turns the single value into a duplicate set
        assert cur.delete()
        assert list(txn.cursor()) == [(b"e", b"2")]


def test_mixed_cursor_and_txn_writes_on_dupsort_db_keep_the_tree_sound(env) -> None:
    # Two cursors and the txn itself move, write and delete on one dupsort db in a fixed
    # pseudo-random order (py-lmdb 3.0 corrupts the tree or crashes on such sequences).
    db = env.open_db(b"fuzz", dupsort=True)
    keys = [b"a", b"aa", b"b", b"c"]
    values = [b"1", b"22", b"333", b"x" * 40]
    moves = ["first", "last", "next", "prev", "first_dup", "last_dup", "next_dup",
             "prev_dup", "next_nodup", "prev_nodup", "item", "count"]  # fmt: skip
    for trial in range(300):
        rng = random.Random(trial)
        with env.begin(write=True, db=db) as txn:
            txn.drop(db, delete=False)
            for k in keys:
                for v in rng.sample(values, rng.randint(1, 3)):
                    txn.put(k, v)
            cursors = [txn.cursor(), txn.cursor()]
            for _ in range(20):
                cur = rng.choice(cursors)
                k = rng.choice(keys + [b"ab", b"z"])
                v = rng.choice(values + [b"9"])
                op = rng.randrange(10)
                try:
                    if op == 0:
                        txn.pop(k)
                    elif op == 1:
                        txn.delete(k, v)
                    elif op == 2:
                        cur.delete(dupdata=rng.random() < 0.3)
                    elif op == 3:
                        txn.put(k, v)
                    elif op == 4:
                        cur.put(k, v)
                    elif op == 5:
                        cur.set_key(k)
                    elif op == 6:
                        list(itertools.islice(cur.iternext(), 3))
                    else:
                        getattr(cur, rng.choice(moves))()
                except lmdb.Error as exc:
                    assert not isinstance(exc, (lmdb.CorruptedError, lmdb.PageNotFoundError))
            items = list(txn.cursor())
            assert all(0 < len(v) <= 40 for _, v in items), (trial, items)
            assert items == sorted(items)
            txn.abort()


def test_getmulti_and_putmulti_take_any_iterable_of_bytes_like(env) -> None:
    """Lists of plain bytes are packed at C speed; generators, bytearray, memoryview and
    arrays of wider items go item by item with the same results (an array's raw bytes are
    its key, as in get()); bad items raise TypeError and write nothing."""
    from array import array

    wide = array("i", [7, 8])
    with env.begin(write=True) as txn:
        cur = txn.cursor()
        assert cur.putmulti(kv for kv in [(b"a", b"1"), (bytearray(b"b"), memoryview(b"2"))]) == (
            2,
            2,
        )
        assert cur.putmulti([(wide, b"w"), (b"c", array("b", [51]))]) == (2, 2)
        for bad in ([(b"d", "str")], [("d", b"x")], [(b"d", None)], [(b"d", b"x"), [b"e", b"y"]]):
            with pytest.raises(TypeError):
                cur.putmulti(bad)
        assert txn.get(b"d") is None and txn.get(b"e") is None
    with env.begin() as txn:
        cur = txn.cursor()
        expect = [(b"a", b"1"), (b"b", b"2"), (wide.tobytes(), b"w"), (b"c", b"3")]
        assert cur.getmulti([b"a", b"b", wide.tobytes(), b"c"]) == expect
        assert cur.getmulti(iter([b"a", bytearray(b"b"), wide, memoryview(b"c")])) == expect
        assert cur.getmulti([b"c", b"zz", b"a"], values=False) == [b"c", b"a"]
        assert cur.getmulti([]) == [] and cur.getmulti(iter(())) == []
        with pytest.raises(TypeError):
            cur.getmulti([b"a", "b"])
        keys = [b"%05d" % i for i in range(300)]
    with env.begin(write=True) as txn:
        assert txn.cursor().putmulti([(k, k * 2) for k in keys]) == (300, 300)
    random.Random(3).shuffle(keys)
    with env.begin() as txn:
        assert txn.cursor().getmulti(keys) == [(k, k * 2) for k in keys]


def test_pair_lookups_take_none_as_the_empty_buffer(dups) -> None:
    # py-lmdb: set_key_dup/set_range_dup read None as b"" (set_key/set_range refuse it)
    env, db = dups
    with env.begin(db=db) as txn:
        cur = txn.cursor()
        assert cur.set_key_dup(b"q", None) is False and cur.key() == b""
        assert cur.set_range_dup(b"q", None) is False
        for key, value in ((b"a", None), (None, b"1"), (None, None)):
            with pytest.raises(lmdb.BadValsizeError):
                cur.set_key_dup(key, value)
            with pytest.raises(lmdb.BadValsizeError):
                cur.set_range_dup(key, value)
        with pytest.raises(lmdb.IncompatibleError):
            txn.cursor(env.open_db(None)).set_key_dup(b"a", None)
        with pytest.raises(TypeError):
            cur.set_key(None)
        with pytest.raises(TypeError):
            cur.set_key_dup(b"a", 5)
        assert cur.set_key_dup(b"b", b"2") and cur.item() == (b"b", b"2")


@pytest.mark.parametrize("buffers", [False, True])
def test_getmulti_keyfixed_returns_a_memoryview(env, buffers: bool) -> None:
    # as py-lmdb: callers may .cast() or .tobytes() the packed records
    db = env.open_db(b"fx", dupsort=True, dupfixed=True)
    with env.begin(write=True, db=db) as txn:
        for k in (b"k1", b"k2"):
            txn.put(k, b"\x01\x00\x00\x00")
    with env.begin(db=db, buffers=buffers) as txn:
        cur = txn.cursor()
        packed = cur.getmulti([b"k1", b"k2"], dupdata=True, dupfixed_bytes=4, keyfixed=True)
        assert isinstance(packed, memoryview) and packed.readonly
        assert packed.tobytes() == b"k1\x01\x00\x00\x00k2\x01\x00\x00\x00"
        assert packed.nbytes == 12 and packed[2:6].cast("I").tolist() == [1]
        none = cur.getmulti([b"zz"], dupdata=True, dupfixed_bytes=4, keyfixed=True)
        assert isinstance(none, memoryview) and none.tobytes() == b""
