"""Offline structural verifier of LMDB data files.

:func:`verify` reads a ``data.mdb`` as plain bytes (never through LMDB, never
memory-mapped), so a damaged or hostile file cannot crash the process that checks it.
Use it on a file you did not write before you open it with :func:`zlmdb.lmdb.open`::

    from zlmdb.lmdb import verify

    problems = verify.verify("/path/to/env")      # directory or single data file
    if problems:                                   # a list of strings; empty means OK
        print("\\n".join(problems))

Supported layouts: LMDB 0.9 (data version 1, the format zlmdb writes) and LMDB 1.0
(data version 3, which py-lmdb 3 writes with ``lib_version=1``), as written by a 64-bit
build in this machine's byte order. LMDB files are not portable between architectures;
a 32-bit or foreign-endian file raises :class:`VerifyError`.

What is checked, against the snapshot named by the newer of the two meta pages:

* both meta pages: magic, data version, page size (a power of two, 512..32768, or
  ..65536 for LMDB 1.0);
* the free-page database, the main database, every named database, every promoted
  duplicate sub-tree, every inline duplicate sub-page and every overflow extent:
  page numbers stored in headers, page type flags, no page written by an unfinished
  transaction (0.9: ``P_DIRTY`` set; 1.0: ``mp_txnid`` newer than the snapshot), the
  ``mp_lower``/``mp_upper`` bounds, node bounds, key order under the comparator the
  database flags select (lexical, reversed, native integer), keys inside the range
  their parent branch node gives them, equal leaf depth, and the page, entry and
  depth counters of every database record;
* database records: flag combinations the engine rejects, ``md_pad``, ``md_depth``;
* free-page records: key is a txn id no newer than the snapshot, value is a count
  followed by that many page numbers in strictly descending order, all in range;
* globally: each page is reachable at most once, and the reachable pages and the
  free pages are disjoint and together cover every page between the metas and the
  snapshot's last page. Pages past that are outside the snapshot (e.g. written by a
  transaction that never committed) and are ignored, as are free pages' contents.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import BinaryIO, Callable, List, Optional, Tuple, Union

__all__ = ["verify", "VerifyError", "VerifyResult", "data_file_path"]

# ---------------------------------------------------------------------------------------
# LMDB on-disk format, 64-bit build (see _Format for what 0.9 and 1.0 do differently).
# Integers are in host byte order.

_BO = "<" if sys.byteorder == "little" else ">"
_U16 = struct.Struct(_BO + "H")
_U32 = struct.Struct(_BO + "I")
_U64 = struct.Struct(_BO + "Q")
_NODE_HEADER = struct.Struct(_BO + "HHHH")  # mn_lo, mn_hi, mn_flags, mn_ksize
_DB_RECORD = struct.Struct(_BO + "IHHQQQQQ")  # MDB_db
_META = struct.Struct(_BO + "IIQQ")  # mm_magic, mm_version, mm_address, mm_mapsize

MAGIC = 0xBEEFC0DE
_SWAPPED_MAGIC = int.from_bytes(MAGIC.to_bytes(4, "little"), "big")
NODE_HEADER_SIZE = _NODE_HEADER.size  # 8
DB_RECORD_SIZE = _DB_RECORD.size  # 48
META_SIZE = _META.size + 2 * DB_RECORD_SIZE + 16  # + mm_last_pg, mm_txnid
MIN_PAGE_SIZE = 512
NUM_METAS = 2
MAX_DEPTH = 32  # CURSOR_STACK
MAX_KEY_SIZE = 511
NO_ROOT = (1 << 64) - 1

# page flags
P_BRANCH, P_LEAF, P_OVERFLOW, P_META, P_DIRTY, P_LEAF2, P_SUBP = (
    0x01,
    0x02,
    0x04,
    0x08,
    0x10,
    0x20,
    0x40,
)
# node flags
F_BIGDATA, F_SUBDATA, F_DUPDATA = 0x01, 0x02, 0x04
# database flags
MDB_REVERSEKEY, MDB_DUPSORT, MDB_INTEGERKEY = 0x02, 0x04, 0x08
MDB_DUPFIXED, MDB_INTEGERDUP, MDB_REVERSEDUP = 0x10, 0x20, 0x40
_DB_FLAGS = (
    MDB_REVERSEKEY | MDB_DUPSORT | MDB_INTEGERKEY | MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP
)
_NEEDS_DUPSORT = MDB_DUPFIXED | MDB_INTEGERDUP | MDB_REVERSEDUP
# the only flag sets LMDB gives the record of a promoted duplicate sub-tree
_DUP_TREE_FLAGS = (0, MDB_DUPFIXED, MDB_DUPFIXED | MDB_INTEGERKEY)

_MAX_PROBLEMS = 200


class VerifyError(Exception):
    """The file cannot be verified at all: it is not an LMDB data file, its layout is
    not a supported one (32-bit, foreign byte order), or its meta pages are unreadable.
    Problems found in a readable file are returned, not raised."""


class VerifyResult(List[str]):
    """The problems :func:`verify` found, one human-readable string each.

    It is a ``list`` (so ``result == []`` means the file is sound) with two helpers:
    :attr:`ok` and ``str(result)`` (``'verify: OK'`` or the problems, one a line).
    """

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self

    def __str__(self) -> str:
        return "verify: OK" if not self else "\n".join(self)


# ---------------------------------------------------------------------------------------
# comparators: the ones mdb_default_cmp() picks from a database's flags


def _lexical(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


def _reversed(a: bytes, b: bytes) -> int:
    ra, rb = a[::-1], b[::-1]
    return (ra > rb) - (ra < rb)


def _native_int(a: bytes, b: bytes) -> int:
    ia, ib = int.from_bytes(a, sys.byteorder), int.from_bytes(b, sys.byteorder)
    return (ia > ib) - (ia < ib)


Comparator = Callable[[bytes, bytes], int]


def _key_comparator(flags: int) -> Comparator:
    if flags & MDB_REVERSEKEY:
        return _reversed
    if flags & MDB_INTEGERKEY:
        return _native_int
    return _lexical


def _dup_comparator(flags: int) -> Optional[Comparator]:
    if not flags & MDB_DUPSORT:
        return None
    if flags & MDB_INTEGERDUP:
        return _native_int
    if flags & MDB_REVERSEDUP:
        return _reversed
    return _lexical


def _bad_flag_combination(flags: int) -> bool:
    return bool(flags & _NEEDS_DUPSORT) and not flags & MDB_DUPSORT


def _show_key(key: bytes) -> str:
    text = key.decode("ascii", "replace")
    return text if text.isprintable() and "\ufffd" not in text else "0x" + key.hex()


# ---------------------------------------------------------------------------------------
# the two page layouts


class _Format:
    """Where one LMDB file layout keeps things. LMDB 0.9 has a 16-byte page header
    (mp_pgno, mp_pad, mp_flags, mp_lower, mp_upper) and node offsets counted from the
    page start. LMDB 1.0 adds mp_txnid after mp_pgno (24 bytes), counts mp_lower,
    mp_upper and node offsets from the end of the header, pads keys to an even length
    in leaf nodes, and stores an overflow value's page count in its node as well."""

    __slots__ = (
        "name",
        "header_size",
        "base",
        "version",
        "max_psize",
        "page_txnid",
        "even_keys",
        "bigdata_size",
    )

    def __init__(
        self,
        name: str,
        header_size: int,
        base: int,
        version: int,
        max_psize: int,
        page_txnid: bool,
        even_keys: bool,
        bigdata_size: int,
    ) -> None:
        self.name = name
        self.header_size = header_size
        self.base = base  # what mp_lower/mp_upper and node offsets are relative to
        self.version = version  # mm_version
        self.max_psize = max_psize
        self.page_txnid = page_txnid  # pages carry the txn that wrote them
        self.even_keys = even_keys
        self.bigdata_size = bigdata_size  # bytes of an F_BIGDATA node's value


