"""Key normalization, validation and display (spec: Keys)."""

from __future__ import annotations

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore


def test_none_key_is_rejected(db):
    with pytest.raises(TypeError, match="Key cannot be None"):
        db.put(None, 1)


def test_str_key_without_encoding_is_rejected(make_store):
    store = make_store()
    with pytest.raises(TypeError, match="str keys are not allowed"):
        store.put("k", 1)


def test_other_key_types_name_the_type(make_store):
    store = make_store()
    with pytest.raises(TypeError, match="Key must be bytes-like; got int"):
        store.get(5)


def test_type_error_mentions_str_when_encoding_set(db):
    with pytest.raises(TypeError, match="Key must be bytes-like or str; got tuple"):
        db.put((1, 2), 1)


def test_bytearray_and_memoryview_keys_alias_bytes(db):
    db.put(bytearray(b"k"), 1)
    assert db.get(memoryview(b"k")) == 1
    assert db.get(b"k") == 1


def test_str_keys_are_encoded(db):
    db["clé"] = 1
    assert db.get("clé".encode()) == 1


def test_str_normalize_makes_forms_equal(make_store):
    store = make_store(key_encoding="utf-8", str_normalize="NFC")
    store["e\u0301"] = 1  # decomposed é
    assert store["\u00e9"] == 1


def test_unencodable_str_key_raises_unicode_error(db):
    with pytest.raises(UnicodeEncodeError):
        db.put("\ud800", 1)


def test_key_errors_handler_is_used(make_store):
    store = make_store(key_encoding="ascii", key_errors="replace")
    store["é"] = 1
    assert store.get(b"?") == 1


def test_bad_key_encoding_fails_in_constructor(tmp_path):
    with pytest.raises(LookupError):
        LmdbObjectStore(str(tmp_path / "db"), key_encoding="no-such-codec")


def test_bad_key_errors_fails_in_constructor(tmp_path):
    with pytest.raises(LookupError):
        LmdbObjectStore(str(tmp_path / "db"), key_encoding="utf-8", key_errors="no-such-handler")


def test_bad_normalization_form_fails_in_constructor(tmp_path):
    with pytest.raises(ValueError, match="invalid normalization form"):
        LmdbObjectStore(str(tmp_path / "db"), key_encoding="utf-8", str_normalize="NFX")


def test_bad_key_on_closed_store_is_a_type_error(make_store):
    store = make_store()
    store.close()
    with pytest.raises(TypeError):
        store.put(None, 1)


def test_oversize_key_rejected_at_put(db):
    with pytest.raises(lmdb.BadValsizeError):
        db.put(b"x" * 512, 1)
    assert len(db.write_buffer) == 0


def test_oversize_key_rejected_at_setitem(db):
    with pytest.raises(lmdb.BadValsizeError):
        db[b"x" * 600] = 1


def test_oversize_key_rejected_at_delete(db):
    with pytest.raises(lmdb.BadValsizeError):
        db.delete(b"x" * 512)


def test_oversize_key_rejected_by_put_many_and_nothing_written(db):
    with pytest.raises(lmdb.BadValsizeError):
        db.put_many([(b"ok", 1), (b"x" * 512, 2)])
    assert db.get(b"ok") is None


def test_max_size_key_is_accepted(db):
    key = b"k" * db.env.max_key_size()
    db.put(key, 1)
    db.flush()
    assert db.get(key) == 1


def test_oversize_key_reads_as_missing(db):
    key = b"x" * 600
    assert db.get(key, "dflt") == "dflt"
    assert db.exists(key) is False
    assert key not in db
    assert db.get_many([key]) == ({}, [key])


def test_empty_key_is_served_from_the_buffer(db):
    db[b""] = "v"
    assert db[""] == "v"


def test_empty_key_read_from_lmdb_raises_badvalsize(db):
    with pytest.raises(lmdb.BadValsizeError):
        db.get(b"")


def test_key_error_shows_binary_key_as_hex(db):
    with pytest.raises(KeyError, match="Key not found: 0xfffe"):
        db[b"\xff\xfe"]


def test_key_error_shows_long_binary_key_abbreviated(db):
    with pytest.raises(KeyError, match=r"0x0001020304050607\.\.\.\(20 bytes\)"):
        db[bytes(range(20))]


def test_key_error_shows_text_key_quoted(db):
    with pytest.raises(KeyError, match="Key not found: 'missing'"):
        db["missing"]


def test_key_error_cuts_long_str_key(db):
    with pytest.raises(KeyError) as info:
        db["a" * 80]
    assert "'" + "a" * 47 + "...'" in str(info.value)
