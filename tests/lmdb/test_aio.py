"""zlmdb.lmdb.aio: asyncio wrappers over real environments."""

from __future__ import annotations

import asyncio
import inspect
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.lmdb import aio


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def aenv(env):
    return aio.wrap(env)


# -- shape of the API ---------------------------------------------------------------------


def test_wrap_returns_async_environment_with_executor(env):
    pool = ThreadPoolExecutor(2)
    try:
        wrapped = aio.wrap(env, executor=pool)
        assert isinstance(wrapped, aio.AsyncEnvironment)
        assert wrapped._executor is pool
        assert aio.wrap(env)._executor is None
    finally:
        pool.shutdown()


@pytest.mark.parametrize(
    "wrapper, wrapped",
    [
        (aio.AsyncEnvironment, lmdb.Environment),
        (aio.AsyncTransaction, lmdb.Transaction),
        (aio.AsyncCursor, lmdb.Cursor),
    ],
)
def test_every_public_method_is_proxied(wrapper, wrapped):
    public = {n for n in dir(wrapped) if not n.startswith("_") and callable(getattr(wrapped, n))}
    assert public - set(vars(wrapper)) == set()


@pytest.mark.parametrize(
    "wrapper, wrapped, name",
    [
        (aio.AsyncEnvironment, lmdb.Environment, "stat"),
        (aio.AsyncEnvironment, lmdb.Environment, "copy"),
        (aio.AsyncTransaction, lmdb.Transaction, "get"),
        (aio.AsyncCursor, lmdb.Cursor, "set_range"),
        (aio.AsyncCursor, lmdb.Cursor, "iternext"),
    ],
)
def test_blocking_methods_are_coroutines_carrying_the_wrapped_method(wrapper, wrapped, name):
    proxy = vars(wrapper)[name]
    assert inspect.iscoroutinefunction(proxy)
    assert proxy.__wrapped__ is getattr(wrapped, name)
    assert getattr(wrapped, name).__doc__ in proxy.__doc__


@pytest.mark.parametrize(
    "wrapper, wrapped, name",
    [
        (aio.AsyncEnvironment, lmdb.Environment, "path"),
        (aio.AsyncEnvironment, lmdb.Environment, "flags"),
        (aio.AsyncTransaction, lmdb.Transaction, "id"),
        (aio.AsyncCursor, lmdb.Cursor, "item"),
    ],
)
def test_cheap_methods_stay_synchronous(wrapper, wrapped, name):
    proxy = vars(wrapper)[name]
    assert not inspect.iscoroutinefunction(proxy)
    assert proxy.__wrapped__ is getattr(wrapped, name)


def test_cheap_environment_methods_return_values_directly(env, aenv, engine):
    assert aenv.path() == env.path()
    assert aenv.max_key_size() == env.max_key_size()
    assert aenv.lib_version() == lmdb.version(lib_version=engine)
    assert aenv.flags()["readonly"] is False


# -- environment --------------------------------------------------------------------------


def test_environment_coroutines(env, aenv):
    async def go():
        assert (await aenv.stat())["entries"] == 0
        assert (await aenv.info())["map_size"] == env.info()["map_size"]
        db = await aenv.open_db(b"named")
        assert await aenv.dbs() == [b"named"]
        return db

    assert run(go()).flags()["dupsort"] is False


def test_async_with_environment_closes_it(env, aenv):
    async def go():
        async with aenv as same:
            assert same is aenv

    run(go())
    with pytest.raises(lmdb.Error):
        env.stat()


# -- transactions -------------------------------------------------------------------------


def test_write_then_read(aenv):
    async def go():
        async with aenv.begin(write=True) as txn:
            assert await txn.put(b"k", b"v")
            assert await txn.get(b"k") == b"v"
        async with aenv.begin() as txn:
            assert isinstance(txn.id(), int)
            return await txn.get(b"k")

    assert run(go()) == b"v"


def test_begin_can_be_awaited_without_async_with(aenv):
    async def go():
        txn = await aenv.begin(write=True)
        await txn.put(b"k", b"v")
        await txn.commit()
        txn = await aenv.begin()
        try:
            return await txn.get(b"k")
        finally:
            await txn.abort()

    assert run(go()) == b"v"


