"""TimeSeries: time windows, boundaries, empty windows and latest-N over (id, timestamp) keys."""

from __future__ import annotations

import datetime
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zlmdb
from zlmdb._timeseries import TimeSeries, to_datetime64

T0 = np.datetime64("2026-01-01T00:00:00", "ns")
SECOND = np.timedelta64(1_000_000_000, "ns")

SENSOR = uuid.UUID("6c2c9d36-6d5b-4c1e-8f8e-0d3a4b5c6d7e")
BEFORE = uuid.UUID(int=SENSOR.int - 1)  # neighbours in key order
AFTER = uuid.UUID(int=SENSOR.int + 1)
MAX_UUID = uuid.UUID(int=(1 << 128) - 1)


def at(seconds: int) -> np.datetime64:
    return T0 + seconds * SECOND


class Schema(zlmdb.Schema):
    def __init__(self) -> None:
        super().__init__()
        ident = {"marshal": lambda v: v, "unmarshal": lambda v: v}
        self.samples = zlmdb.MapUuidTimestampCbor(1, **ident)
        self.named = zlmdb.MapStringTimestampCbor(2, **ident)
        self.counters = zlmdb.MapUint64TimestampUuid(3)
        self.devices = zlmdb.MapBytes20TimestampUuid(4)


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), maxsize=64 * 1024 * 1024) as database:
        yield database


@pytest.fixture
def schema(db):
    s = Schema()
    with db.begin(write=True) as txn:
        for series in (BEFORE, SENSOR, AFTER):
            for i in range(10):
                s.samples[txn, (series, at(i))] = {"v": i, "s": str(series)}
    return s


@pytest.fixture
def series(schema):
    return TimeSeries(schema.samples)


def seconds(rows):
    """The sample times of (key, value) rows, as seconds after T0."""
    return [int((key[1] - T0) // SECOND) for key, _ in rows]


def test_window_returns_samples_from_start_inclusive_to_end_exclusive(db, series):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, at(3), at(6))) == [3, 4, 5]


def test_window_contains_only_the_requested_series(db, series):
    with db.begin() as txn:
        rows = list(series.window(txn, SENSOR))
    assert {key[0] for key, _ in rows} == {SENSOR}
    assert len(rows) == 10


def test_window_value_belongs_to_its_key(db, series):
    with db.begin() as txn:
        rows = list(series.window(txn, SENSOR, at(2), at(3)))
    assert rows == [((SENSOR, at(2)), {"v": 2, "s": str(SENSOR)})]


def test_window_with_equal_bounds_is_empty(db, series):
    with db.begin() as txn:
        assert list(series.window(txn, SENSOR, at(4), at(4))) == []


def test_inverted_window_is_empty(db, series):
    with db.begin() as txn:
        assert list(series.window(txn, SENSOR, at(6), at(3))) == []


def test_window_between_samples_is_empty(db, series):
    with db.begin() as txn:
        assert list(series.window(txn, SENSOR, at(3) + 1, at(4))) == []


def test_window_after_last_sample_is_empty(db, series):
    with db.begin() as txn:
        assert list(series.window(txn, SENSOR, at(10), at(100))) == []


def test_window_of_unknown_series_is_empty(db, series):
    with db.begin() as txn:
        assert list(series.window(txn, uuid.uuid4())) == []


def test_window_end_one_nanosecond_after_sample_includes_it(db, series):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, at(9), at(9) + 1)) == [9]


def test_window_without_start_begins_at_first_sample(db, series):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, end=at(2))) == [0, 1]


def test_window_without_end_runs_to_last_sample(db, series):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, start=at(8))) == [8, 9]


def test_reverse_window_is_newest_first(db, series):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, at(3), at(6), reverse=True)) == [5, 4, 3]


def test_window_limit_keeps_the_oldest(db, series):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, at(2), limit=3)) == [2, 3, 4]


def test_window_can_return_values_only(db, series):
    with db.begin() as txn:
        values = list(series.window(txn, SENSOR, at(0), at(2), return_keys=False))
    assert [v["v"] for v in values] == [0, 1]


@pytest.mark.parametrize("limit", [0, -1, 2.0])
def test_window_rejects_bad_limit(db, series, limit):
    with db.begin() as txn, pytest.raises(ValueError):
        series.window(txn, SENSOR, limit=limit)


def test_latest_returns_newest_n_newest_first(db, series):
    with db.begin() as txn:
        assert seconds(series.latest(txn, SENSOR, 3)) == [9, 8, 7]


def test_latest_defaults_to_the_single_newest_sample(db, series):
    with db.begin() as txn:
        assert series.latest(txn, SENSOR) == [((SENSOR, at(9)), {"v": 9, "s": str(SENSOR)})]


