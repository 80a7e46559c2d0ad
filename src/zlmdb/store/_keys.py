"""Key normalization and key display for :class:`~zlmdb.store.LmdbObjectStore`."""

from __future__ import annotations

import codecs
import unicodedata
from typing import Any, Optional

NORMALIZATION_FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def check_key_options(
    key_encoding: Optional[str], key_errors: str, str_normalize: Optional[str]
) -> None:
    """Validate the key options eagerly (lmdb-object-store only fails on the first str key).

    Raises:
        LookupError: unknown ``key_encoding`` codec or ``key_errors`` handler.
        ValueError: ``str_normalize`` not one of NFC, NFD, NFKC, NFKD, None or "".
        TypeError: an option of the wrong type.
    """
    if key_encoding is not None:
        if not isinstance(key_encoding, str):
            raise TypeError(
                f"key_encoding must be a str or None; got {type(key_encoding).__name__}"
            )
        codecs.lookup(key_encoding)
    if not isinstance(key_errors, str):
        raise TypeError(f"key_errors must be a str; got {type(key_errors).__name__}")
    codecs.lookup_error(key_errors)
    if str_normalize:
        if not isinstance(str_normalize, str):
            raise TypeError(
                f"str_normalize must be a str or None; got {type(str_normalize).__name__}"
            )
        if str_normalize not in NORMALIZATION_FORMS:
            raise ValueError("invalid normalization form")


def normalize_key(
    key: Any, key_encoding: Optional[str], key_errors: str, str_normalize: Optional[str]
) -> bytes:
    """Return the LMDB key bytes for ``key`` (see LmdbObjectStore._norm_key).

    Raises:
        TypeError: ``None``, a ``str`` without ``key_encoding``, or a non-bytes-like key.
        UnicodeEncodeError: a ``str`` key the codec cannot encode under ``key_errors``.
    """
    if isinstance(key, bytes):
        return key
    if key is None:
        raise TypeError("Key cannot be None.")
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, str):
        if key_encoding is None:
            raise TypeError("str keys are not allowed (set key_encoding='utf-8' etc. to enable).")
        if str_normalize:
            key = unicodedata.normalize(str_normalize, key)
        return key.encode(key_encoding, key_errors)
    raise TypeError(
        f"Key must be bytes-like{' or str' if key_encoding else ''}; got {type(key).__name__}"
    )


def _cap(text: str) -> str:
    return text if len(text) <= 50 else text[:47] + "..."


def display_key(key: Any) -> str:
    """Return a short human-readable form of ``key`` for error messages.

    ``bytes`` that decode as printable UTF-8 of up to 50 chars show as ``'text'``, other
    ``bytes`` as ``0x<hex>`` (up to 16 bytes) or ``0x<first 8 bytes>...(<n> bytes)``; ``str``
    as ``'text'`` (long ones cut to 47 chars + ``...``); anything else (``bytearray`` and
    ``memoryview`` included, as in lmdb-object-store) as its ``repr``, cut the same way.
    """
    if isinstance(key, bytes):
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and text.isprintable() and len(text) <= 50:
            return f"'{text}'"
        if len(key) <= 16:
            return f"0x{key.hex()}"
        return f"0x{key[:8].hex()}...({len(key)} bytes)"
    if isinstance(key, str):
        return f"'{key}'" if len(key) <= 50 else f"'{key[:47]}...'"
    return _cap(repr(key))


def prefix_successor(prefix: bytes) -> Optional[bytes]:
    """Return the smallest key greater than every key starting with ``prefix`` (None: none)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])