def test_exception_aborts(aenv):
    async def go():
        with pytest.raises(ValueError):
            async with aenv.begin(write=True) as txn:
                await txn.put(b"k", b"v")
                raise ValueError("boom")
        async with aenv.begin() as txn:
            return await txn.get(b"k")

    assert run(go()) is None


def test_replace_pop_delete(aenv):
    async def go():
        async with aenv.begin(write=True) as txn:
            await txn.put(b"a", b"1")
            await txn.put(b"b", b"2")
            assert await txn.replace(b"a", b"one") == b"1"
            assert await txn.pop(b"b") == b"2"
            assert await txn.delete(b"a")
            assert not await txn.delete(b"a")
            return (await txn.stat())["entries"]

    assert run(go()) == 0


def test_explicit_commit_then_exit_is_silent_and_second_commit_raises(aenv):
    async def go():
        async with aenv.begin(write=True) as txn:
            await txn.put(b"k", b"v")
            await txn.commit()
            assert txn._done
            with pytest.raises(lmdb.Error, match="closed/deleted/dropped"):
                await txn.commit()
            await txn.abort()  # silent once finished
        async with aenv.begin() as txn:
            return await txn.get(b"k")

    assert run(go()) == b"v"


def test_write_txn_runs_on_one_private_thread(aenv):
    async def go():
        async with aenv.begin(write=True) as txn:
            assert txn._owns_executor
            assert isinstance(txn._executor, ThreadPoolExecutor)
            private = txn._executor
            loop = asyncio.get_running_loop()
            threads = {await loop.run_in_executor(private, threading.get_ident) for _ in range(5)}
            async with txn.cursor() as cur:
                assert cur._executor is private
        return private, txn, threads

    private, txn, threads = run(go())
    assert len(threads) == 1
    assert not txn._owns_executor
    with pytest.raises(RuntimeError):  # shut down once the txn finished
        private.submit(int)


def test_read_txn_uses_the_environment_executor(env):
    pool = ThreadPoolExecutor(3)
    try:

        async def go():
            async with aio.wrap(env, pool).begin() as txn:
                assert txn._executor is pool
                assert not txn._owns_executor

        run(go())
    finally:
        pool.shutdown()


def test_many_write_txns_through_a_multithreaded_executor(env):
    pool = ThreadPoolExecutor(8)
    try:

        async def go():
            wrapped = aio.wrap(env, pool)
            for i in range(30):
                async with wrapped.begin(write=True) as txn:
                    await txn.put(b"%02d" % i, b"x")
            async with wrapped.begin() as txn:
                return (await txn.stat())["entries"]

        assert run(go()) == 30
    finally:
        pool.shutdown()


def test_concurrent_write_txns_serialise(aenv):
    # Each writer reads the counter, yields to the loop, then writes counter + 1: only
    # if the transactions run one after another does the count reach the writer count.
    async def writer():
        async with aenv.begin(write=True) as txn:
            count = int(await txn.get(b"count", b"0"))
            for _ in range(3):
                await asyncio.sleep(0)
            await txn.put(b"count", b"%d" % (count + 1))

    async def go():
        await asyncio.gather(*(writer() for _ in range(6)))
        async with aenv.begin() as txn:
            return await txn.get(b"count")

    assert run(go()) == b"6"


def test_cancelled_waiting_writer_releases_the_write_lock(aenv):
    async def go():
        first = await aenv.begin(write=True)
        waiter = asyncio.ensure_future(aenv.begin(write=True))
        for _ in range(5):
            await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await first.put(b"a", b"1")
        await first.commit()
        # If the cancelled begin kept its transaction, this would wait forever.
        async with aenv.begin(write=True) as txn:
            await txn.put(b"b", b"2")
        async with aenv.begin() as txn:
            return (await txn.stat())["entries"]

    assert run(go()) == 2


def test_nested_write_txn_runs_on_the_parent_thread(aenv):
    async def go():
        async with aenv.begin(write=True) as parent:
            await parent.put(b"p", b"1")
            async with aenv.begin(write=True, parent=parent) as child:
                assert child._executor is parent._executor
                assert not child._owns_executor
                await child.put(b"c", b"2")
            with pytest.raises(ValueError):
                async with aenv.begin(write=True, parent=parent) as child:
                    await child.put(b"gone", b"3")
                    raise ValueError
        async with aenv.begin() as txn:
            return [await txn.get(k) for k in (b"p", b"c", b"gone")]

    assert run(go()) == [b"1", b"2", None]


