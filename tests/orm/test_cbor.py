"""zlmdb._cbor against the installed cbor2: same bytes from dumps, same values (and the
same exceptions) from loads, for any input, on CPython and PyPy."""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import fractions
import math
import sys
import uuid
from collections.abc import Mapping
from typing import Any, Callable

import cbor2
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from zlmdb import _cbor

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (NaN equals NaN, 0.0 is not -0.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping):  # dicts and cbor2's frozendict keys; keys compared with
        # same() too, in order: two NaN objects are not == (nor equal as keys of a mapping)
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items())
        )
    if isinstance(a, (set, frozenset)):  # unordered: each element matched by one of b's
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    return bool(a == b)


def outcome(fn: Callable[[Any], Any], arg: Any) -> tuple:
    """("ok", result) or ("raise", exception type, message)."""
    try:
        return ("ok", fn(arg))
    except Exception as exc:
        return ("raise", type(exc), str(exc))


def assert_same_dumps(value: Any) -> None:
    ours, theirs = outcome(_cbor.dumps, value), outcome(cbor2.dumps, value)
    assert ours == theirs, (value, ours, theirs)


def encoded(value: Any) -> bytes:
    """cbor2's encoding of ``value``; skip the example if cbor2 cannot encode it."""
    try:
        return cbor2.dumps(value)
    except (cbor2.CBOREncodeError, UnicodeEncodeError):
        assume(False)
        raise


def assert_same_loads(data: Any) -> None:
    ours, theirs = outcome(_cbor.loads, data), outcome(cbor2.loads, data)
    assert ours[0] == theirs[0], (data, ours, theirs)
    if ours[0] == "ok":
        assert same(ours[1], theirs[1]), (data, ours, theirs)
    else:
        assert ours == theirs, (data, ours, theirs)


# -------------------------------------------------------------------------------- strategies

INTS = st.one_of(
    st.integers(-30, 30),
    st.integers(-(2**16), 2**16),
    st.integers(-(2**64) - 10, 2**64 + 10),
    st.integers(2**64 - 3, 2**64 + 3),
    st.integers(-(2**64) - 3, -(2**64) + 3),
    st.integers(-(2**200), 2**200),
)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
# all code points, lone surrogates included (which UTF-8 cannot encode: cbor2's error)
TEXT = st.one_of(st.text(max_size=40), st.text(st.characters(), max_size=5))
BYTES = st.binary(max_size=300)
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT, BYTES)
KEYS = st.one_of(
    TEXT,
    st.sampled_from(["oid", "name", "group", "score", "a", "b", "x" * 23, "x" * 24, ""]),
    INTS,
    st.booleans(),
    st.none(),
    BYTES,
    FLOATS.filter(lambda f: not math.isnan(f)),
    st.tuples(INTS, TEXT),
)
PLAIN = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=30),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(KEYS, children, max_size=12),
    ),
    max_leaves=60,
)


class Color(enum.IntEnum):
    RED = 1


class MyStr(str):
    pass


ODD = st.sampled_from(
    [
        collections.OrderedDict([("a", 1)]),
        collections.defaultdict(int, {"a": 1}),
        bytearray(b"xy"),
        memoryview(b"xy"),
        Color.RED,
        MyStr("abc"),
        {1, 2},
        frozenset({3}),
        datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        datetime.datetime(2020, 1, 2, 3, 4, 5),  # naive: cbor2 raises
        datetime.date(2020, 1, 2),
        decimal.Decimal("1.5"),
        fractions.Fraction(1, 3),
        uuid.UUID(int=5),
        complex(1, 2),
        object(),
        cbor2.undefined,
        cbor2.CBORTag(99, (1,)),
    ]
)
WITH_ODD = st.recursive(
    st.one_of(SCALARS, ODD),
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(st.one_of(TEXT, INTS), children, max_size=6),
    ),
    max_leaves=20,
)


# ------------------------------------------------------------------------------------ dumps


@SETTINGS
@given(PLAIN)
def test_dumps_matches_cbor2(value: Any) -> None:
    assert_same_dumps(value)


@SETTINGS
@given(WITH_ODD)
def test_dumps_matches_cbor2_with_other_types(value: Any) -> None:
    assert_same_dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        0,
        23,
        24,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        2**64 - 1,
        2**64,
        -1,
        -24,
        -25,
        -(2**64),
        -(2**64) - 1,
        2**1000,
        -(2**1000),
        0.0,
        -0.0,
        1.5,
        float("nan"),
        float("-nan"),
        float("inf"),
        float("-inf"),
        5e-324,
        True,
        False,
        None,
        "",
        "x" * 23,
        "x" * 24,
        "x" * 256,
        "x" * 70000,
        "é€𝄞",
        "\ud800",
        b"",
        b"x" * 24,
        b"x" * 70000,
        [],
        (),
        {},
        [[[[]]]],
        list(range(30)),
        {i: i for i in range(30)},
        {"oid": 1, "name": "user-00000001", "group": 1, "score": 0.25},
        {(1, 2): 3},
        {None: 1, True: 2, 1.5: 3, b"k": 4, -7: 5, 2**70: 6},
    ],
    ids=repr,
)
def test_dumps_edge_values(value: Any) -> None:
    assert_same_dumps(value)