LMDB_0_9 = _Format("LMDB 0.9", 16, 0, 1, 0x8000, False, False, 8)
LMDB_1_0 = _Format("LMDB 1.0", 24, 24, 3, 0x10000, True, True, 24)
_FORMATS = {f.header_size: f for f in (LMDB_0_9, LMDB_1_0)}


class _PageHeader:
    """The header fields of a page or of a sub-page starting at ``offset``."""

    __slots__ = ("pgno", "txnid", "pad", "flags", "lower", "upper", "pages")

    def __init__(self, fmt: _Format, buf: bytes, offset: int = 0) -> None:
        end = offset + fmt.header_size
        self.pgno = _U64.unpack_from(buf, offset)[0]
        self.txnid = _U64.unpack_from(buf, offset + 8)[0] if fmt.page_txnid else 0
        self.pad, self.flags, self.lower, self.upper = struct.unpack_from(
            _BO + "HHHH", buf, end - 8
        )
        self.pages = _U32.unpack_from(buf, end - 4)[0]  # overflow pages: shares lower/upper


# ---------------------------------------------------------------------------------------
# records


class _DbRecord:
    """An ``MDB_db`` record: a database's root and counters."""

    __slots__ = (
        "pad",
        "flags",
        "depth",
        "branch_pages",
        "leaf_pages",
        "overflow_pages",
        "entries",
        "root",
    )

    def __init__(self, buf: bytes, offset: int) -> None:
        (
            self.pad,
            self.flags,
            self.depth,
            self.branch_pages,
            self.leaf_pages,
            self.overflow_pages,
            self.entries,
            self.root,
        ) = _DB_RECORD.unpack_from(buf, offset)


