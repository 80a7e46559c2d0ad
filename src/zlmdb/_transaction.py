"""Upstream-compatible module of :class:`Transaction` and :class:`TransactionStats`."""

from zlmdb.orm._transaction import Transaction, TransactionStats

__all__ = ["Transaction", "TransactionStats"]
