"""len, iteration, range/prefix scans and the rest of MutableMapping ([zlmdb] 1, 2)."""

from __future__ import annotations

import pytest

import zlmdb.lmdb as lmdb


@pytest.fixture
def filled(make_store):
    store = make_store(key_encoding="utf-8")
    store.put_many({"a1": 1, "a2": 2, "b1": 3, "b2": 4, "c": 5})
    return store


def test_len_counts_stored_keys(filled):
    assert len(filled) == 5


def test_len_includes_buffered_puts_and_deletes(filled):
    filled["new"] = 0
    filled.delete("a1")
    assert len(filled) == 5


def test_iter_yields_keys_in_bytewise_order(filled):
    assert list(filled) == [b"a1", b"a2", b"b1", b"b2", b"c"]


def test_iter_includes_buffered_writes(filled):
    filled["0first"] = 1
    assert list(filled)[0] == b"0first"


def test_reversed_iterates_backwards(filled):
    assert list(reversed(filled)) == [b"c", b"b2", b"b1", b"a2", b"a1"]


def test_keys_with_prefix(filled):
    assert list(filled.keys("b")) == [b"b1", b"b2"]


def test_keys_with_prefix_of_ff_bytes(make_store):
    store = make_store()
    store.put_many({b"\xff": 1, b"\xff\xff": 2, b"\xfe": 3})
    assert list(store.keys(b"\xff")) == [b"\xff", b"\xff\xff"]


def test_items_with_start_and_stop(filled):
    assert list(filled.items(start="a2", stop="b2")) == [(b"a2", 2), (b"b1", 3)]


def test_items_reverse_range(filled):
    assert list(filled.items(start="a2", stop="b2", reverse=True)) == [(b"b1", 3), (b"a2", 2)]


def test_values_in_key_order(filled):
    assert list(filled.values()) == [1, 2, 3, 4, 5]


def test_values_reverse_with_prefix(filled):
    assert list(filled.values("a", reverse=True)) == [2, 1]


def test_keys_decoded_to_str(filled):
    assert list(filled.keys("a", decode_keys=True)) == ["a1", "a2"]


def test_decode_keys_without_encoding_is_value_error(make_store):
    with pytest.raises(ValueError):
        make_store().keys(decode_keys=True)


def test_ranged_view_len(filled):
    assert len(filled.keys("a")) == 2


def test_ranged_keys_view_contains(filled):
    view = filled.keys("a")
    assert "a1" in view and "b1" not in view


def test_items_view_contains_pair(filled):
    assert ("b1", 3) in filled.items()
    assert ("b1", 4) not in filled.items()


def test_iteration_spans_many_read_chunks(make_store):
    store = make_store()
    store.put_many({b"k%05d" % i: i for i in range(1300)})
    assert list(store.values()) == list(range(1300))
    assert [v for _, v in store.items(reverse=True)] == list(range(1299, -1, -1))


def test_empty_store_iterates_nothing(make_store):
    store = make_store()
    assert (list(store), list(reversed(store)), len(store)) == ([], [], 0)


def test_dict_of_store(filled):
    assert dict(filled.items("b")) == {b"b1": 3, b"b2": 4}


def test_pop_returns_and_removes(filled):
    assert filled.pop("a1") == 1
    assert "a1" not in filled


def test_pop_missing_with_default(filled):
    assert filled.pop("zz", None) is None


def test_pop_missing_raises_keyerror(filled):
    with pytest.raises(KeyError):
        filled.pop("zz")


def test_popitem_takes_smallest_key(filled):
    assert filled.popitem() == (b"a1", 1)
    assert len(filled) == 4


def test_popitem_on_empty_store_raises_keyerror(make_store):
    with pytest.raises(KeyError):
        make_store().popitem()


def test_setdefault_stores_missing(filled):
    assert filled.setdefault("new", [1]) == [1]
    assert filled["new"] == [1]


def test_setdefault_keeps_existing(filled):
    assert filled.setdefault("a1", 99) == 1


def test_update_from_mapping_and_kwargs(make_store):
    store = make_store(key_encoding="utf-8")
    store.update({"x": 1}, y=2)
    assert (store["x"], store["y"]) == (1, 2)


def test_clear_removes_everything_including_buffer(filled):
    filled["buffered"] = 1
    filled.clear()
    assert len(filled) == 0 and filled.write_buffer == {}


def test_clear_on_readonly_raises(tmp_path):
    from zlmdb.store import LmdbObjectStore

    path = str(tmp_path / "db")
    LmdbObjectStore(path).close()
    with LmdbObjectStore(path, readonly=True) as store:
        with pytest.raises(lmdb.Error, match="read-only"):
            store.clear()


def test_ranged_values_view_contains_only_its_range(filled):
    view = filled.values("a")
    assert 2 in view and 3 not in view
