"""The serializer= option ([zlmdb] 3)."""

from __future__ import annotations

import json
import pickle

import cbor2
import pytest

from zlmdb.store import LmdbObjectStore, PickleSerializer, Serializer


def _raw(store, key: bytes) -> bytes:
    with store.env.begin() as txn:
        return txn.get(key)


def test_default_is_pickle(make_store):
    assert isinstance(make_store().serializer, PickleSerializer)


def test_json_stores_compact_utf8_json(make_store):
    store = make_store(serializer="json")
    store.put_many({b"k": {"a": [1, "é"]}})
    assert json.loads(_raw(store, b"k")) == {"a": [1, "é"]}
    assert store[b"k"] == {"a": [1, "é"]}


def test_json_rejects_unserializable_values(make_store):
    with pytest.raises(TypeError):
        make_store(serializer="json").put(b"k", {1, 2})


def test_cbor_round_trips_bytes(make_store):
    store = make_store(serializer="cbor")
    store.put_many({b"k": {"blob": b"\x00\x01"}})
    assert cbor2.loads(_raw(store, b"k")) == {"blob": b"\x00\x01"}
    assert store[b"k"] == {"blob": b"\x00\x01"}


def test_raw_stores_bytes_unchanged(make_store):
    store = make_store(serializer="raw")
    store.put_many({b"k": bytearray(b"abc")})
    assert _raw(store, b"k") == b"abc"
    assert store[b"k"] == b"abc"


def test_raw_rejects_str(make_store):
    with pytest.raises(TypeError):
        make_store(serializer="raw").put(b"k", "text")


def test_custom_pair(make_store):
    store = make_store(serializer=(lambda o: str(o).encode(), lambda b: int(b)))
    store.put_many({b"k": 41})
    assert store[b"k"] == 41


def test_custom_serializer_subclass(make_store):
    class Upper(Serializer):
        name = "upper"

        def dumps(self, obj):
            return obj.upper().encode()

        def loads(self, data):
            return bytes(data).decode()

    store = make_store(serializer=Upper())
    store.put_many({b"k": "hi"})
    assert store[b"k"] == "HI"


def test_deserialize_failure_names_key(make_store):
    store = make_store(serializer="json")
    with store.env.begin(write=True) as txn:
        txn.put(b"bad", b"{not json")
    with pytest.raises(RuntimeError, match="Failed to deserialize DB key 'bad'"):
        store[b"bad"]


def test_unknown_serializer_name_is_value_error(tmp_path):
    with pytest.raises(ValueError):
        LmdbObjectStore(str(tmp_path / "db"), serializer="yaml")


def test_bad_serializer_type_is_type_error(tmp_path):
    with pytest.raises(TypeError):
        LmdbObjectStore(str(tmp_path / "db"), serializer=42)


def test_pickle_files_are_readable_as_plain_pickle(make_store):
    store = make_store()
    store.put_many({b"k": (1, "x")})
    assert pickle.loads(_raw(store, b"k")) == (1, "x")
