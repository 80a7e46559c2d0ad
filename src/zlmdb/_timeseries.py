"""Time-series queries over tables keyed by ``(series_id, timestamp)``.

Maps such as :class:`~zlmdb.MapUuidTimestampCbor`, :class:`~zlmdb.MapUuidTimestampUuid`,
:class:`~zlmdb.MapUint64TimestampUuid`, :class:`~zlmdb.MapBytes20TimestampUuid` or
:class:`~zlmdb.MapStringTimestampCbor` store the series id first and the timestamp second, so
all samples of one series sit next to each other on disk, ordered by time. :class:`TimeSeries`
turns the usual questions into one :meth:`~zlmdb.PersistentMap.select` with the right bounds:

* :meth:`TimeSeries.window` -- samples of one series with ``start <= t < end``;
* :meth:`TimeSeries.latest` -- the newest ``n`` samples (a reverse select with a limit);
* :meth:`TimeSeries.latest_per_id`, :meth:`TimeSeries.ids`, :meth:`TimeSeries.count`,
  :meth:`TimeSeries.trim` (retention: delete samples older than a cutoff).

Timestamps are ``numpy.datetime64`` values in nanoseconds, the unit the keys store. The helpers
also accept an ``int`` (nanoseconds since the Unix epoch), a :class:`datetime.datetime` (naive
means UTC) and ``datetime64`` in any other unit (converted to ns).

On-disk fact to know: the key stores the int64 nanosecond count big-endian as two's complement,
so timestamps before 1970 sort *after* all later ones. The helpers reject bounds before 1970
(``ValueError``); samples stored with such timestamps appear only in unbounded queries, last.

Keys with a third component after the timestamp (e.g. ``MapUuidTimestampUuidFlatBuffers``) work
too: pass ``key_suffix=(None,)`` so bounds are padded with the lowest value of that component.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

__all__ = ["TimeSeries", "to_datetime64"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ZERO_TS = np.datetime64(0, "ns")


def to_datetime64(value: Any) -> np.datetime64:
    """Convert a timestamp to ``numpy.datetime64`` in nanoseconds.

    Args:
        value: ``numpy.datetime64`` (any unit), ``int`` nanoseconds since the epoch, or
            :class:`datetime.datetime` (naive values are taken as UTC).

    Raises:
        TypeError: ``value`` is none of these (``bool`` included).
        ValueError: ``value`` is NaT, or before 1970-01-01 (not orderable in the keys).
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValueError("timestamp is NaT")
        ns = int(value.astype("datetime64[ns]").astype(np.int64))
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        ns = int(value)
    elif isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        delta = value - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    else:
        raise TypeError(
            f"timestamp must be numpy.datetime64, int (ns) or datetime, not {type(value).__name__}"
        )
    if ns < 0:
        raise ValueError(
            f"timestamp {ns} ns is before 1970: such keys sort after all later ones on disk"
        )
    if ns >= 2**63:
        raise ValueError(f"timestamp {ns} ns does not fit in int64")
    return np.datetime64(ns, "ns")


def _successor_id(series_id: Any) -> Any:
    """The smallest id of the same type that sorts after ``series_id``, or ``None``."""
    if isinstance(series_id, uuid.UUID):
        if series_id.int == (1 << 128) - 1:
            return None
        return uuid.UUID(int=series_id.int + 1)
    if isinstance(series_id, bytes):
        width = len(series_id)
        number = int.from_bytes(series_id, "big") + 1
        if number >> (8 * width):
            return None
        return number.to_bytes(width, "big")
    if isinstance(series_id, int) and not isinstance(series_id, bool):
        return series_id + 1
    return None  # str: variable width, no successor that keeps the key layout


