"""Cursor.getmulti / Cursor.putmulti against a per-key model, on both sides of the size from
which C works in key order (ZL_SORT_MIN): the results, counts, errors and the cursor's final
position must be those of looking up / putting the items one by one in input order.

The model uses independent code paths: Transaction.get / Cursor.set_key + iternext_dup for
lookups, Transaction.put / Cursor.put for writes.
"""

from __future__ import annotations

import random
import struct
import tempfile
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zlmdb.lmdb as lmdb
from zlmdb.lmdb._ffi import lib

SORT_MIN = lib.ZL_SORT_MIN
SIZES = [0, 1, SORT_MIN - 1, SORT_MIN, SORT_MIN + 1, 300, 3000]

# name -> open_db keyword arguments, and how keys of the kind are made from an int
KINDS: Dict[str, Tuple[Dict[str, Any], Any]] = {
    "plain": ({}, lambda i: b"k%07d" % i),
    "varlen": ({}, lambda i: b"p" + str(i * 37).encode() + b"x" * (i % 5)),
    "dupsort": ({"dupsort": True}, lambda i: b"d%06d" % i),
    "reversekey": ({"reverse_key": True}, lambda i: b"%06d" % i + b"r"),
    "integerkey4": ({"integerkey": True}, lambda i: struct.pack("=I", i * 3)),
    "integerkey8": ({"integerkey": True}, lambda i: struct.pack("=Q", i * 3 + (1 << 40))),
    "integermixed": (
        {"integerkey": True},
        lambda i: struct.pack("=I", i) if i % 2 else struct.pack("=Q", i),
    ),
}
RECORDS = 2000


def value_of(key: bytes, n: int = 0) -> bytes:
    return b"v" + key[::-1] + b"-%d" % n + b"." * (len(key) % 7)


