"""Build zlmdb's LMDB extension module, ``zlmdb._lmdb_cffi``, with cffi in API mode.

The LMDB C sources are not in this repository. ``lmdb-src/pin.json`` pins the PyPI sdist of
py-lmdb 3.0.0, which carries LMDB 0.9.36 and a series of hardening patches; this module

1. obtains that sdist (``$ZLMDB_LMDB_SDIST`` or ``python -m pip download``),
2. checks its sha256 against the pin,
3. extracts the LMDB C files into the git-ignored ``lmdb-src/build/`` and applies the patches,
4. declares the C surface zlmdb uses and compiles LMDB together with
   ``src/zlmdb/lmdb/_helpers.c`` into one extension module.

setuptools runs it through ``cffi_modules=["build_lmdb.py:ffi"]`` (cffi executes the file as
``__cffi__`` and takes ``ffi``); ``python build_lmdb.py`` builds the module in place
(``src/zlmdb/_lmdb_cffi.*``) for development; a plain ``import build_lmdb`` builds nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
PIN_FILE = os.path.join(HERE, "lmdb-src", "pin.json")
TREE = os.path.join(HERE, "lmdb-src", "build")
STAMP = os.path.join(TREE, "PIN-SHA256")
HELPERS_DIR = os.path.join(HERE, "src", "zlmdb", "lmdb")
LMDB_FILES = ("mdb.c", "midl.c", "lmdb.h", "midl.h")
#: zlmdb's own hardening patches, applied after the sdist's series: lmdb-src/patches/<engine>/
OWN_PATCHES = os.path.join(HERE, "lmdb-src", "patches")


class LmdbSourceError(RuntimeError):
    """The pinned LMDB sources could not be obtained, verified or patched."""


def load_pin(path: str = PIN_FILE) -> dict:
    """Return the pin (package, version, filename, sha256, patches) as a dict."""
    with open(path, encoding="utf-8") as fp:
        return json.load(fp)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sdist(pin: dict, dest_dir: str) -> str:
    """Return the path of the pinned sdist: ``$ZLMDB_LMDB_SDIST`` or a ``pip download``."""
    given = os.environ.get("ZLMDB_LMDB_SDIST")
    if given:
        if not os.path.isfile(given):
            raise LmdbSourceError(
                f"ZLMDB_LMDB_SDIST={given!r} is not a file. Point it at a downloaded "
                f"{pin['filename']} (sha256 {pin['sha256']})."
            )
        return given
    requirement = f"{pin['package']}=={pin['version']}"
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "-d",
        dest_dir,
        requirement,
    ]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:  # pragma: no cover - no interpreter to run
        proc = None
        output = str(exc)
    else:
        output = proc.stdout
    path = os.path.join(dest_dir, pin["filename"])
    if proc is None or proc.returncode != 0 or not os.path.isfile(path):
        raise LmdbSourceError(
            f"could not download the LMDB sources ({requirement} sdist) with pip:\n"
            f"{output.strip()[-2000:]}\n"
            "Without network access, download it elsewhere with\n"
            f"    pip download --no-deps --no-binary :all: {requirement}\n"
            "and set ZLMDB_LMDB_SDIST to the path of that file."
        )
    return path


def verify_sdist(path: str, pin: dict) -> None:
    """Raise :class:`LmdbSourceError` unless ``path`` has the pinned sha256."""
    actual = sha256_of(path)
    if actual != pin["sha256"]:
        raise LmdbSourceError(
            f"sha256 mismatch for {path}: expected {pin['sha256']}, got {actual}. "
            "The file is not the pinned py-lmdb sdist; delete it (or fix ZLMDB_LMDB_SDIST) "
            "and build again."
        )


# --- a small unified-diff applier (no `patch` binary needed, works on every OS) ----------

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def parse_patch(text: str) -> dict:
    """Parse a unified diff into ``{basename: [(old_start, old_lines, new_lines), ...]}``."""
    files: dict = {}
    current = None
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("+++ "):
            name = line[4:].strip().split("\t")[0]
            current = files.setdefault(os.path.basename(name), [])
            i += 1
            continue
        match = _HUNK.match(line)
        if match and current is not None:
            old_count = int(match.group(2) or "1")
            new_count = int(match.group(4) or "1")
            old, new = [], []
            i += 1
            while (old_count > 0 or new_count > 0) and i < len(lines):
                body = lines[i]
                if body.startswith("\\"):
                    i += 1
                    continue
                tag, rest = body[:1], body[1:]
                if tag == " " or body in ("\n", "\r\n"):
                    rest = rest if tag == " " else body
                    old.append(rest)
                    new.append(rest)
                    old_count -= 1
                    new_count -= 1
                elif tag == "-":
                    old.append(rest)
                    old_count -= 1
                elif tag == "+":
                    new.append(rest)
                    new_count -= 1
                else:
                    break
                i += 1
            current.append((int(match.group(1)), old, new))
            continue
        i += 1
    return files


def apply_hunks(source: list, hunks: list, label: str) -> list:
    """Apply hunks to a list of lines, searching outward from the stated line for the context."""
    out = list(source)
    shift = 0
    for start, old, new in hunks:
        want = max(start - 1 + shift, 0)
        found = None
        for delta in range(0, len(out) + 1):
            for pos in (want - delta, want + delta):
                if 0 <= pos <= len(out) - len(old) and out[pos : pos + len(old)] == old:
                    found = pos
                    break
            if found is not None:
                break
        if found is None:
            raise LmdbSourceError(f"patch {label}: hunk at line {start} does not apply")
        out[found : found + len(old)] = new
        shift = found - (start - 1) + len(new) - len(old)
    return out


TREE_V10 = os.path.join(TREE, "lmdb10")
#: (engine, directory in the sdist, pin key of its patch series, subdirectory of the tree)
ENGINES = (("v09", "lib", "patches", ""), ("v10", "lib1", "patches_v10", "lmdb10"))


def _tree_is_current(pin: dict) -> bool:
    """True when ``lmdb-src/build/`` holds this pin's sdist with this pin's patch series."""
    try:
        with open(STAMP, encoding="utf-8") as fp:
            if fp.read().strip() != pin["sha256"]:
                return False
        for engine, _libdir, key, subdir in ENGINES:
            with open(os.path.join(TREE, subdir, "PATCHES"), encoding="utf-8") as fp:
                if fp.read().split() != applied_patches(pin, key, engine):
                    return False
    except OSError:
        return False
    return os.path.isfile(os.path.join(TREE_V10, "rename.h"))


def prepare_tree(pin: dict | None = None, force: bool = False) -> str:
    """Make sure ``lmdb-src/build/`` holds the patched LMDB trees of the pin; return its path.

    The 0.9 engine goes to ``lmdb-src/build/`` and the 1.0 engine to ``lmdb-src/build/lmdb10/``.
    """
    pin = pin or load_pin()
    if not force and _tree_is_current(pin):
        return TREE
    with tempfile.TemporaryDirectory(prefix="zlmdb-lmdb-") as tmp:
        sdist = fetch_sdist(pin, tmp)
        verify_sdist(sdist, pin)
        extract_and_patch(sdist, pin, TREE)
    return TREE


def _read_engine(tar: tarfile.TarFile, root: str, libdir: str) -> tuple:
    """Return ({file: text}, {patch name: text}, rename.h text or None) of one engine dir."""
    prefix = f"{root}/{libdir}/"
    sources: dict = {}
    patches: dict = {}
    rename = None
    for member in tar.getmembers():
        if not member.isfile() or not member.name.startswith(prefix):
            continue
        rel = member.name[len(prefix) :]
        data = tar.extractfile(member).read().decode("utf-8", "surrogateescape")
        if rel in LMDB_FILES:
            sources[rel] = data
        elif rel == "py-lmdb/rename.h":
            rename = data
        elif rel.startswith("py-lmdb/") and rel.endswith(".patch"):
            patches[rel[len("py-lmdb/") : -len(".patch")]] = data
    missing = [name for name in LMDB_FILES if name not in sources]
    if missing:
        raise LmdbSourceError(f"the sdist lacks {', '.join(missing)} under {libdir}/")
    return sources, patches, rename


def _patched(sources: dict, patches: dict, names: list, libdir: str) -> dict:
    files = {name: io.StringIO(text).readlines() for name, text in sources.items()}
    for name in names:
        if name not in patches:
            raise LmdbSourceError(f"the sdist lacks the patch {libdir}/py-lmdb/{name}.patch")
        for target, hunks in parse_patch(patches[name]).items():
            if target not in files:
                raise LmdbSourceError(f"patch {name} touches unknown file {target}")
            files[target] = apply_hunks(files[target], hunks, name)
    return files


def own_patches(engine: str) -> dict:
    """zlmdb's own patches for ``engine`` ("v09", "v10"): {name: text}, applied in name order."""
    folder = os.path.join(OWN_PATCHES, engine)
    found = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
        if name.endswith(".patch"):
            with open(os.path.join(folder, name), encoding="utf-8") as fp:
                found[name[: -len(".patch")]] = fp.read()
    return found


