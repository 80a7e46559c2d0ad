"""The ORM's per-operation shortcuts behave as the general paths: Database.begin builds its
transaction without Transaction.__init__, Oid keys up to one CPython digit are packed inline
(larger ones take the general key codec), transactions share one read-only empty map of
slot tops until an indexed put needs its own."""

from __future__ import annotations

import pytest

import zlmdb
from zlmdb import lmdb
from zlmdb.orm._keys import MAX_OID
from zlmdb.orm._pmap import _SMALL_INT
from zlmdb.orm._transaction import NO_TOPS, Transaction

# the Oid keys around the inline range's edge and the codec's own bounds
EDGE_KEYS = [0, 1, _SMALL_INT - 1, _SMALL_INT, _SMALL_INT + 1, MAX_OID - 1, MAX_OID]


def _identity(value):
    return value


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


def _fields(txn):
    return {name: getattr(txn, name) for name in Transaction.__slots__}


@pytest.mark.parametrize("write", [False, True])
@pytest.mark.parametrize("buffers", [False, True])
@pytest.mark.parametrize("with_stats", [False, True])
def test_begin_builds_the_transaction_init_builds(db, write, buffers, with_stats):
    stats = zlmdb.TransactionStats() if with_stats else None
    made = db.begin(write=write, buffers=buffers, stats=stats)
    assert type(made) is Transaction
    assert _fields(made) == _fields(Transaction(db, write, buffers, stats))
    assert made.write is write and made.buffers is buffers and made.stats is stats


def test_begin_normalizes_truthy_flags(db):
    txn = db.begin(write=1, buffers=0)
    assert txn.write is True and txn.buffers is False
    with txn:
        assert txn._raw is not None


def test_open_transaction_refuses_a_second_enter(db):
    txn = db.begin()
    with txn:
        with pytest.raises(lmdb.Error):
            txn.__enter__()


@pytest.mark.parametrize("key", EDGE_KEYS)
def test_oid_keys_at_the_inline_edge_store_the_codec_bytes(db, key):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    with db.begin(write=True) as txn:
        table[txn, key] = {"k": key}
        assert table[txn, key] == {"k": key}
    with db.begin() as txn:
        assert table[txn, key] == {"k": key}
        stored = txn._txn.get(b"\x00\x01" + key.to_bytes(8, "big"))
        assert stored is not None
        assert list(table.select(txn, return_values=False)) == [key]


@pytest.mark.parametrize("key", [-1, MAX_OID + 1, 1 << 64])
def test_oid_keys_out_of_range_raise_value_error(db, key):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    with db.begin(write=True) as txn:
        table[txn, 1] = {"k": 1}  # prepared: the inline paths are armed
        with pytest.raises(ValueError):
            table[txn, key] = {"k": key}
        with pytest.raises(ValueError):
            table[txn, key]
    with db.begin() as txn:
        assert table.count(txn) == 1


@pytest.mark.parametrize("key", [True, 1.0, "1", None])
def test_oid_keys_of_other_types_raise_type_error(db, key):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    with db.begin(write=True) as txn:
        table[txn, 1] = {"k": 1}
        with pytest.raises(TypeError):
            table[txn, key] = {"k": 2}
        with pytest.raises(TypeError):
            table[txn, key]


def test_inline_range_is_off_until_the_map_is_prepared_and_after_hooks_change(db):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    assert table._oid_upto == -1 and table._plain_upto == -1
    with db.begin(write=True) as txn:
        table[txn, 5] = {"v": 1}
    assert table._oid_upto == _SMALL_INT and table._plain_upto == _SMALL_INT
    table._unmarshal = lambda value: ("wrapped", value)  # a new hook: choose the paths again
    assert table._oid_upto == -1 and table._plain_upto == -1
    with db.begin() as txn:
        assert table[txn, 5] == ("wrapped", {"v": 1})


def test_attaching_an_index_takes_the_write_shortcut_away(db):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    by_name = zlmdb.MapStringOid(2)
    with db.begin(write=True) as txn:
        table[txn, 1] = {"name": "a"}
    table.attach_index("by_name", by_name, lambda v: v["name"])
    with db.begin(write=True) as txn:
        table[txn, 2] = {"name": "b"}
        assert table._plain_upto == -1 and table._oid_upto == _SMALL_INT
        assert by_name[txn, "b"] == 2