def test_latest_before_excludes_that_time(db, series):
    with db.begin() as txn:
        assert seconds(series.latest(txn, SENSOR, 2, before=at(5))) == [4, 3]


def test_latest_with_more_than_available_returns_all(db, series):
    with db.begin() as txn:
        assert len(series.latest(txn, SENSOR, 1000)) == 10


def test_latest_of_unknown_series_is_empty(db, series):
    with db.begin() as txn:
        assert series.latest(txn, uuid.uuid4(), 5) == []


def test_latest_of_first_series_does_not_leak_into_next(db, schema):
    with db.begin() as txn:
        rows = TimeSeries(schema.samples).latest(txn, BEFORE, 20)
    assert {key[0] for key, _ in rows} == {BEFORE}


def test_latest_per_id_covers_every_series(db, series):
    with db.begin() as txn:
        latest = series.latest_per_id(txn, n=2)
    assert {k: seconds(v) for k, v in latest.items()} == {
        BEFORE: [9, 8],
        SENSOR: [9, 8],
        AFTER: [9, 8],
    }


def test_latest_per_id_maps_unknown_series_to_empty_list(db, series):
    unknown = uuid.uuid4()
    with db.begin() as txn:
        assert series.latest_per_id(txn, [unknown]) == {unknown: []}


def test_ids_lists_each_series_once_in_key_order(db, series):
    with db.begin() as txn:
        assert list(series.ids(txn)) == [BEFORE, SENSOR, AFTER]


def test_ids_of_empty_table_is_empty(db):
    with db.begin() as txn:
        assert list(TimeSeries(Schema().samples).ids(txn)) == []


def test_count_matches_window(db, series):
    with db.begin() as txn:
        assert series.count(txn, SENSOR, at(2), at(7)) == 5


def test_count_of_whole_series(db, series):
    with db.begin() as txn:
        assert series.count(txn, SENSOR) == 10


def test_count_of_inverted_window_is_zero(db, series):
    with db.begin() as txn:
        assert series.count(txn, SENSOR, at(7), at(2)) == 0


def test_trim_deletes_only_older_samples_of_the_series(db, schema, series):
    with db.begin(write=True) as txn:
        assert series.trim(txn, SENSOR, before=at(4)) == 4
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR)) == [4, 5, 6, 7, 8, 9]
        assert schema.samples.count(txn) == 26


@pytest.mark.parametrize(
    "bound",
    [
        at(3),
        int(at(3).astype(np.int64)),
        datetime.datetime(2026, 1, 1, 0, 0, 3),
        datetime.datetime(
            2026, 1, 1, 1, 0, 3, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
        ),
        np.datetime64("2026-01-01T00:00:03", "s"),
    ],
)
def test_bounds_accept_datetime64_int_ns_and_datetime(db, series, bound):
    with db.begin() as txn:
        assert seconds(series.window(txn, SENSOR, bound, at(5))) == [3, 4]


@pytest.mark.parametrize(
    "bound", [-1, np.datetime64("1969-12-31T23:59:59", "ns"), np.datetime64("NaT")]
)
def test_bounds_before_1970_or_nat_are_rejected(bound):
    with pytest.raises(ValueError):
        to_datetime64(bound)


@pytest.mark.parametrize("bound", ["2026-01-01", 1.5, True])
def test_bounds_of_other_types_are_rejected(bound):
    with pytest.raises(TypeError):
        to_datetime64(bound)


def test_string_ids_sharing_a_prefix_stay_apart(db, schema):
    with db.begin(write=True) as txn:
        for name in ("a", "ab", "b"):
            for i in range(3):
                schema.named[txn, (name, at(i))] = {"name": name, "i": i}
    series = TimeSeries(schema.named)
    with db.begin() as txn:
        assert [v["name"] for v in series.window(txn, "a", return_keys=False)] == ["a"] * 3
        assert seconds(series.latest(txn, "a", 2)) == [2, 1]
        assert series.count(txn, "a", at(0), at(2)) == 2
        assert list(series.ids(txn)) == ["a", "ab", "b"]


def test_uint64_ids_are_windowed(db, schema):
    with db.begin(write=True) as txn:
        for ident in (6, 7, 8):
            for i in range(4):
                schema.counters[txn, (ident, at(i))] = uuid.UUID(int=ident * 100 + i)
    series = TimeSeries(schema.counters)
    with db.begin() as txn:
        assert [v.int for v in series.window(txn, 7, at(1), return_keys=False)] == [701, 702, 703]


def test_highest_possible_id_has_an_open_ended_window(db, schema):
    with db.begin(write=True) as txn:
        for i in range(3):
            schema.samples[txn, (MAX_UUID, at(i))] = {"i": i}
    series = TimeSeries(schema.samples)
    with db.begin() as txn:
        assert seconds(series.window(txn, MAX_UUID, at(1))) == [1, 2]
        assert seconds(series.latest(txn, MAX_UUID, 2)) == [2, 1]