def applied_patches(pin: dict, key: str, engine: str) -> list:
    """The names of every patch of ``engine``'s tree, in order: the sdist's, then zlmdb's."""
    return list(pin.get(key, ())) + [f"zlmdb/{name}" for name in own_patches(engine)]


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fp:
        fp.write(text)


def extract_and_patch(sdist: str, pin: dict, dest: str) -> None:
    """Extract both LMDB engines and their hardening patches from ``sdist`` into ``dest``.

    The 1.0 engine's files get its ``rename.h`` included first, so that its symbols are
    ``mdb10_*`` and both engines link into one extension module.
    """
    root = f"{pin['package']}-{pin['version']}"
    trees = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for engine, libdir, _key, _sub in ENGINES:
            trees[engine] = _read_engine(tar, root, libdir)
        try:
            member = tar.getmember(f"{root}/LICENSE")
            license_text = tar.extractfile(member).read().decode("utf-8", "replace")
        except KeyError:
            license_text = None
    # Patch everything in memory first: a failure leaves an existing tree as it was.
    out: dict = {}  # path relative to dest -> text
    for engine, libdir, key, subdir in ENGINES:
        if key not in pin:
            raise LmdbSourceError(f"lmdb-src/pin.json lacks {key!r} (the {engine} patch series)")
        sources, patches, rename = trees[engine]
        files = _patched(sources, patches, pin[key], libdir)
        for name, text in own_patches(engine).items():
            for target, hunks in parse_patch(text).items():
                if target not in files:
                    raise LmdbSourceError(f"patch {name} touches unknown file {target}")
                files[target] = apply_hunks(files[target], hunks, name)
        if subdir:
            if rename is None:
                raise LmdbSourceError(f"the sdist lacks {libdir}/py-lmdb/rename.h")
            out[os.path.join(subdir, "rename.h")] = rename
            for name in ("mdb.c", "midl.c", "lmdb.h"):
                files[name] = ['#include "rename.h"\n'] + files[name]
        for name, lines in files.items():
            out[os.path.join(subdir, name)] = "".join(lines)
        out[os.path.join(subdir, "PATCHES")] = "\n".join(applied_patches(pin, key, engine)) + "\n"
    if license_text:
        out["LICENSE"] = license_text
    out["PIN-SHA256"] = pin["sha256"] + "\n"
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    for rel, text in out.items():
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        _write(os.path.join(dest, rel), text)