def test_buffers_transaction_values_are_bytes_for_copying_decoders(db):
    table = zlmdb.MapOidJson(1, marshal=_identity, unmarshal=_identity)
    with db.begin(write=True) as txn:
        table[txn, 1] = {"a": 1}
    with db.begin(buffers=True) as txn:
        assert table[txn, 1] == {"a": 1}
        assert type(txn._txn.get(b"\x00\x01" + (1).to_bytes(8, "big"))) is memoryview


def test_transactions_share_the_read_only_empty_tops(db):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    with db.begin(write=True) as txn:
        assert txn._tops is NO_TOPS
        table[txn, 1] = {"a": 1}
        assert txn._tops is NO_TOPS  # plain puts keep no tops
    with pytest.raises(TypeError):
        NO_TOPS[b"\x00\x01"] = b"\x00\x01"  # type: ignore[index]
    assert len(NO_TOPS) == 0


def test_indexed_put_gets_its_own_tops_and_leaves_the_shared_ones_empty(db):
    table = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    by_name = zlmdb.MapStringOid(2)
    table.attach_index("by_name", by_name, lambda v: v["name"])
    plain = zlmdb.MapOidCbor(3, marshal=_identity, unmarshal=_identity)
    with db.begin(write=True) as txn:
        plain[txn, 1] = {"x": 1}
        table[txn, 1] = {"name": "a"}
        tops = txn._tops
        assert tops is not NO_TOPS and tops
        table[txn, 2] = {"name": "b"}
        assert txn._tops is tops
        with pytest.raises(zlmdb.UniqueValueConstraint):
            table[txn, 3] = {"name": "a"}
        raw = txn._txn  # direct access forgets the tops
        assert txn._tops is NO_TOPS and raw is not None
        table[txn, 4] = {"name": "d"}
    assert len(NO_TOPS) == 0
    with db.begin() as txn:
        assert [by_name[txn, n] for n in "abd"] == [1, 2, 4]
        assert table[txn, 3] is None
        assert txn._tops is NO_TOPS


# -- PersistentMap._put_many on a plain Oid-keyed table (the writers' batches) -------------


def _marshal_refusing(value):
    if value == "bad":
        raise ValueError("refused")
    return value


def _plain(slot=1, marshal=_identity):
    return zlmdb.MapOidCbor(slot, marshal=marshal, unmarshal=_identity)


def _records(db, table):
    with db.begin() as txn:
        return dict(table.select(txn))


def _put_many(db, table, ops, stats=None):
    with db.begin(write=True, stats=stats) as txn:
        table._put_many(txn, ops, "put")


def test_put_many_plain_equals_one_put_each_later_put_of_a_key_winning(db):
    ops = [("put", k % 7, {"n": k}) for k in range(50)] + [("put", MAX_OID, {"n": "max"})]
    stats = zlmdb.TransactionStats()
    table, model = _plain(1), _plain(2)
    _put_many(db, table, ops, stats)
    with db.begin(write=True) as txn:
        for _, key, value in ops:
            model[txn, key] = value
    assert _records(db, table) == _records(db, model)
    assert _records(db, table)[3] == {"n": 45}
    assert stats.puts == len(ops)
    with db.begin() as txn:
        assert txn._txn.stat()["entries"] == 2 * 8


def test_put_many_plain_after_a_buffered_put_keeps_the_order(db):
    table = _plain()
    with db.begin(write=True) as txn:
        table[txn, 1] = "first"
        table[txn, 2] = "kept"
        table._put_many(txn, [("put", 1, "second"), ("put", 3, "third")], "put")
        assert table[txn, 1] == "second"
        table[txn, 3] = "last"
    assert _records(db, table) == {1: "second", 2: "kept", 3: "last"}


def test_put_many_plain_written_records_are_seen_in_the_transaction(db):
    table = _plain()
    with db.begin(write=True) as txn:
        table._put_many(txn, [("put", k, k * 10) for k in range(1, 11)], "put")
        assert table[txn, 4] == 40
        assert table.count(txn) == 10
        del table[txn, 4]
        table[txn, 5] = "changed"
    assert _records(db, table) == {**{k: k * 10 for k in range(1, 11) if k != 4}, 5: "changed"}


