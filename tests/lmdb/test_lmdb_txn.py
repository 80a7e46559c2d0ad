"""zlmdb.lmdb.Transaction: reads, writes, flags, nesting and lifetime."""

from __future__ import annotations

import array

import pytest

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."


@pytest.fixture
def dups(env):
    return env.open_db(b"dups", dupsort=True)


def test_get_returns_default_for_missing_keys(env) -> None:
    with env.begin() as txn:
        assert txn.get(b"missing") is None
        assert txn.get(b"missing", b"dflt") == b"dflt"


def test_get_of_empty_key_raises_bad_valsize(env) -> None:
    with env.begin() as txn, pytest.raises(lmdb.BadValsizeError):
        txn.get(b"")


def test_get_of_oversize_key_returns_default(env) -> None:
    with env.begin() as txn:
        assert txn.get(b"k" * 600, 7) == 7


def test_str_keys_raise_type_error_with_py_lmdb_message(env) -> None:
    with env.begin(write=True) as txn, pytest.raises(TypeError, match="use .encode"):
        txn.put("text", b"v")


def test_buffer_protocol_keys_and_values_are_accepted(env) -> None:
    with env.begin(write=True) as txn:
        assert txn.put(bytearray(b"ba"), memoryview(b"xmvx")[1:3])
        assert txn.put(array.array("B", b"ar"), bytearray(b"v2"))
        assert txn.get(b"ba") == b"mv" and txn.get(memoryview(b"ar")) == b"v2"


def test_put_with_empty_key_raises_bad_valsize(env) -> None:
    with env.begin(write=True) as txn, pytest.raises(lmdb.BadValsizeError):
        txn.put(b"", b"v")


def test_put_overwrite_false_returns_false_for_existing_key(env) -> None:
    with env.begin(write=True) as txn:
        assert txn.put(b"k", b"1")
        assert txn.put(b"k", b"2", overwrite=False) is False
        assert txn.get(b"k") == b"1"


def test_put_append_of_smaller_key_returns_false(env) -> None:
    with env.begin(write=True) as txn:
        assert txn.put(b"b", b"1", append=True)
        assert txn.put(b"a", b"1", append=True) is False
        assert txn.put(b"c", b"1", append=True)


def test_put_in_read_txn_raises_readonly(env, engine) -> None:
    with env.begin() as txn, pytest.raises(lmdb.ReadonlyError) as info:
        txn.put(b"k", b"v")
    assert (
        str(info.value)
        == (
            "mdb_put: Permission denied",
            "mdb_put: MDB_IS_READONLY: Can't write in readonly txn or environment",
        )[engine]
    )


def test_replace_returns_the_previous_value(env) -> None:
    with env.begin(write=True) as txn:
        assert txn.replace(b"k", b"1") is None
        assert txn.replace(b"k", b"2") == b"1"
        assert txn.get(b"k") == b"2"


def test_pop_deletes_and_returns(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
        assert txn.pop(b"k") == b"v"
        assert txn.pop(b"k") is None


def test_delete_ignores_value_on_plain_db(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
        assert txn.delete(b"k", b"other")
        assert txn.delete(b"k") is False


def test_dupsort_put_stores_duplicates_sorted(env, dups) -> None:
    with env.begin(write=True, db=dups) as txn:
        for v in (b"c", b"a", b"b"):
            txn.put(b"k", v)
        assert txn.put(b"k", b"a", dupdata=False) is False
        assert txn.put(b"k", b"a") is True  # plain put of an existing pair
        assert list(txn.cursor().iternext_dup()) == []  # unpositioned: nothing
        cur = txn.cursor()
        cur.set_key(b"k")
        assert list(cur.iternext_dup()) == [b"a", b"b", b"c"]
        assert txn.get(b"k") == b"a"


def test_dupsort_delete_with_value_removes_one_pair(env, dups) -> None:
    with env.begin(write=True, db=dups) as txn:
        txn.put(b"k", b"a")
        txn.put(b"k", b"b")
        assert txn.delete(b"k", b"a")
        assert txn.delete(b"k", b"zz") is False
        assert txn.get(b"k") == b"b"
        assert txn.delete(b"k")
        assert txn.get(b"k") is None


def test_dupsort_replace_drops_all_and_pop_only_the_first(env, dups) -> None:
    with env.begin(write=True, db=dups) as txn:
        txn.put(b"k", b"a")
        txn.put(b"k", b"b")
        assert txn.replace(b"k", b"z") == b"a"
        cur = txn.cursor()
        cur.set_key(b"k")
        assert cur.count() == 1
        txn.put(b"k", b"y")
        assert txn.pop(b"k") == b"y"
        assert txn.get(b"k") == b"z"


def test_dupsort_empty_value_raises_bad_valsize(env, dups) -> None:
    with env.begin(write=True, db=dups) as txn, pytest.raises(lmdb.BadValsizeError):
        txn.put(b"k", b"")


def test_dupfixed_one_byte_values_work_past_four_duplicates(env) -> None:
    db = env.open_db(b"fixed", dupsort=True, dupfixed=True)
    with env.begin(write=True, db=db) as txn:
        for i in range(10):
            txn.put(b"k", bytes([i]))
        cur = txn.cursor()
        cur.set_key(b"k")
        assert cur.count() == 10
        assert cur.getmulti([b"k"], dupdata=True, dupfixed_bytes=1) == [
            (b"k", bytes([i])) for i in range(10)
        ]


def test_db_argument_overrides_the_txn_default(env) -> None:
    sub = env.open_db(b"sub")
    with env.begin(write=True, db=sub) as txn:
        txn.put(b"a", b"sub")
        txn.put(b"a", b"main", db=env.open_db(None))
    with env.begin() as txn:
        assert txn.get(b"a") == b"main"
        assert txn.get(b"a", db=sub) == b"sub"


def test_append_on_dupsort_target_db_uses_appenddup(env, dups) -> None:
    with env.begin(write=True) as txn:
        assert txn.put(b"k", b"a", append=True, db=dups)
        assert txn.put(b"k", b"b", append=True, db=dups)
        assert txn.put(b"k", b"0", append=True, db=dups) is False


def test_id_of_write_txn_is_last_committed_plus_one(env) -> None:
    last = env.info()["last_txnid"]
    with env.begin(write=True) as txn:
        assert txn.id() == last + 1
        txn.put(b"k", b"v")
    with env.begin() as txn:
        assert txn.id() == last + 1


def test_stat_counts_entries_of_the_given_db(env, dups) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"1", db=dups)
        txn.put(b"k", b"2", db=dups)
        assert txn.stat(dups)["entries"] == 2


def test_commit_twice_raises_closed_error_and_abort_is_silent(env) -> None:
    txn = env.begin(write=True)
    txn.commit()
    with pytest.raises(lmdb.Error, match=CLOSED) as info:
        txn.commit()
    assert info.value.code == 0
    txn.abort()
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"k")