# --- the C surface -------------------------------------------------------------------------

LMDB_CDEF = """
typedef struct MDB_env MDB_env;
typedef struct MDB_txn MDB_txn;
typedef struct MDB_cursor MDB_cursor;
typedef unsigned int MDB_dbi;
typedef struct MDB_val { size_t mv_size; void *mv_data; } MDB_val;
typedef struct MDB_stat {
    unsigned int ms_psize; unsigned int ms_depth; size_t ms_branch_pages;
    size_t ms_leaf_pages; size_t ms_overflow_pages; size_t ms_entries;
} MDB_stat;
typedef struct MDB_envinfo {
    void *me_mapaddr; size_t me_mapsize; size_t me_last_pgno; size_t me_last_txnid;
    unsigned int me_maxreaders; unsigned int me_numreaders;
} MDB_envinfo;

#define MDB_VERSION_MAJOR ...
#define MDB_VERSION_MINOR ...
#define MDB_VERSION_PATCH ...

#define MDB_FIXEDMAP ...
#define MDB_NOSUBDIR ...
#define MDB_NOSYNC ...
#define MDB_RDONLY ...
#define MDB_NOMETASYNC ...
#define MDB_WRITEMAP ...
#define MDB_MAPASYNC ...
#define MDB_NOTLS ...
#define MDB_NOLOCK ...
#define MDB_NORDAHEAD ...
#define MDB_NOMEMINIT ...
#define MDB_REVERSEKEY ...
#define MDB_DUPSORT ...
#define MDB_INTEGERKEY ...
#define MDB_DUPFIXED ...
#define MDB_INTEGERDUP ...
#define MDB_REVERSEDUP ...
#define MDB_CREATE ...
#define MDB_NOOVERWRITE ...
#define MDB_NODUPDATA ...
#define MDB_CURRENT ...
#define MDB_RESERVE ...
#define MDB_APPEND ...
#define MDB_APPENDDUP ...
#define MDB_MULTIPLE ...
#define MDB_CP_COMPACT ...

#define MDB_FIRST ...
#define MDB_FIRST_DUP ...
#define MDB_GET_BOTH ...
#define MDB_GET_BOTH_RANGE ...
#define MDB_GET_CURRENT ...
#define MDB_GET_MULTIPLE ...
#define MDB_LAST ...
#define MDB_LAST_DUP ...
#define MDB_NEXT ...
#define MDB_NEXT_DUP ...
#define MDB_NEXT_MULTIPLE ...
#define MDB_NEXT_NODUP ...
#define MDB_PREV ...
#define MDB_PREV_DUP ...
#define MDB_PREV_NODUP ...
#define MDB_SET ...
#define MDB_SET_KEY ...
#define MDB_SET_RANGE ...

#define MDB_SUCCESS ...
#define MDB_KEYEXIST ...
#define MDB_NOTFOUND ...
#define MDB_PAGE_NOTFOUND ...
#define MDB_CORRUPTED ...
#define MDB_PANIC ...
#define MDB_VERSION_MISMATCH ...
#define MDB_INVALID ...
#define MDB_MAP_FULL ...
#define MDB_DBS_FULL ...
#define MDB_READERS_FULL ...
#define MDB_TLS_FULL ...
#define MDB_TXN_FULL ...
#define MDB_CURSOR_FULL ...
#define MDB_PAGE_FULL ...
#define MDB_MAP_RESIZED ...
#define MDB_INCOMPATIBLE ...
#define MDB_BAD_RSLOT ...
#define MDB_BAD_TXN ...
#define MDB_BAD_VALSIZE ...
#define MDB_BAD_DBI ...

char *mdb_version(int *major, int *minor, int *patch);
"""