@pytest.mark.parametrize(
    "ops, error",
    [
        ([("put", 1, 1), ("put", MAX_OID + 1, 2), ("put", 3, 3)], ValueError),
        ([("put", 1, 1), ("put", -1, 2)], ValueError),
        ([("put", 1, 1), ("put", "2", 2)], TypeError),
        ([("put", 1, 1), ("put", True, 2)], TypeError),
    ],
)
def test_put_many_bad_key_raises_as_one_put_each(db, ops, error):
    table = _plain()
    with pytest.raises(error):
        _put_many(db, table, ops)
    assert _records(db, table) == {}


def test_put_many_with_deletes_applies_in_order(db):
    table = _plain()
    _put_many(db, table, [("put", 1, "a"), ("put", 2, "b")])
    ops = [("put", 3, "c"), ("delete", 1, None), ("put", 1, "again"), ("delete", 2, None)]
    _put_many(db, table, ops)
    assert _records(db, table) == {1: "again", 3: "c"}


def test_put_many_failing_marshal_raises_and_the_transaction_aborts(db):
    table = _plain(marshal=_marshal_refusing)
    with pytest.raises(ValueError, match="refused"):
        _put_many(db, table, [("put", 1, "ok"), ("put", 2, "bad"), ("put", 3, "ok")])
    assert _records(db, table) == {}


def test_put_many_non_bytes_serializer_output_takes_the_general_path(db):
    class Buffered(zlmdb.MapOidCbor):
        def _serialize_value(self, value):
            return bytearray(super()._serialize_value(value))

    table = Buffered(1, marshal=_identity, unmarshal=_identity)
    _put_many(db, table, [("put", 1, "x"), ("put", 2, "y")])
    assert _records(db, table) == {1: "x", 2: "y"}


@pytest.mark.parametrize("batch", [[1, 2, 3], [5]])
def test_put_many_marshals_each_value_once_whatever_the_serializer_returns(db, batch):
    # A serializer giving bytearrays for some values: each value is still marshalled and
    # encoded once (no second round through __setitem__), in order, counted once each.
    calls = []

    def counting(value):
        calls.append(value)
        return value

    class Mixed(zlmdb.MapOidCbor):
        def _serialize_value(self, value):
            data = super()._serialize_value(value)
            return bytearray(data) if value % 2 else data

    table = Mixed(1, marshal=counting, unmarshal=_identity)
    stats = zlmdb.TransactionStats()
    ops = [("put", k, k * 10 + 1 if k % 2 else k * 10) for k in batch]
    ops.append(("put", batch[0], 7))  # a later put of a key wins, also across the two forms
    _put_many(db, table, ops, stats)
    assert calls == [value for _, _, value in ops]
    assert stats.puts == len(ops)
    expected = {k: k * 10 + 1 if k % 2 else k * 10 for k in batch}
    expected[batch[0]] = 7
    assert _records(db, table) == expected


def test_background_writer_on_a_plain_table_replays_a_failing_batch(db):
    from zlmdb._writers import BackgroundWriter, WriteError

    table = _plain(marshal=_marshal_refusing)
    writer = BackgroundWriter(db, table, batch_size=100)
    for key in range(1, 21):
        writer.put(key, "bad" if key == 7 else key)
    with pytest.raises(WriteError) as info:
        writer.flush()
    assert [op.key for op in info.value.operations] == [7]
    writer.put(7, "fixed")  # the reported error no longer blocks puts
    writer.close()
    assert _records(db, table) == {**{k: k for k in range(1, 21) if k != 7}, 7: "fixed"}
    assert writer.written == 20 and writer.pending == 0


def test_background_writer_counts_pending_while_the_worker_is_held(db):
    import threading

    from zlmdb._writers import BackgroundWriter

    entered, release = threading.Event(), threading.Event()

    def held(value):
        if value == "hold":
            entered.set()
            assert release.wait(60)
        return value

    table = _plain(marshal=held)
    writer = BackgroundWriter(db, table, maxsize=10, batch_size=3)
    writer.put(1, "hold")
    assert entered.wait(60)
    for key in range(2, 9):
        writer.put(key, key)
    assert writer.pending == 8
    assert writer.flush(timeout=0) is False
    release.set()
    assert writer.flush() is True
    assert writer.pending == 0 and writer.written == 8
    writer.close()
    assert writer.batches == 1 + 3  # [1], [2, 3, 4], [5, 6, 7], [8]