class _Meta:
    """One meta page: the roots of the free and main databases of one snapshot."""

    __slots__ = (
        "index",
        "pgno",
        "page_flags",
        "magic",
        "version",
        "mapsize",
        "free",
        "main",
        "last_pgno",
        "txnid",
    )

    def __init__(self, fmt: _Format, index: int, buf: bytes) -> None:
        self.index = index
        header = _PageHeader(fmt, buf)
        self.pgno, self.page_flags = header.pgno, header.flags
        self.magic, self.version, _, self.mapsize = _META.unpack_from(buf, fmt.header_size)
        dbs = fmt.header_size + _META.size
        self.free = _DbRecord(buf, dbs)
        self.main = _DbRecord(buf, dbs + DB_RECORD_SIZE)
        self.last_pgno, self.txnid = struct.unpack_from(_BO + "QQ", buf, dbs + 2 * DB_RECORD_SIZE)

    @property
    def psize(self) -> int:
        return self.free.pad  # mm_psize shares the free database record's md_pad


class _Tree:
    """What the walk of one B-tree found, to compare with its record."""

    __slots__ = (
        "name",
        "record",
        "key_cmp",
        "dup_cmp",
        "is_free",
        "branch_pages",
        "leaf_pages",
        "overflow_pages",
        "entries",
        "leaf_depth",
        "last_key",
        "dup_branch_pages",
        "dup_leaf_pages",
        "leaf2_size",
    )

    def __init__(
        self,
        name: str,
        record: _DbRecord,
        key_cmp: Comparator,
        dup_cmp: Optional[Comparator],
        is_free: bool = False,
        leaf2_size: int = 0,
    ) -> None:
        self.name = name
        self.record = record
        self.key_cmp = key_cmp
        self.dup_cmp = dup_cmp
        self.is_free = is_free
        self.leaf2_size = leaf2_size
        self.branch_pages = self.leaf_pages = self.overflow_pages = self.entries = 0
        self.dup_branch_pages = self.dup_leaf_pages = 0
        self.leaf_depth: Optional[int] = None
        self.last_key: Optional[bytes] = None


Bound = Optional[bytes]


# ---------------------------------------------------------------------------------------