def test_gather_on_one_transaction(aenv):
    async def go():
        async with aenv.begin(write=True) as txn:
            await asyncio.gather(*(txn.put(b"%03d" % i, b"v") for i in range(50)))
            values = await asyncio.gather(*(txn.get(b"%03d" % i) for i in range(50)))
        return values

    assert run(go()) == [b"v"] * 50


# -- cursors ------------------------------------------------------------------------------


def put_items(aenv, items, db=None):
    async def go():
        async with aenv.begin(write=True, db=db) as txn:
            async with txn.cursor() as cur:
                assert await cur.putmulti(items) == (len(items), len(items))

    run(go())


def test_cursor_navigation_and_synchronous_accessors(aenv):
    put_items(aenv, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])

    async def go():
        async with aenv.begin() as txn:
            async with txn.cursor() as cur:
                assert await cur.first()
                assert cur.key() == b"a"
                assert await cur.next()
                assert cur.item() == (b"b", b"2")
                assert await cur.last()
                assert cur.value() == b"3"
                assert await cur.set_range(b"bb")
                assert cur.key() == b"c"
                assert not await cur.set_key(b"zz")
                assert await cur.get(b"a") == b"1"
                assert await cur.getmulti([b"a", b"c"]) == [(b"a", b"1"), (b"c", b"3")]

    run(go())


def test_iterator_methods_return_lists(aenv):
    put_items(aenv, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])

    async def go():
        async with aenv.begin() as txn:
            async with txn.cursor() as cur:
                assert await cur.iternext() == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
                assert await cur.iternext(keys=True, values=False) == [b"a", b"b", b"c"]
                await cur.last()
                assert await cur.iterprev(keys=False) == [b"3", b"2", b"1"]

    run(go())


def test_dupsort_cursor(env, aenv):
    db = env.open_db(b"dups", dupsort=True)
    put_items(aenv, [(b"k", b"a"), (b"k", b"b"), (b"k", b"c"), (b"l", b"x")], db=db)

    async def go():
        async with aenv.begin(db=db, write=True) as txn:
            async with txn.cursor() as cur:
                assert await cur.set_key(b"k")
                assert await cur.count() == 3
                assert await cur.iternext_dup() == [b"a", b"b", b"c"]
                await cur.first()
                assert await cur.iternext_nodup() == [b"k", b"l"]
                assert await cur.set_key_dup(b"k", b"b")
                assert await cur.delete()
                assert cur.item() == (b"k", b"c")

    run(go())


def test_async_for_walks_all_items_in_batches(aenv):
    items = [(b"%05d" % i, b"v%d" % i) for i in range(700)]  # more than one batch
    put_items(aenv, items)

    async def go():
        async with aenv.begin(buffers=True) as txn:
            async with txn.cursor() as cur:
                seen = [item async for item in cur]
                assert await cur.set_key(b"00650")
                tail = [item async for item in cur]
        return seen, tail

    seen, tail = run(go())
    assert seen == items
    assert all(type(k) is bytes and type(v) is bytes for k, v in seen)
    assert tail == items[650:]


def test_async_for_on_empty_database(aenv):
    async def go():
        async with aenv.begin() as txn:
            async with txn.cursor() as cur:
                return [item async for item in cur]

    assert run(go()) == []


def test_closed_cursor_raises(aenv):
    async def go():
        async with aenv.begin() as txn:
            cur = await txn.cursor()
            await cur.close()
            with pytest.raises(lmdb.Error, match="closed/deleted/dropped"):
                await cur.first()

    run(go())


def test_data_attributes_read_through_but_unproxied_methods_do_not(env, aenv):
    async def go():
        async with aenv.begin() as txn:
            assert txn.env is env
            async with txn.cursor() as cur:
                assert cur.txn is txn._txn
            with pytest.raises(AttributeError):
                txn._no_such_attribute  # noqa: B018
        with pytest.raises(AttributeError):
            aenv.__enter__  # noqa: B018  (a method of Environment with no async proxy)

    run(go())