def test_dumps_cycle_and_deep_nesting_raise_or_encode_as_cbor2() -> None:
    cyclic: list = [1]
    cyclic.append(cyclic)
    assert_same_dumps(cyclic)
    for depth in (49, 50, 51, 200, sys.getrecursionlimit() + 100):
        deep: Any = 1
        for _ in range(depth):
            deep = [deep]
        assert_same_dumps(deep)
        assert_same_dumps({"a": deep})


@pytest.mark.parametrize("depth", [49, 50, 51, 200, 5000])
def test_loads_deep_nesting_as_cbor2(depth: int) -> None:
    assert_same_loads(b"\x81" * depth + b"\x01")
    assert_same_loads(b"\xa1\x61a" * depth + b"\x01")


# ------------------------------------------------------------------------------------ loads


@SETTINGS
@given(PLAIN)
def test_loads_matches_cbor2(value: Any) -> None:
    assert_same_loads(encoded(value))


@SETTINGS
@given(PLAIN, st.data())
def test_loads_damaged_data_matches_cbor2(value: Any, data: st.DataObject) -> None:
    good = encoded(value)
    cut = data.draw(st.integers(0, len(good)))
    assert_same_loads(good[:cut])  # truncated
    assert_same_loads(good + data.draw(st.binary(min_size=1, max_size=4)))  # trailing bytes
    pos = data.draw(st.integers(0, len(good) - 1))
    byte = data.draw(st.integers(0, 255))
    assert_same_loads(good[:pos] + bytes((byte,)) + good[pos + 1 :])  # one byte changed


@SETTINGS
@given(st.binary(max_size=40))
def test_loads_random_bytes_matches_cbor2(data: bytes) -> None:
    assert_same_loads(data)


@pytest.mark.parametrize(
    "hex_data",
    [
        "f97e00",  # half-float NaN
        "f93c00",  # half-float 1.0
        "f98001",  # half-float subnormal, negative
        "fa3fc00000",  # single
        "fa7fc00000",  # single NaN
        "fb8000000000000000",  # -0.0
        "f4",
        "f5",
        "f6",
        "f7",  # undefined (cbor2)
        "f0",  # simple value 16 (cbor2)
        "f818",
        "1b0000000000000001",  # non-minimal lengths are accepted
        "3b0000000000000000",
        "5800",
        "7800",
        "980100",
        "b80100",
        "c240",  # bignum 0
        "c24100",
        "c349010000000000000000",
        "c2820102",  # bignum of an array: cbor2's error
        "c25f4101ff",  # bignum of an indefinite byte string
        "c074323031332d30332d32315432303a30343a30305a",  # datetime tag
        "d9010000",
        "5f4161ff",  # indefinite byte string
        "7f6161ff",
        "9f01ff",
        "bf616101ff",
        "a182010203",  # array as map key: cbor2 makes it a tuple
        "a1a1010203",  # map as map key
        "a2616101616102",  # duplicate key: last wins
        "a2616101616201",
        "a16001",  # empty text key
        "a161ff01",  # invalid UTF-8 key
        "62c328",  # invalid UTF-8
        "62c3",  # truncated text
        "a1",
        "9b7fffffffffffffff",  # huge claimed length
        "bb7fffffffffffffff",
        "1c",
        "3f",
        "",
        "0102",  # trailing data (cbor2 ignores it)
        "fb3fd4",
    ],
)
def test_loads_edge_data(hex_data: str) -> None:
    assert_same_loads(bytes.fromhex(hex_data))


@pytest.mark.parametrize("data", [bytearray(b"\x01"), memoryview(b"\x82\x01\x02"), "a1", None])
def test_loads_other_argument_types_as_cbor2(data: Any) -> None:
    assert_same_loads(data)


def test_loads_map_keys_that_share_a_cache_slot() -> None:
    # same length and first/last byte: the same cache slot; each must read back as itself
    keys = ["a" + chr(c) + "z" for c in range(ord("a"), ord("z") + 1)] + ["aaz", "abz"]
    for round_ in range(3):
        for i, key in enumerate(keys):
            record = {key: i, "other": round_, key[::-1]: "v"}
            assert _cbor.loads(cbor2.dumps(record)) == record


def test_fast_functions_for_this_interpreter() -> None:
    if sys.implementation.name == "pypy":
        assert _cbor.FAST_DUMPS is _cbor.dumps and _cbor.FAST_LOADS is _cbor.loads
    else:
        assert _cbor.FAST_DUMPS is cbor2.dumps and _cbor.FAST_LOADS is cbor2.loads