class _Verifier:
    """Walks one open data file. ``_Verifier(fileobj, size).verify()`` returns the
    problems; afterwards :attr:`psize`, :attr:`next_pgno`, :attr:`live` and :attr:`free`
    (bytearrays indexed by page number) describe the snapshot."""

    format: _Format
    psize: int
    next_pgno: int
    meta: _Meta

    def __init__(self, f: BinaryIO, filesize: int) -> None:
        self.f = f
        self.filesize = filesize
        self.problems = VerifyResult()
        self.live = bytearray()
        self.free = bytearray()
        self._free_records: List[Tuple[int, bytes]] = []
        self._named: List[_Tree] = []

    # -- reporting / reading ---------------------------------------------------------------

    def problem(self, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(message)
        elif len(self.problems) == _MAX_PROBLEMS:
            self.problems.append("... more problems not shown")

    @property
    def _gave_up(self) -> bool:
        return len(self.problems) > _MAX_PROBLEMS

    def _read(self, offset: int, size: int) -> Optional[bytes]:
        if offset + size > self.filesize:
            return None
        self.f.seek(offset)
        data = self.f.read(size)
        return data if len(data) == size else None

    def _page(self, pgno: int, count: int = 1) -> Optional[bytes]:
        return self._read(pgno * self.psize, count * self.psize)

    # -- meta pages ------------------------------------------------------------------------

    def _load_metas(self) -> None:
        head = self._read(0, 24 + META_SIZE)
        if head is None:
            raise VerifyError(f"file of {self.filesize} bytes is too short for an LMDB meta page")
        # The magic follows the page header, whose size tells the layout.
        found = [off for off in range(8, 32, 4) if _U32.unpack_from(head, off)[0] == MAGIC]
        fmt = _FORMATS.get(found[0]) if found else None
        if fmt is None:
            if _SWAPPED_MAGIC in (_U32.unpack_from(head, off)[0] for off in (16, 24)):
                raise VerifyError("LMDB file written in the other byte order: not supported")
            if found:
                raise VerifyError("LMDB file of a 32-bit build: not supported")
            raise VerifyError("not an LMDB data file: no LMDB magic in meta page 0")
        self.format = fmt
        first = _Meta(fmt, 0, head)
        psize = first.psize
        if psize < MIN_PAGE_SIZE or psize > fmt.max_psize or psize & (psize - 1):
            raise VerifyError(
                f"meta page 0 has an invalid page size {psize} (want a power of "
                f"two from {MIN_PAGE_SIZE} to {fmt.max_psize})"
            )
        self.psize = psize
        tail = self._read(psize, fmt.header_size + META_SIZE)
        if tail is None:
            raise VerifyError("meta page 1 lies beyond the end of the file")
        metas = (first, _Meta(fmt, 1, tail))
        for meta in metas:
            if meta.magic != MAGIC:
                raise VerifyError(f"meta page {meta.index} has bad magic 0x{meta.magic:08x}")
            if meta.version != fmt.version:
                raise VerifyError(
                    f"meta page {meta.index} has data version {meta.version}, "
                    f"expected {fmt.version} for {fmt.name}"
                )
            if meta.pgno != meta.index:
                self.problem(f"meta page {meta.index} stores page number {meta.pgno}")
            if not meta.page_flags & P_META:
                self.problem(
                    f"meta page {meta.index} lacks the P_META flag (flags 0x{meta.page_flags:x})"
                )
        if metas[1].psize != psize:
            raise VerifyError(
                f"meta pages disagree on the page size ({psize} and {metas[1].psize})"
            )
        if metas[0].txnid and metas[0].txnid == metas[1].txnid:
            self.problem(f"both meta pages claim txn {metas[0].txnid}")
        # as mdb_env_pick_meta(): the newer snapshot wins
        self.meta = metas[1] if metas[0].txnid < metas[1].txnid else metas[0]
        self.next_pgno = self.meta.last_pgno + 1
        if self.next_pgno < NUM_METAS or self.meta.last_pgno == NO_ROOT:
            raise VerifyError(f"meta page {self.meta.index} has last page {self.meta.last_pgno}")
        # A forged last page must not make us allocate absurd bitmaps.
        in_file = self.filesize // psize
        if self.next_pgno > 2 * in_file + (1 << 20):
            raise VerifyError(
                f"meta page {self.meta.index} claims {self.next_pgno} pages; the "
                f"file holds {in_file}"
            )

    # -- page bookkeeping ------------------------------------------------------------------

    def _claim(self, pgno: int, what: str) -> bool:
        if pgno < NUM_METAS or pgno >= self.next_pgno:
            self.problem(
                f"{what} references out-of-range page {pgno} "
                f"(valid: {NUM_METAS}..{self.next_pgno - 1})"
            )
            return False
        if self.live[pgno]:
            self.problem(f"page {pgno} is reachable more than once (again from {what})")
            return False
        self.live[pgno] = 1
        return True

    # -- top level -------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Check the file; return the problems (empty when sound).

        Raises:
            VerifyError: the file cannot be verified at all (see the class).
            OSError: reading failed.
        """
        self._load_metas()
        self.live = bytearray(self.next_pgno)
        self.free = bytearray(self.next_pgno)
        meta = self.meta
        for label, record in (("freeDB", meta.free), ("main DB", meta.main)):
            if _bad_flag_combination(record.flags):
                self.problem(f"{label} record has an invalid flag combination 0x{record.flags:x}")
        if meta.main.pad > self.psize - self.format.header_size:
            self.problem(f"main DB record has md_pad {meta.main.pad}, more than a page holds")

        self._walk_tree(_Tree("freeDB", meta.free, _native_int, None, is_free=True))
        self._walk_tree(
            _Tree(
                "main DB",
                meta.main,
                _key_comparator(meta.main.flags),
                _dup_comparator(meta.main.flags),
            )
        )
        while self._named and not self._gave_up:
            self._walk_tree(self._named.pop(0))
        for txnid, value in self._free_records:
            self._check_free_list(txnid, value)
        self._check_cover()
        return self.problems

    def _walk_tree(self, tree: _Tree) -> Tuple[int, int]:
        """Walk one B-tree, compare its record; return its (branch, leaf) page totals
        including promoted duplicate sub-trees."""
        rec = tree.record
        if rec.root == NO_ROOT:
            if rec.depth or rec.branch_pages or rec.leaf_pages or rec.overflow_pages or rec.entries:
                self.problem(
                    f"{tree.name}: empty (no root page) but its record has non-zero counters"
                )
            return 0, 0
        if rec.depth > MAX_DEPTH:
            self.problem(f"{tree.name}: md_depth {rec.depth} exceeds {MAX_DEPTH}")
            return 0, 0
        if rec.root < NUM_METAS or rec.root >= self.next_pgno:
            self.problem(
                f"{tree.name}: root page {rec.root} out of range "
                f"(valid: {NUM_METAS}..{self.next_pgno - 1})"
            )
            return 0, 0
        self._walk_page(tree, rec.root, 1, None, None)
        self._compare_counters(tree)
        return (tree.branch_pages + tree.dup_branch_pages, tree.leaf_pages + tree.dup_leaf_pages)

    def _compare_counters(self, tree: _Tree) -> None:
        rec = tree.record
        # A DUPSORT database's page counters include its promoted duplicate sub-trees
        # since LMDB 0.9.36 (ITS#9388); files from older writers count only its own
        # tree. Anything in between is possible after both wrote to a file.
        for label, own, extra, claimed in (
            ("branch pages", tree.branch_pages, tree.dup_branch_pages, rec.branch_pages),
            ("leaf pages", tree.leaf_pages, tree.dup_leaf_pages, rec.leaf_pages),
        ):
            if not own <= claimed <= own + extra:
                found = f"{own}" if not extra else f"{own} (+{extra} in duplicate sub-trees)"
                self.problem(f"{tree.name}: walk found {found} {label}, record says {claimed}")
        for label, found, claimed in (
            ("overflow pages", tree.overflow_pages, rec.overflow_pages),
            ("entries", tree.entries, rec.entries),
            ("levels", tree.leaf_depth or 0, rec.depth),
        ):
            if found != claimed:
                self.problem(f"{tree.name}: walk found {found} {label}, record says {claimed}")

    # -- tree pages ------------------------------------------------------------------------

    def _written_flags(self, header: _PageHeader, where: str) -> int:
        """Report a page left behind by an unfinished transaction; return its flags
        without the 0.9 dirty marker (which would otherwise read as a type bit)."""
        if self.format.page_txnid:
            if header.txnid > self.meta.txnid:
                self.problem(
                    f"{where} has mp_txnid {header.txnid}, newer than the snapshot's txn "
                    f"{self.meta.txnid} (written by an unfinished txn)"
                )
            return header.flags
        if header.flags & P_DIRTY:
            self.problem(f"{where} carries P_DIRTY at rest (written by an unfinished txn)")
        return header.flags & ~P_DIRTY

    def _node_count(self, header: _PageHeader, span: int, where: str) -> Optional[int]:
        """Validate mp_lower/mp_upper of a page or sub-page of ``span`` bytes; return
        its number of nodes, or None after a problem."""
        fmt = self.format
        first_ptr = fmt.header_size - fmt.base  # mp_lower of an empty page
        lower, upper = header.lower, header.upper
        if lower < first_ptr or upper > span - fmt.base or lower > upper:
            self.problem(f"{where} has bad mp_lower/mp_upper {lower}/{upper} (size {span})")
            return None
        return (lower - first_ptr) >> 1

    def _walk_page(self, tree: _Tree, pgno: int, depth: int, low: Bound, high: Bound) -> None:
        if self._gave_up or not self._claim(pgno, tree.name):
            return
        page = self._page(pgno)
        where = f"{tree.name}: page {pgno}"
        if page is None:
            self.problem(
                f"{where} is reachable but lies beyond EOF "
                f"(file has {self.filesize // self.psize} pages)"
            )
            return
        header = _PageHeader(self.format, page)
        if header.pgno != pgno:
            self.problem(f"{where} stores page number {header.pgno}")
        kind = self._written_flags(header, where)
        if kind not in (P_BRANCH, P_LEAF, P_LEAF | P_LEAF2):
            self.problem(
                f"{where} has mixed or invalid page flags 0x{header.flags:x} for a tree page"
            )
            return
        count = self._node_count(header, self.psize, where)
        if count is None:
            return
        if kind == P_BRANCH:
            tree.branch_pages += 1
            if depth >= MAX_DEPTH:
                self.problem(f"{where}: tree deeper than {MAX_DEPTH} levels")
                return
            self._walk_branch(tree, page, pgno, count, header.upper, depth, low, high)
            return
        tree.leaf_pages += 1
        if tree.leaf_depth is None:
            tree.leaf_depth = depth
        elif tree.leaf_depth != depth:
            self.problem(f"{where}: leaf at level {depth}, other leaves at {tree.leaf_depth}")
        if kind & P_LEAF2:
            self._walk_leaf2(tree, page, pgno, count, header.pad, low, high)
        else:
            self._walk_leaf(tree, page, pgno, count, header.upper, low, high)

    def _node(
        self, page: bytes, index: int, upper: int, end: int, where: str
    ) -> Optional[Tuple[int, int, int, bytes]]:
        """Return (data offset, lo|hi, flags, key) of node ``index`` of a page or
        sub-page whose nodes must lie between ``upper`` and ``end``, or None after a
        problem."""
        fmt = self.format
        ptr = _U16.unpack_from(page, fmt.header_size + 2 * index)[0]
        offset = fmt.base + ptr
        if ptr < upper or offset + NODE_HEADER_SIZE > end or ptr & 1:
            self.problem(f"{where}: node {index} at offset {offset} out of bounds")
            return None
        lo, hi, flags, ksize = _NODE_HEADER.unpack_from(page, offset)
        start = offset + NODE_HEADER_SIZE
        if start + ksize > end:
            self.problem(f"{where}: node {index} key of {ksize} bytes overruns the page")
            return None
        data = start + (ksize + (ksize & 1) if fmt.even_keys else ksize)
        return data, lo | hi << 16, flags, bytes(page[start : start + ksize])

    def _check_key(self, tree: _Tree, key: bytes, low: Bound, high: Bound, where: str) -> None:
        cmp = tree.key_cmp
        if tree.last_key is not None and cmp(key, tree.last_key) <= 0:
            self.problem(
                f"{where}: keys out of order ({_show_key(key)} after {_show_key(tree.last_key)})"
            )
        elif (low is not None and cmp(key, low) < 0) or (high is not None and cmp(key, high) >= 0):
            self.problem(
                f"{where}: key {_show_key(key)} out of order: outside the range its "
                "parent branch node gives it"
            )
        tree.last_key = key

    def _walk_branch(
        self,
        tree: _Tree,
        page: bytes,
        pgno: int,
        count: int,
        upper: int,
        depth: int,
        low: Bound,
        high: Bound,
    ) -> None:
        where = f"{tree.name}: branch page {pgno}"
        if count < 1:
            self.problem(f"{where} has no children")
            return
        children: List[Tuple[int, Bound]] = []
        previous: Bound = None
        for i in range(count):
            node = self._node(page, i, upper, self.psize, where)
            if node is None:
                return
            _, lo_hi, nflags, key = node
            child = lo_hi | nflags << 32
            # node 0's key is ignored by LMDB (it stands for "everything smaller")
            separator = key if i > 0 else low
            if i > 0 and previous is not None and tree.key_cmp(key, previous) <= 0:
                self.problem(f"{where}: separator keys out of order at node {i}")
                return
            if i > 0:
                previous = key
            children.append((child, separator))
        for i, (child, separator) in enumerate(children):
            upper_bound = children[i + 1][1] if i + 1 < len(children) else high
            self._walk_page(tree, child, depth + 1, separator, upper_bound)

    def _walk_leaf2(
        self,
        tree: _Tree,
        page: bytes,
        pgno: int,
        count: int,
        page_ksize: int,
        low: Bound,
        high: Bound,
    ) -> None:
        where = f"{tree.name}: page {pgno}"
        ksize = tree.record.pad or page_ksize
        header_size = self.format.header_size
        if ksize == 0 or count * ksize > self.psize - header_size:
            self.problem(f"{where}: LEAF2 page with key size {ksize} cannot hold {count} keys")
            return
        if page_ksize and page_ksize != ksize:
            self.problem(f"{where}: LEAF2 key size {page_ksize} differs from the record's {ksize}")
        for i in range(count):
            start = header_size + i * ksize
            self._check_key(tree, bytes(page[start : start + ksize]), low, high, where)
        tree.entries += count

    def _walk_leaf(
        self, tree: _Tree, page: bytes, pgno: int, count: int, upper: int, low: Bound, high: Bound
    ) -> None:
        where = f"{tree.name}: leaf page {pgno}"
        for i in range(count):
            node = self._node(page, i, upper, self.psize, where)
            if node is None:
                continue
            start, dsize, nflags, key = node
            self._check_key(tree, key, low, high, where)
            self._leaf_value(tree, page, f"{where} node {i}", start, dsize, nflags, key)

    def _leaf_value(
        self, tree: _Tree, page: bytes, where: str, start: int, dsize: int, nflags: int, key: bytes
    ) -> None:
        dupsort = bool(tree.record.flags & MDB_DUPSORT) and not tree.is_free
        if nflags & ~(F_BIGDATA | F_SUBDATA | F_DUPDATA):
            self.problem(f"{where}: unknown node flags 0x{nflags:x}")
            return
        if nflags & F_BIGDATA and nflags & (F_SUBDATA | F_DUPDATA):
            self.problem(f"{where}: overflow value with sub-database flags 0x{nflags:x}")
            return
        if nflags & F_DUPDATA and not dupsort:
            self.problem(f"{where}: duplicate data in a database without DUPSORT")
            return
        if tree.is_free and nflags & F_SUBDATA:
            self.problem(f"{where}: sub-database record inside the freeDB")
            return
        if nflags & F_BIGDATA:
            value = self._overflow(tree, page, where, start, dsize)
            tree.entries += 1
            if tree.is_free:
                self._free_record(where, key, value)
            return
        if start + dsize > self.psize:
            self.problem(f"{where}: value of {dsize} bytes overruns the page")
            return
        value = bytes(page[start : start + dsize])
        if tree.is_free:
            tree.entries += 1
            self._free_record(where, key, value)
        elif nflags & F_SUBDATA:
            self._sub_database(tree, where, key, value, nflags)
        elif nflags & F_DUPDATA:
            tree.entries += self._walk_subpage(tree, where, value)
        else:
            tree.entries += 1

    def _sub_database(self, tree: _Tree, where: str, key: bytes, value: bytes, nflags: int) -> None:
        if len(value) != DB_RECORD_SIZE:
            self.problem(
                f"{where}: sub-database record of {len(value)} bytes, expected {DB_RECORD_SIZE}"
            )
            return
        record = _DbRecord(value, 0)
        if record.pad > self.psize - self.format.header_size:
            self.problem(
                f"{where}: sub-database record has md_pad {record.pad}, more than a page holds"
            )
            return
        if nflags & F_DUPDATA:
            # a key's duplicates promoted to their own tree, ordered by the dup comparator
            if record.flags not in _DUP_TREE_FLAGS:
                self.problem(f"{where}: duplicate sub-tree record has flags 0x{record.flags:x}")
            if record.flags & MDB_DUPFIXED and not record.pad:
                self.problem(f"{where}: fixed-size duplicate sub-tree with md_pad 0")
            sub = _Tree(
                f"{tree.name} dups of {_show_key(key)}", record, tree.dup_cmp or _lexical, None
            )
            branch, leaf = self._walk_tree(sub)
            tree.entries += record.entries
            tree.dup_branch_pages += branch
            tree.dup_leaf_pages += leaf
            return
        # a named database: one entry here, its own tree walked later
        if record.flags & ~_DB_FLAGS:
            self.problem(f"{where}: named database has unknown flags 0x{record.flags:x}")
        if _bad_flag_combination(record.flags):
            self.problem(
                f"{where}: named database has an invalid flag combination 0x{record.flags:x}"
            )
        tree.entries += 1
        self._named.append(
            _Tree(
                f"database {_show_key(key)}",
                record,
                _key_comparator(record.flags),
                _dup_comparator(record.flags),
            )
        )

    def _walk_subpage(self, tree: _Tree, where: str, sub: bytes) -> int:
        """Check an inline sub-page of duplicates; return how many it holds."""
        where = f"{where} sub-page"
        header_size = self.format.header_size
        if len(sub) < header_size:
            self.problem(f"{where}: {len(sub)} bytes, smaller than a page header")
            return 0
        header = _PageHeader(self.format, sub)
        # LMDB never clears the dirty marker in the sub-page copies it embeds
        flags = header.flags & ~P_DIRTY
        if flags not in (P_LEAF | P_SUBP, P_LEAF | P_LEAF2 | P_SUBP):
            self.problem(f"{where}: mixed or invalid page flags 0x{header.flags:x} for a sub-page")
            return 0
        count = self._node_count(header, len(sub), where)
        if count is None:
            return 0
        ksize = header.pad
        if flags & P_LEAF2 and (ksize == 0 or count * ksize > len(sub) - header_size):
            self.problem(f"{where}: LEAF2 key size {ksize} cannot hold {count} items")
            return count
        cmp = tree.dup_cmp or _lexical
        last: Optional[bytes] = None
        for i in range(count):
            if flags & P_LEAF2:
                start = header_size + i * ksize
                item = bytes(sub[start : start + ksize])
            else:
                node = self._node(sub, i, header.upper, len(sub), where)
                if node is None:
                    continue
                item = node[3]
            if last is not None and cmp(item, last) <= 0:
                self.problem(f"{where}: dup data out of order at item {i}")
            last = item
        return count

    def _overflow(
        self, tree: _Tree, page: bytes, where: str, start: int, dsize: int
    ) -> Optional[bytes]:
        """Check the overflow extent of a large value; return the value for the freeDB."""
        fmt = self.format
        if start + fmt.bigdata_size > self.psize:
            self.problem(f"{where}: overflow reference overruns the page")
            return None
        first = _U64.unpack_from(page, start)[0]
        pages = (fmt.header_size - 1 + dsize) // self.psize + 1
        if fmt.bigdata_size >= 24:  # LMDB 1.0 repeats the page count in the node
            in_node = _U64.unpack_from(page, start + 16)[0]
            if in_node != pages:
                self.problem(
                    f"{where}: overflow op_pages {in_node}, but a {dsize}-byte value needs {pages}"
                )
        if first < NUM_METAS or first + pages > self.next_pgno:
            self.problem(
                f"{where}: overflow extent {first}..{first + pages - 1} references "
                f"out-of-range page (valid: {NUM_METAS}..{self.next_pgno - 1})"
            )
            return None
        head = self._page(first)
        if head is None:
            self.problem(f"{where}: overflow page {first} lies beyond EOF")
            return None
        header = _PageHeader(fmt, head)
        if self._written_flags(header, f"{tree.name}: overflow page {first}") != P_OVERFLOW:
            self.problem(
                f"{where}: page {first} is not a pure overflow page (flags 0x{header.flags:x})"
            )
        if header.pgno != first:
            self.problem(f"{tree.name}: overflow page {first} stores page number {header.pgno}")
        if header.pages != pages:
            self.problem(
                f"{tree.name}: overflow page {first} header mp_pages {header.pages}, but a "
                f"{dsize}-byte value needs {pages}"
            )
        for pgno in range(first, first + pages):
            self._claim(pgno, f"{where} (overflow)")
        tree.overflow_pages += pages
        if not tree.is_free:
            return None
        extent = self._page(first, pages)
        if extent is None:
            self.problem(f"{where}: overflow extent at page {first} runs beyond EOF")
            return None
        return bytes(extent[fmt.header_size : fmt.header_size + dsize])

    # -- free pages ------------------------------------------------------------------------

    def _free_record(self, where: str, key: bytes, value: Optional[bytes]) -> None:
        if len(key) != 8:
            self.problem(f"{where}: freeDB key of {len(key)} bytes, expected 8")
            return
        txnid = int.from_bytes(key, sys.byteorder)
        if not 1 <= txnid <= self.meta.txnid:
            self.problem(
                f"{where}: freeDB record of txn {txnid}, but the snapshot is txn {self.meta.txnid}"
            )
        if value is not None:
            self._free_records.append((txnid, value))

    def _check_free_list(self, txnid: int, value: bytes) -> None:
        label = f"freeDB record of txn {txnid}"
        if len(value) < 8 or len(value) % 8:
            self.problem(f"{label}: value of {len(value)} bytes is not a page list")
            return
        count = _U64.unpack_from(value, 0)[0]
        if count != len(value) // 8 - 1:
            self.problem(f"{label}: count {count} does not match value size {len(value)}")
            return
        previous = None
        for i in range(1, count + 1):
            pgno = _U64.unpack_from(value, 8 * i)[0]
            if previous is not None and pgno >= previous:
                self.problem(f"{label}: page list not strictly descending at item {i}")
            previous = pgno
            if pgno < NUM_METAS or pgno >= self.next_pgno:
                self.problem(f"{label}: lists out-of-range page {pgno}")
            elif self.free[pgno]:
                self.problem(f"{label}: page {pgno} is listed as free twice")
            else:
                self.free[pgno] = 1

    def _check_cover(self) -> None:
        both: List[int] = []
        neither: List[int] = []
        live, free = self.live, self.free
        for pgno in range(NUM_METAS, self.next_pgno):
            if live[pgno]:
                if free[pgno]:
                    both.append(pgno)
            elif not free[pgno]:
                neither.append(pgno)
        if both:
            self.problem(
                f"{len(both)} page(s) are both reachable and in the freeDB (first: {both[0]})"
            )
        if neither:
            self.problem(
                f"{len(neither)} page(s) are neither reachable nor in the freeDB "
                f"(leaked; first: {neither[0]})"
            )


# ---------------------------------------------------------------------------------------


def data_file_path(path: Union[str, os.PathLike], subdir: Optional[bool] = None) -> str:
    """Return the data file of the environment at ``path``: ``path/data.mdb`` for a
    directory environment, ``path`` itself for a single-file one. ``subdir=None``
    decides by whether ``path`` is a directory. Raises nothing."""
    path = os.fspath(path)
    if subdir is None:
        subdir = os.path.isdir(path)
    return os.path.join(path, "data.mdb") if subdir else path


def verify(path: Union[str, os.PathLike], subdir: Optional[bool] = None) -> VerifyResult:
    """Verify the LMDB data file of the environment at ``path`` without opening it
    through LMDB; return the problems found (an empty :class:`VerifyResult` when the
    file is sound). ``subdir`` as for :func:`data_file_path`.

    Raises:
        VerifyError: the file cannot be verified at all (not an LMDB 0.9 or 1.0 file of
            this machine's layout, or unreadable meta pages).
        OSError: the file cannot be opened or read.
    """
    with open(data_file_path(path, subdir), "rb") as f:
        f.seek(0, os.SEEK_END)
        return _Verifier(f, f.tell()).verify()