def read_helpers_cdef() -> str:
    with open(os.path.join(HELPERS_DIR, "_helpers.h"), encoding="utf-8") as fp:
        text = fp.read()
    # cffi wants the integer #defines as "..." in API mode only when unknown; ours are literal.
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def compile_args() -> list:
    if sys.platform == "win32":
        return ["/O2"]
    return ["-O2", "-w", "-pthread"]


def make_ffi(absolute: bool = False) -> FFI:
    """Return the FFI builder object (``setup.py`` uses ``build_lmdb.py:ffi``).

    setuptools wants source paths relative to the project; ``absolute=True`` is for
    ``ffi.compile()``, which runs the compiler from another directory.
    """
    tree = prepare_tree()
    builder = FFI()
    builder.cdef(LMDB_CDEF + read_helpers_cdef())

    def rel(path: str, start: str) -> str:
        return path if absolute else os.path.relpath(path, start)

    # Both engines: 0.9 (mdb_*) and 1.0 (its files include rename.h: mdb10_*), and the table
    # of the 1.0 entry points, which needs the 1.0 lmdb.h and so its own translation unit.
    sources = [
        rel(os.path.join(tree, sub, name), HERE)
        for sub in ("", "lmdb10")
        for name in ("mdb.c", "midl.c")
    ] + [rel(os.path.join(HELPERS_DIR, "_engine10.c"), HERE)]
    libraries = ["advapi32"] if sys.platform == "win32" else []
    builder.set_source(
        "zlmdb._lmdb_cffi",
        # The helpers are part of the module's own translation unit: cffi needs their struct
        # definitions there, and the C compiler can inline them into the wrappers.
        '#include "lmdb.h"\n#include "_helpers.c"\n',
        sources=sources,
        include_dirs=[rel(tree, HERE), rel(HELPERS_DIR, HERE)],
        extra_compile_args=compile_args(),
        libraries=libraries,
    )
    return builder


def _ffi_or_error() -> FFI:
    try:
        return make_ffi()
    except LmdbSourceError as exc:
        sys.stderr.write(f"zlmdb: {exc}\n")
        raise


if __name__ == "__main__":
    if "--prepare-only" in sys.argv:
        print(prepare_tree(force="--force" in sys.argv))
    else:
        make_ffi(absolute=True).compile(tmpdir=os.path.join(HERE, "build", "cffi"), verbose=True)
        built_dir = os.path.join(HERE, "build", "cffi", "zlmdb")
        for name in os.listdir(built_dir):
            if name.startswith("_lmdb_cffi") and not name.endswith((".c", ".o")):
                # Replace atomically: processes that have the old module mapped keep it.
                target = os.path.join(HERE, "src", "zlmdb", name)
                shutil.copy(os.path.join(built_dir, name), target + ".tmp")
                os.replace(target + ".tmp", target)
                print("built", os.path.join("src", "zlmdb", name))
elif __name__ == "__cffi__":  # executed by cffi's setuptools integration (setup.py)
    ffi = _ffi_or_error()