def test_all_ones_bytes_id_has_an_open_ended_window(db, schema):
    device = b"\xff" * 20
    with db.begin(write=True) as txn:
        for i in range(3):
            schema.devices[txn, (b"\x00" * 19 + b"\x01", at(i))] = uuid.UUID(int=i)
            schema.devices[txn, (device, at(i))] = uuid.UUID(int=10 + i)
    series = TimeSeries(schema.devices)
    with db.begin() as txn:
        assert [v.int for v in series.window(txn, device, return_keys=False)] == [10, 11, 12]
        assert list(series.ids(txn)) == [b"\x00" * 19 + b"\x01", device]


def test_numpy_valued_series_window_and_latest(db):
    table = zlmdb.MapUuidTimestampNumpy(5)
    with db.begin(write=True) as txn:
        for i in range(5):
            table[txn, (SENSOR, at(i))] = np.full(3, float(i))
            table[txn, (AFTER, at(i))] = np.zeros(3)
    series = TimeSeries(table)
    with db.begin() as txn:
        window = [v.tolist() for v in series.window(txn, SENSOR, at(1), at(3), return_keys=False)]
        [(key, newest)] = series.latest(txn, SENSOR)
        assert (key, newest.tolist()) == ((SENSOR, at(4)), [4.0, 4.0, 4.0])
    assert window == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]


def _fb_build(number, builder):
    builder.StartObject(1)
    builder.PrependInt64Slot(0, number, 0)
    return builder.EndObject()


def _fb_cast(buf):
    import flatbuffers

    tab = flatbuffers.table.Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    offset = tab.Offset(4)
    return tab.Get(flatbuffers.number_types.Int64Flags, offset + tab.Pos) if offset else 0


def test_three_part_keys_use_a_padded_suffix(db):
    table = zlmdb.MapUuidTimestampUuidFlatBuffers(6, build=_fb_build, cast=_fb_cast)
    with db.begin(write=True) as txn:
        for i in range(4):
            for j in (1, 2):  # two samples per instant
                table[txn, (SENSOR, at(i), uuid.UUID(int=j))] = 10 * i + j
                table[txn, (AFTER, at(i), uuid.UUID(int=j))] = -1
    series = TimeSeries(table, key_suffix=(None,))
    with db.begin() as txn:
        assert list(series.window(txn, SENSOR, at(1), at(3), return_keys=False)) == [11, 12, 21, 22]
        assert [value for _, value in series.latest(txn, SENSOR, 3)] == [32, 31, 22]
        assert series.count(txn, SENSOR, at(1)) == 6


_IDS = [BEFORE, SENSOR, AFTER]
_SECONDS = st.integers(min_value=0, max_value=30)
_SAMPLES = st.sets(st.tuples(st.sampled_from(_IDS), _SECONDS), max_size=40)
_MAYBE_SECONDS = st.one_of(st.none(), _SECONDS)
_MODEL_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load_samples(db, samples):
    table = zlmdb.MapUuidTimestampCbor(7, marshal=lambda v: v, unmarshal=lambda v: v)
    with db.begin(write=True) as txn:
        table.truncate(txn)
        for ident, second in samples:
            table[txn, (ident, at(second))] = second
    return TimeSeries(table)


def _model_window(samples, start, end):
    return sorted(
        s
        for ident, s in samples
        if ident == SENSOR and (start is None or s >= start) and (end is None or s < end)
    )


def _bounds(start, end):
    return [None if b is None else at(b) for b in (start, end)]


@_MODEL_SETTINGS
@given(
    samples=_SAMPLES,
    start=_MAYBE_SECONDS,
    end=_MAYBE_SECONDS,
    reverse=st.booleans(),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
)
def test_window_matches_a_model(db, samples, start, end, reverse, limit):
    series = _load_samples(db, samples)
    expected = _model_window(samples, start, end)
    if reverse:
        expected.reverse()
    if limit is not None:
        expected = expected[:limit]
    with db.begin() as txn:
        got = list(
            series.window(
                txn, SENSOR, *_bounds(start, end), reverse=reverse, limit=limit, return_keys=False
            )
        )
    assert got == expected


@_MODEL_SETTINGS
@given(samples=_SAMPLES, start=_MAYBE_SECONDS, end=_MAYBE_SECONDS)
def test_count_matches_a_model(db, samples, start, end):
    series = _load_samples(db, samples)
    with db.begin() as txn:
        assert series.count(txn, SENSOR, *_bounds(start, end)) == len(
            _model_window(samples, start, end)
        )
