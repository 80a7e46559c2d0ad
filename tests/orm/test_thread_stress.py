"""The ORM under several threads at once (run on free-threaded CPython too): transactions of
their own on one Database, indexes kept consistent, and a BackgroundWriter fed from several
producer threads with puts and deletes."""

from __future__ import annotations

import threading

import pytest
from threadutil import run_threads

import zlmdb
from zlmdb._writers import BackgroundWriter

THREADS = 8


def same(value):
    return value


class Schema(zlmdb.Schema):
    def __init__(self) -> None:
        super().__init__()
        self.items = zlmdb.MapOidCbor(1, marshal=same, unmarshal=same)
        self.by_name = zlmdb.MapStringOid(2)
        self.items.attach_index("by_name", self.by_name, lambda v: v["name"])
        self.counters = zlmdb.MapStringCbor(3, marshal=same, unmarshal=same)


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), maxsize=256 * 1024 * 1024) as database:
        yield database


def test_threads_with_their_own_transactions_on_one_database(db) -> None:
    schema = Schema()
    rounds = 40

    def worker(n: int) -> None:
        base = n * 10_000
        for r in range(rounds):
            with db.begin(write=True) as txn:
                oid = base + r + 1
                schema.items[txn, oid] = {"name": f"t{n}-{r}", "n": n, "r": r}
                total = schema.counters[txn, "total"] or 0
                schema.counters[txn, "total"] = total + 1
                if r % 4 == 3:  # delete an older record: its index entry must go with it
                    del schema.items[txn, oid - 2]
            with db.begin() as txn:
                mine = [v for _, v in schema.items.select(txn, from_key=base, to_key=base + 10_000)]
                assert all(v["n"] == n for v in mine)
                found = schema.by_name[txn, f"t{n}-{r}"]
                assert found == oid
                assert schema.items[txn, found]["r"] == r

    assert run_threads([lambda n=n: worker(n) for n in range(THREADS)]) == []
    with db.begin() as txn:
        assert schema.counters[txn, "total"] == THREADS * rounds
        records = dict(schema.items.select(txn))
        assert len(records) == THREADS * (rounds - rounds // 4)
        index = dict(schema.by_name.select(txn))
        assert index == {v["name"]: oid for oid, v in records.items()}


def test_background_writer_fed_from_several_threads_writes_every_last_operation(db) -> None:
    schema = Schema()
    per_thread = 300
    model: dict = {}
    models = [dict() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    writer = BackgroundWriter(db, schema.items, maxsize=200, batch_size=64)

    def producer(n: int) -> None:
        mine = models[n]
        barrier.wait()
        for i in range(per_thread):
            oid = n * 1000 + i % 120 + 1  # keys of this thread only: its order decides
            if i % 5 == 4:
                writer.delete(oid)
                mine.pop(oid, None)
            else:
                value = {"name": f"p{n}-{i}", "i": i}
                writer.put(oid, value)
                mine[oid] = value
            if i % 97 == 0:
                writer.flush()

    assert run_threads([lambda n=n: producer(n) for n in range(THREADS)]) == []
    writer.close()
    for mine in models:
        model.update(mine)
    with db.begin() as txn:
        assert dict(schema.items.select(txn)) == model
        assert dict(schema.by_name.select(txn)) == {v["name"]: k for k, v in model.items()}


def test_tables_attached_from_several_threads_get_one_slot_each(tmp_path) -> None:
    classes = []
    for i in range(THREADS):

        @zlmdb.table(f"9f6a1c3e-0000-4000-8000-{i:012d}", marshal=same, parse=same)
        class Table(zlmdb.MapOidCbor):
            pass

        classes.append(Table)
    with zlmdb.Database(str(tmp_path / "db")) as database:
        got: dict = {}
        barrier = threading.Barrier(THREADS)

        def attach(i: int) -> None:
            barrier.wait()
            got[i] = database.attach_table(classes[i])

        assert run_threads([lambda i=i: attach(i) for i in range(THREADS)]) == []
        slots = sorted(table._slot for table in got.values())
        assert slots == sorted(set(slots)) and len(slots) == THREADS
        for i, table in got.items():
            with database.begin(write=True) as txn:
                table[txn, 1] = {"i": i}
        for i, table in got.items():
            with database.begin() as txn:
                assert table[txn, 1] == {"i": i}