def fill(env: Any, db: Any, kind: str) -> List[bytes]:
    """Every other key of the kind exists (so the odd ones are missing); dupsort keys have
    1..4 duplicates. Returns all RECORDS * 2 candidate keys, existing and missing."""
    make = KINDS[kind][1]
    keys = [make(i) for i in range(RECORDS * 2)]
    with env.begin(write=True, db=db) as txn:
        for i, k in enumerate(keys):
            if i % 2 == 0:
                for n in range(1 + (i // 2) % 4 if kind == "dupsort" else 1):
                    txn.put(k, value_of(k, n))
    return keys


@pytest.fixture
def big_env(tmp_path):
    e = lmdb.open(str(tmp_path / "multi"), max_dbs=16, map_size=256 << 20)
    yield e
    e.close()


def open_kind(env: Any, kind: str, name: bytes = b"") -> Any:
    return env.open_db(kind.encode() + name, **KINDS[kind][0])


def model_get(txn: Any, db: Any, keys: List[bytes], dupdata: bool, values: bool) -> List[Any]:
    out: List[Any] = []
    cur = txn.cursor(db)
    for k in keys:
        if dupdata:
            if cur.set_key(k):
                out.extend((k, v) for v in cur.iternext_dup())
        else:
            v = txn.get(k, db=db)
            if v is not None:
                out.append((k, v) if values else k)
    return out


def key_lists(keys: List[bytes], n: int, rng: random.Random) -> Dict[str, List[bytes]]:
    """Inputs of n keys: random (present, missing and repeated), sorted, reverse-sorted,
    all the same key."""
    pick = [rng.choice(keys) for _ in range(n)]
    if n > 2:
        pick[rng.randrange(n)] = pick[0]  # a repeated key
    return {
        "random": pick,
        "sorted": sorted(pick),
        "reverse": sorted(pick, reverse=True),
        "same": [keys[0]] * n,
    }


def position(cur: Any) -> Any:
    """What the cursor tells about where it is: its item, then the next two moves."""
    return [cur.item(), cur.next(), cur.item(), cur.prev(), cur.item()]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_getmulti_equals_per_key_lookups(big_env, kind: str) -> None:
    db = open_kind(big_env, kind)
    keys = fill(big_env, db, kind)
    rng = random.Random(kind)
    with big_env.begin(db=db) as txn:
        for n in SIZES:
            for order, ks in key_lists(keys, n, rng).items():
                for dupdata, values in ((False, True), (False, False), (True, True)):
                    if dupdata and kind != "dupsort":
                        continue  # (LMDB's NEXT_DUP is NEXT there: the rest of the db)
                    got = txn.cursor(db).getmulti(ks, dupdata=dupdata, values=values)
                    want = model_get(txn, db, ks, dupdata, values)
                    assert got == want, (kind, n, order, dupdata, values)


@pytest.mark.parametrize("kind", ["plain", "dupsort", "reversekey", "integerkey8"])
def test_getmulti_leaves_the_cursor_where_the_last_lookup_does(big_env, kind: str) -> None:
    db = open_kind(big_env, kind)
    keys = fill(big_env, db, kind)
    rng = random.Random(1)
    with big_env.begin(db=db) as txn:
        for n in (SORT_MIN - 1, SORT_MIN + 5, 500):
            for last_missing in (False, True):
                ks = [rng.choice(keys) for _ in range(n)]
                ks[-1] = keys[1] if last_missing else keys[2]
                for dupdata in (False, True):
                    a = txn.cursor(db)
                    a.getmulti(ks, dupdata=dupdata)
                    b = txn.cursor(db)  # input order, one key per call
                    for k in ks:
                        b.getmulti([k], dupdata=dupdata)
                    assert position(a) == position(b), (kind, n, last_missing, dupdata)


def test_getmulti_dupfixed_and_keyfixed(big_env) -> None:
    db = big_env.open_db(b"fixed", dupsort=True, dupfixed=True)
    keys = [b"f%05d" % i for i in range(1000)]
    with big_env.begin(write=True, db=db) as txn:
        for i, k in enumerate(keys):
            if i % 3:
                for n in range(1 + i % 600):  # some keys' duplicates span several pages
                    txn.put(k, struct.pack(">I", n * 7 + i))
    rng = random.Random(5)
    with big_env.begin(db=db) as txn:
        for n in SIZES[:6]:
            ks = [rng.choice(keys) for _ in range(n)]
            want = model_get(txn, db, ks, True, True)
            got = txn.cursor(db).getmulti(ks, dupdata=True, dupfixed_bytes=4)
            assert got == want
            packed = txn.cursor(db).getmulti(ks, dupdata=True, dupfixed_bytes=4, keyfixed=True)
            assert bytes(packed) == b"".join(k + v for k, v in want)
            # 2-byte units split each 4-byte value in two
            halves = txn.cursor(db).getmulti(ks, dupdata=True, dupfixed_bytes=2)
            assert halves == [(k, h) for k, v in want for h in (v[:2], v[2:])]


def test_getmulti_keyfixed_needs_one_key_size_on_both_sides_of_the_threshold(big_env) -> None:
    db = big_env.open_db(b"fixed2", dupsort=True, dupfixed=True)
    with big_env.begin(write=True, db=db) as txn:
        for i in range(100):
            txn.put(b"a%d" % i, b"12")
    with big_env.begin(db=db) as txn:
        for n in (3, SORT_MIN + 3, 90):
            ks = [b"a%d" % (i + 8) for i in range(n)]  # a8, a9, then two-digit keys
            with pytest.raises(ValueError, match="same size"):
                txn.cursor(db).getmulti(ks, dupdata=True, dupfixed_bytes=2, keyfixed=True)
            same = [b"a%d" % (i + 10) for i in range(min(n, 90))]
            got = txn.cursor(db).getmulti(same, dupdata=True, dupfixed_bytes=2, keyfixed=True)
            assert bytes(got) == b"".join(k + b"12" for k in same)


def test_getmulti_errors_and_other_key_types_above_the_threshold(big_env) -> None:
    db = open_kind(big_env, "plain")
    keys = fill(big_env, db, "plain")
    ks = keys[: SORT_MIN * 4 : 3]
    with big_env.begin(db=db) as txn:
        want = model_get(txn, db, ks, False, True)
        for convert in (bytearray, memoryview, lambda b: b):
            mixed = [convert(k) if i % 2 else k for i, k in enumerate(ks)]
            assert txn.cursor(db).getmulti(mixed) == want
        with pytest.raises(lmdb.BadValsizeError):
            txn.cursor(db).getmulti(ks[:10] + [b""] + ks[10:])
        with pytest.raises(TypeError):
            txn.cursor(db).getmulti(ks[:10] + ["text"] + ks[10:])
        with pytest.raises(lmdb.BadValsizeError):  # None is taken as the empty key
            txn.cursor(db).getmulti(ks[:10] + [None] + ks[10:])
    with big_env.begin(db=db, buffers=True) as txn:
        got = txn.cursor(db).getmulti(ks)
        assert [(bytes(k), bytes(v)) for k, v in got] == want


def dump(txn: Any, db: Any) -> List[Tuple[bytes, bytes]]:
    return list(txn.cursor(db))


def put_model(txn: Any, db: Any, items: List[Tuple[bytes, bytes]], **flags: Any) -> Any:
    """Cursor.put item by item: the counts putmulti must report, and the model's cursor."""
    cur = txn.cursor(db)
    added = 0
    for k, v in items:
        added += cur.put(k, v, **flags)
    return (len(items), added), cur


def assert_putmulti_as_model(txn: Any, a: Any, b: Any, items: List[Any], flags: Any) -> None:
    """putmulti of ``items`` into db ``a`` gives the counts, contents and cursor position
    of putting them one by one into db ``b`` (which held the same items before)."""
    cur = txn.cursor(a)
    got = cur.putmulti(items, **flags)
    want, model_cur = put_model(txn, b, items, **flags)
    assert got == want
    assert dump(txn, a) == dump(txn, b)
    assert position(cur) == position(model_cur)


FLAG_SETS = [
    {},
    {"overwrite": False},
    {"dupdata": False},
    {"dupdata": False, "overwrite": False},
]


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(
    kind=st.sampled_from(["plain", "varlen", "dupsort", "reversekey", "integerkey4"]),
    flags=st.sampled_from(FLAG_SETS),
    n=st.sampled_from([0, 1, SORT_MIN - 1, SORT_MIN, SORT_MIN + 1, 200, 1500]),
    pool=st.integers(min_value=1, max_value=3000),
    seed=st.integers(min_value=0, max_value=2**31),
    order=st.sampled_from(["random", "sorted", "reverse"]),
)
def test_putmulti_equals_puts_in_input_order(kind, flags, n, pool, seed, order) -> None:
    rng = random.Random(seed)
    make = KINDS[kind][1]
    # Keys repeat (in the input and with what is stored); values repeat too (dupsort pairs).
    items = [(make(rng.randrange(pool)), b"w%d" % rng.randrange(4)) for _ in range(n)]
    if order == "sorted":
        items.sort(key=lambda kv: kv[0])  # stable: each key's items stay in input order
    elif order == "reverse":
        items.sort(key=lambda kv: kv[0], reverse=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = lmdb.open(tmp, max_dbs=4, map_size=64 << 20)
        try:
            a = open_kind(env, kind, b"a")
            b = open_kind(env, kind, b"b")
            with env.begin(write=True) as txn:
                for i in range(0, pool, 3):  # stored before
                    txn.put(make(i), b"old", db=a)
                    txn.put(make(i), b"old", db=b)
                assert_putmulti_as_model(txn, a, b, items, flags)
        finally:
            env.close()


@pytest.mark.parametrize("kind", ["plain", "dupsort"])
def test_putmulti_last_and_first_wins_for_repeated_keys(big_env, kind: str) -> None:
    a = open_kind(big_env, kind, b"a")
    b = open_kind(big_env, kind, b"b")
    items = [(b"k%03d" % (i % 40), b"%05d" % (i * 7919 % 1000)) for i in range(400)]
    random.Random(3).shuffle(items)
    with big_env.begin(write=True) as txn:
        for flags in FLAG_SETS:
            txn.drop(a, delete=False)
            txn.drop(b, delete=False)
            assert txn.cursor(a).putmulti(items, **flags) == put_model(txn, b, items, **flags)[0]
            assert dump(txn, a) == dump(txn, b)
        if kind == "plain":
            txn.drop(a, delete=False)
            txn.cursor(a).putmulti(items)
            last = {k: v for k, v in items}
            assert dump(txn, a) == sorted(last.items())
            txn.drop(a, delete=False)
            txn.cursor(a).putmulti(items, overwrite=False)
            first: Dict[bytes, bytes] = {}
            for k, v in items:
                first.setdefault(k, v)
            assert dump(txn, a) == sorted(first.items())


@pytest.mark.parametrize("kind", ["plain", "dupsort"])
@pytest.mark.parametrize("where", [0, 1, SORT_MIN - 1, SORT_MIN, 57, 299])
@pytest.mark.parametrize("bad", ["empty key", "long key", "long dupsort value"])
def test_putmulti_bad_item_writes_the_items_before_it(big_env, kind, where, bad) -> None:
    if bad == "long dupsort value" and kind != "dupsort":
        pytest.skip("values of any size are fine outside dupsort dbs")
    a = open_kind(big_env, kind, b"a")
    b = open_kind(big_env, kind, b"b")
    items = [(b"%06d" % (i * 7919 % 100000), b"v%d" % i) for i in range(300)]
    big = b"x" * (big_env.max_key_size() + 1)
    items[where] = {
        "empty key": (b"", b"v"),
        "long key": (big, b"v"),
        "long dupsort value": (b"000001", big),
    }[bad]
    with big_env.begin(write=True) as txn:
        with pytest.raises(lmdb.BadValsizeError, match=f"element #{where}"):
            txn.cursor(a).putmulti(items)
        put_model(txn, b, items[:where])
        assert dump(txn, a) == dump(txn, b)
        # the transaction is still usable, and the rest can go in after the bad item
        rest = items[where + 1 :]
        assert txn.cursor(a).putmulti(rest) == put_model(txn, b, rest)[0]
        assert dump(txn, a) == dump(txn, b)


def test_putmulti_append_keeps_input_order(big_env) -> None:
    for kind in ("plain", "dupsort"):
        a = open_kind(big_env, kind, b"a")
        b = open_kind(big_env, kind, b"b")
        items = [(b"%05d" % (i * 37 % 1000), b"v%d" % (i % 3)) for i in range(500)]
        items[100:200] = sorted(items[100:200])  # a sorted stretch among unsorted ones
        with big_env.begin(write=True) as txn:
            got = txn.cursor(a).putmulti(items, append=True)
            want, _ = put_model(txn, b, items, append=True)
            assert got == want
            if kind == "plain":  # (dupsort: append=True is APPENDDUP, keys in any order)
                assert got[1] < got[0]  # out-of-order keys were refused, as one by one
            assert dump(txn, a) == dump(txn, b)


def test_putmulti_other_item_types_above_the_threshold(big_env) -> None:
    class Key(bytes):
        pass

    a = open_kind(big_env, "plain", b"a")
    b = open_kind(big_env, "plain", b"b")
    items = [(b"%04d" % (i * 13 % 997), b"v%d" % i) for i in range(SORT_MIN * 3)]
    mixed = [
        (Key(k), bytearray(v)) if i % 3 == 0 else (memoryview(k), v) if i % 3 == 1 else (k, v)
        for i, (k, v) in enumerate(items)
    ]
    with big_env.begin(write=True) as txn:
        assert txn.cursor(a).putmulti(mixed) == put_model(txn, b, items)[0]
        assert dump(txn, a) == dump(txn, b)
        assert txn.cursor(a).putmulti(iter(items)) == put_model(txn, b, items)[0]
        assert (
            txn.cursor(a).putmulti(dict(items).items()) == put_model(txn, b, dict(items).items())[0]
        )
        for bad in ([b"k", b"v"], (b"k", b"v", b"x"), (b"k",), (b"k", None), (b"k", "text")):
            with pytest.raises(TypeError):
                txn.cursor(a).putmulti(items[:20] + [bad] + items[20:])


def test_putmulti_in_a_read_only_transaction_fails_on_the_first_item(big_env) -> None:
    db = open_kind(big_env, "plain")
    items = [(b"%04d" % (i * 13 % 997), b"v") for i in range(SORT_MIN * 3)]
    with big_env.begin(db=db) as txn:
        for n in (1, len(items)):
            with pytest.raises(lmdb.ReadonlyError, match="element #0"):
                txn.cursor(db).putmulti(items[:n])


def test_putmulti_map_full_raises_and_the_transaction_aborts(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "small"), map_size=1 << 20)
    try:
        items = [(b"%08d" % (i * 7919 % 100000), b"v" * 200) for i in range(20000)]
        with pytest.raises(lmdb.MapFullError, match="element #"):
            with env.begin(write=True) as txn:
                txn.cursor().putmulti(items)
        with env.begin() as txn:
            assert txn.stat()["entries"] == 0  # nothing of the failed transaction is kept
    finally:
        env.close()


@pytest.mark.parametrize("count", [100, 2500])  # merge sort alone; radix passes first
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_key_order_is_the_databases_own(big_env, kind: str, count: int) -> None:
    """What C sorts by (zl_multi_order) is the order the database stores keys in, ties
    (equal keys, keys equal in the radix bytes) kept in input order; INTEGERKEY keys of
    mixed sizes stay in input order (their comparator reads past the shorter key)."""
    from zlmdb.lmdb._ffi import ffi

    db = open_kind(big_env, kind)
    rng = random.Random(kind)
    make = KINDS[kind][1]
    keys = [make(rng.randrange(3000)) for _ in range(count)]
    if kind in ("plain", "varlen"):  # prefixes, zero bytes, keys alike but for the end
        keys += [b"k", b"k\x00", b"k\x00\x00", b"k000000", b"k0000000", b"k00000000\x00"]
        keys += [b"\x00" * n for n in range(1, 12)] + [b"\xff" * 9, b"\xff" * 8 + b"\x00"]
    if kind == "reversekey":
        keys += [b"r", b"\x00r", b"\x00\x00r", b"0000000r", b"00000000r", b"\x0000000000r"]
    rng.shuffle(keys)
    with big_env.begin(write=True, db=db) as txn:
        for k in keys:
            txn.put(k, b"v")
        stored = list(txn.cursor(db).iternext(values=False))
        rank = {k: i for i, k in enumerate(stored)}
        order = ffi.new("size_t[]", len(keys))
        offs = [0]
        for k in keys:
            offs.append(offs[-1] + len(k))
        cur = txn.cursor(db)
        rc = lib.zl_multi_order(cur._c, b"".join(keys), ffi.new("size_t[]", offs), len(keys), order)
        got = [order[i] for i in range(len(keys))]
        if kind == "integermixed":
            assert rc == 1 and got == list(range(len(keys)))
        else:
            assert rc == 0
            assert got == sorted(range(len(keys)), key=lambda i: (rank[keys[i]], i))


@pytest.mark.parametrize("kind", ["plain", "dupsort", "reversekey"])
def test_putmulti_items_past_the_last_key(big_env, kind: str) -> None:
    """Sorted items past the database's last key are appended (MDB_APPEND); repeated keys
    there, and items below and above the last key mixed, end as one by one."""
    make = KINDS[kind][1]
    rng = random.Random(11)
    for flags in FLAG_SETS:
        a = open_kind(big_env, kind, b"a")
        b = open_kind(big_env, kind, b"b")
        with big_env.begin(write=True) as txn:
            txn.drop(a, delete=False)
            txn.drop(b, delete=False)
            for i in range(100, 200, 2):
                txn.put(make(i), b"old", db=a)
                txn.put(make(i), b"old", db=b)
            items = [(make(rng.randrange(400)), b"n%d" % rng.randrange(3)) for _ in range(900)]
            assert_putmulti_as_model(txn, a, b, items, flags)
            more = [(make(1000 + i // 3), b"m%d" % (i % 2)) for i in range(300)]  # all past
            assert txn.cursor(a).putmulti(more, **flags) == put_model(txn, b, more, **flags)[0]
            assert dump(txn, a) == dump(txn, b)