def test_with_block_commits_or_aborts(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"kept", b"1")
    with pytest.raises(RuntimeError):
        with env.begin(write=True) as txn:
            txn.put(b"lost", b"1")
            raise RuntimeError
    with env.begin() as txn:
        assert txn.get(b"kept") == b"1" and txn.get(b"lost") is None


def test_with_block_after_explicit_finish_is_silent(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
        txn.abort()
    with env.begin() as txn:
        assert txn.get(b"k") is None


def test_child_commit_merges_into_parent(env) -> None:
    parent = env.begin(write=True)
    child = env.begin(write=True, parent=parent)
    child.put(b"k", b"child")
    child.commit()
    assert parent.get(b"k") == b"child"
    child2 = env.begin(write=True, parent=parent)
    child2.put(b"k", b"dropped")
    child2.abort()
    assert parent.get(b"k") == b"child"
    parent.commit()


def test_child_is_finished_with_its_parent(env) -> None:
    parent = env.begin(write=True)
    child = env.begin(write=True, parent=parent)
    parent.abort()
    with pytest.raises(lmdb.Error):
        child.get(b"k")


def test_read_only_child_raises_invalid_parameter(env) -> None:
    parent = env.begin(write=True)
    with pytest.raises(lmdb.InvalidParameterError, match="cannot be nested"):
        env.begin(parent=parent)
    parent.abort()


def test_drop_delete_false_empties_and_keeps_cursor(env) -> None:
    db = env.open_db(b"d")
    with env.begin(write=True, db=db) as txn:
        txn.put(b"k", b"v")
        cur = txn.cursor()
        assert cur.first()
        txn.drop(db, delete=False)
        assert cur.key() == b"" and cur.first() is False
        assert cur.put(b"n", b"v")
    assert env.dbs() == [b"d"]


def test_drop_delete_true_closes_the_dbs_cursors(env) -> None:
    db = env.open_db(b"d")
    other = env.open_db(b"o")
    with env.begin(write=True) as txn:
        cur = txn.cursor(db)
        keep = txn.cursor(other)
        txn.drop(db)
        with pytest.raises(lmdb.Error, match=CLOSED):
            cur.first()
        assert keep.first() is False
    assert env.dbs() == [b"o"]


def test_drop_in_read_txn_raises_readonly(env) -> None:
    db = env.open_db(b"d")
    with env.begin() as txn, pytest.raises(lmdb.ReadonlyError):
        txn.drop(db)


def test_buffers_true_returns_memoryviews(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"value")
    with env.begin(buffers=True) as txn:
        got = txn.get(b"k")
        assert isinstance(got, memoryview) and bytes(got) == b"value"
        cur = txn.cursor()
        cur.first()
        key, value = cur.item()
        assert isinstance(key, memoryview) and bytes(value) == b"value"


def test_count_range_counts_keys_between_bounds(env) -> None:
    with env.begin(write=True) as txn:
        for k in (b"a1", b"a2", b"b1", b"c1"):
            txn.put(k, b"")
        assert txn.count_range() == 4
        assert txn.count_range(b"a", b"b") == 2
        assert txn.count_range(b"b", prefix=True) == 1


def test_dropped_txn_that_opened_a_db_forgets_its_handle(env) -> None:
    import gc

    txn = env.begin(write=True)
    env.open_db(b"fresh", txn=txn)
    del txn  # never committed: the database was not created
    gc.collect()  # PyPy: the drop is seen by the collector
    again = env.open_db(b"fresh")
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v", db=again)
    with env.begin(db=again) as txn:
        assert txn.get(b"k") == b"v"


def test_get_returns_exact_copies_of_every_size_in_one_txn(env) -> None:
    """get() copies values up to 4096 bytes into one per-transaction buffer and slices it:
    a shorter value after a longer one, an empty one, the largest copied size, one that is
    handed out from the map, and a replace/pop in between must all come back exactly."""
    sizes = [100, 3, 0, 4096, 1, 4097, 50000, 4095, 0, 7]
    values = {b"k%02d" % i: bytes([65 + i]) * n for i, n in enumerate(sizes)}
    with env.begin(write=True) as txn:
        for key, value in values.items():
            txn.put(key, value)
        for _ in range(2):
            for key, value in values.items():
                got = txn.get(key)
                assert type(got) is bytes and got == value
        assert txn.replace(b"k00", b"r" * 5000) == values[b"k00"]
        assert txn.get(b"k01") == values[b"k01"]
        assert txn.pop(b"k00") == b"r" * 5000
        assert txn.get(b"k03") == values[b"k03"]
    with env.begin() as txn:
        first = txn.get(b"k03")
        second = txn.get(b"k01")
        assert first == values[b"k03"] and second == values[b"k01"]  # not views of one buffer


def test_committed_read_txn_is_kept_as_a_spare_only_when_asked(tmp_path) -> None:
    """With max_spare_txns=N a committed (or aborted) read transaction is reset and kept for
    the next begin, as py-lmdb does; a read transaction that opened a database still really
    commits, so the handle stays usable. With the default 0 nothing is kept."""

    def readers(env) -> int:
        return env.readers().count("\n") - 1

    env = lmdb.open(str(tmp_path / "a"), max_dbs=2)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    with env.begin(write=True, db=env.open_db(b"named")) as txn:
        txn.put(b"n", b"1")
    env.close()
    env = lmdb.open(str(tmp_path / "a"), max_dbs=2, max_spare_txns=1)
    try:
        with env.begin() as txn:
            assert txn.get(b"k") == b"v"
        assert readers(env) == 1  # reset and cached
        for _ in range(3):
            with env.begin() as txn:
                assert readers(env) == 1  # the cached one, renewed
                assert txn.get(b"k") == b"v"
        with env.begin() as txn:
            db = env.open_db(b"named", txn=txn, create=False)
        with env.begin(db=db) as txn:
            assert txn.get(b"n") == b"1"  # the handle was published by the commit
    finally:
        env.close()
    env = lmdb.open(str(tmp_path / "b"))
    try:
        with env.begin() as txn:
            txn.get(b"k")
        assert env.readers() == "(no active readers)\n"
    finally:
        env.close()


def test_buffers_views_are_read_only(env) -> None:
    """Views into the map are read-only: writing through one raises TypeError (the map is
    mapped read-only; a writable view would let a store crash the process)."""
    with env.begin(write=True) as txn:
        txn.put(b"a", b"1234")
        txn.put(b"b", b"5678")
    with env.begin(buffers=True) as txn:
        cur = txn.cursor()
        assert cur.first()
        views = [txn.get(b"a"), cur.key(), cur.value(), *cur.item()]
        views += [v for item in txn.cursor() for v in item]
        views += list(txn.cursor().iternext(values=False))
        for view in views:
            assert type(view) is memoryview and view.readonly
            with pytest.raises(TypeError):
                view[0] = 0x41
    with env.begin() as txn:
        assert txn.get(b"a") == b"1234" and txn.get(b"b") == b"5678"


def test_buffers_get_views_the_right_bytes_in_and_out_of_the_map(env) -> None:
    """A buffers=True get() of a value in the map is a slice of one view of the map; of a
    value on a dirty page (write txn) a view of that page. Both are exact and read-only,
    also after the map was moved by a resize."""
    values = {b"k%03d" % i: bytes([48 + i % 10]) * (1 + i * 37) for i in range(120)}
    with env.begin(write=True, buffers=True) as txn:
        for key, value in values.items():
            txn.put(key, value)
            view = txn.get(key)  # on a dirty page, outside the map
            assert view.readonly and bytes(view) == value
    for size in (None, 64 << 20):
        if size:
            env.set_mapsize(size)
        with env.begin(buffers=True) as txn:
            for key, value in values.items():
                view = txn.get(key)
                assert view.readonly and view.tobytes() == value
            assert txn.get(b"nope") is None and txn.get(b"nope", 1) == 1