class TimeSeries:
    """Time-window queries over one table keyed by ``(series_id, timestamp[, ...])``.

    Args:
        table: a map whose key is ``(id, timestamp)`` with a fixed-width id (UUID, OID, uint64,
            bytes16/20/32) or a string id; the map's own key codec checks the types.
        key_suffix: components appended to every bound key after the timestamp, for keys with
            more parts (``(None,)`` pads with the lowest value, as the key codecs define it).

    The methods take the transaction first, like the map's own operations; the iterators they
    return are valid only while that transaction is open.

    Not for ``(Oid, Timestamp)`` maps (:class:`~zlmdb.MapOidTimestampOid` and friends): their
    timestamps are stored little-endian (an upstream format fact) and do not sort by time.
    """

    def __init__(self, table: Any, key_suffix: Tuple[Any, ...] = ()) -> None:
        self._table = table
        self._suffix = tuple(key_suffix)

    @property
    def table(self) -> Any:
        """The map queried."""
        return self._table

    def _key(self, series_id: Any, ts: np.datetime64) -> Tuple[Any, ...]:
        return (series_id, ts) + self._suffix

    def _bounds(
        self, series_id: Any, start: Any, end: Any
    ) -> Tuple[Tuple[Any, ...], Optional[Tuple[Any, ...]], bool]:
        """(from_key, to_key, needs_filter) for ``start <= t < end`` within one series."""
        from_ts = _ZERO_TS if start is None else to_datetime64(start)
        if end is not None:
            return (
                self._key(series_id, from_ts),
                self._key(series_id, to_datetime64(end)),
                (isinstance(series_id, str)),
            )
        successor = _successor_id(series_id)
        if successor is None:
            return self._key(series_id, from_ts), None, True
        return self._key(series_id, from_ts), self._key(successor, _ZERO_TS), False

    def window(
        self,
        txn: Any,
        series_id: Any,
        start: Any = None,
        end: Any = None,
        reverse: bool = False,
        limit: Optional[int] = None,
        return_keys: bool = True,
        return_values: bool = True,
    ) -> Iterator[Any]:
        """Samples of ``series_id`` with ``start <= timestamp < end``, in time order.

        Args:
            txn: an open transaction of the database.
            series_id: the series (first key component).
            start: inclusive lower bound; ``None``: from the first sample.
            end: exclusive upper bound; ``None``: up to the last sample.
            reverse: newest first.
            limit: at most this many samples (``None``: all).
            return_keys, return_values: as for :meth:`~zlmdb.PersistentMap.select`; keys are
                ``(series_id, timestamp[, ...])`` tuples.

        Returns:
            an iterator of ``(key, value)``, ``key`` or ``value``.

        Raises:
            ValueError: a bound is before 1970 or NaT, or ``limit`` is not positive.
            TypeError: a bound is not a timestamp; the map's key codec may raise for a wrong id.
        """
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit must be a positive int or None, not {limit!r}")
        from_key, to_key, needs_filter = self._bounds(series_id, start, end)
        if from_key is not None and to_key is not None and from_key[1] >= to_key[1]:
            if to_key[0] == series_id:
                return iter(())  # empty or inverted window
        if not needs_filter:
            return self._table.select(
                txn,
                from_key=from_key,
                to_key=to_key,
                return_keys=return_keys,
                return_values=return_values,
                reverse=reverse,
                limit=limit,
            )
        return self._filtered(
            txn, series_id, from_key, to_key, reverse, limit, return_keys, return_values
        )

    def _filtered(
        self,
        txn: Any,
        series_id: Any,
        from_key: Tuple[Any, ...],
        to_key: Optional[Tuple[Any, ...]],
        reverse: bool,
        limit: Optional[int],
        return_keys: bool,
        return_values: bool,
    ) -> Iterator[Any]:
        # Variable-width (string) ids: keys of other ids that share our id as a prefix can fall
        # inside the byte range, so decode keys and keep only ours.
        if to_key is None and isinstance(series_id, str):
            # every key of this id starts with its UTF-8 bytes: stop once past that prefix
            rows = self._table.select(txn, from_key=from_key, reverse=False, return_values=True)
            collected: List[Tuple[Any, Any]] = []
            for key, value in rows:
                if not isinstance(key[0], str) or not key[0].startswith(series_id):
                    break
                if key[0] == series_id:
                    collected.append((key, value))
            if reverse:
                collected.reverse()
            source: Iterable[Tuple[Any, Any]] = collected
        else:
            source = self._table.select(txn, from_key=from_key, to_key=to_key, reverse=reverse)
        produced = 0
        for key, value in source:
            if key[0] != series_id:
                if to_key is None and not reverse and not isinstance(series_id, str):
                    break  # fixed-width id: past the last sample of the series
                continue
            if limit is not None and produced >= limit:
                return
            produced += 1
            if return_keys and return_values:
                yield key, value
            elif return_keys:
                yield key
            elif return_values:
                yield value
            else:
                yield None

    def latest(self, txn: Any, series_id: Any, n: int = 1, before: Any = None) -> List[Any]:
        """The newest ``n`` samples of ``series_id`` (optionally before a time), newest first.

        Args:
            n: how many samples at most (>= 1).
            before: exclusive upper bound on the timestamp; ``None``: no bound.

        Returns:
            a list of ``(key, value)`` pairs, at most ``n``, newest first.

        Raises:
            ValueError: ``n`` < 1 or ``before`` is before 1970.
        """
        return list(self.window(txn, series_id, end=before, reverse=True, limit=n))

    def latest_per_id(
        self, txn: Any, series_ids: Optional[Iterable[Any]] = None, n: int = 1
    ) -> Dict[Any, List[Any]]:
        """The newest ``n`` samples of each series, newest first.

        Args:
            series_ids: the series to look at; ``None``: every series in the table (see
                :meth:`ids`).

        Returns:
            ``{series_id: [(key, value), ...]}``; a series without samples maps to ``[]``.

        Raises:
            ValueError: ``n`` < 1.
        """
        if series_ids is None:
            series_ids = list(self.ids(txn))
        return {series_id: self.latest(txn, series_id, n) for series_id in series_ids}

    def ids(self, txn: Any) -> Iterator[Any]:
        """The distinct series ids in the table, in key order.

        For fixed-width ids this reads one key per series (it jumps over the rest of each
        series); string ids are found by walking all keys.
        """
        rows = self._table.select(txn, return_values=False, limit=1)
        first = next(iter(rows), None)
        if first is None:
            return
        current = first[0]
        if isinstance(current, str):
            seen = set()
            for key in self._table.select(txn, return_values=False):
                if key[0] not in seen:
                    seen.add(key[0])
                    yield key[0]
            return
        while True:
            yield current
            successor = _successor_id(current)
            if successor is None:
                return
            rows = self._table.select(
                txn,
                from_key=self._key(successor, _ZERO_TS),
                return_values=False,
                limit=1,
            )
            key = next(iter(rows), None)
            if key is None:
                return
            current = key[0]

    def count(self, txn: Any, series_id: Any, start: Any = None, end: Any = None) -> int:
        """Number of samples of ``series_id`` with ``start <= timestamp < end``.

        Uses :meth:`~zlmdb.PersistentMap.count_range` (no values are read) for fixed-width ids.

        Raises:
            ValueError: a bound is before 1970.
        """
        from_key, to_key, needs_filter = self._bounds(series_id, start, end)
        if needs_filter or to_key is None:
            return sum(1 for _ in self.window(txn, series_id, start, end, return_values=False))
        if to_key[0] == series_id and from_key[1] >= to_key[1]:
            return 0
        return int(self._table.count_range(txn, from_key, to_key))

    def trim(self, txn: Any, series_id: Any, before: Any) -> int:
        """Delete the samples of ``series_id`` older than ``before`` (retention).

        Args:
            txn: a write transaction.
            before: samples with ``timestamp < before`` are deleted; indexes are maintained.

        Returns:
            the number of samples deleted.

        Raises:
            ValueError: ``before`` is before 1970.
            zlmdb.lmdb.ReadonlyError: ``txn`` is a read transaction.
        """
        keys = list(self.window(txn, series_id, end=before, return_values=False))
        for key in keys:
            del self._table[txn, key]
        return len(keys)
