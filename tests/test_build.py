"""The LMDB source pipeline of build_lmdb.py: pin, hash check, errors, patching."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDER = os.path.join(ROOT, "build_lmdb.py")

pytestmark = pytest.mark.skipif(
    not os.path.isfile(BUILDER), reason="needs a source checkout (build_lmdb.py)"
)


@pytest.fixture(scope="module")
def build_lmdb():
    sys.path.insert(0, ROOT)
    try:
        import build_lmdb  # importing builds nothing; only cffi's setuptools hook does

        return build_lmdb
    finally:
        sys.path.remove(ROOT)


def make_sdist(path: str, files: dict, prefix: str = "lmdb-3.0.0/lib/") -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as fp:
        fp.write(gzip.compress(buf.getvalue()))
    return path


def test_pin_names_the_lmdb_3_0_0_sdist_by_hash(build_lmdb):
    pin = build_lmdb.load_pin()
    assert (pin["package"], pin["version"]) == ("lmdb", "3.0.0")
    assert pin["sha256"] == "06dda0723545e14d56ac7dcd6f582d9922c2ed5e16f1c3f8d0e670a96ec2ee65"
    assert "cve-2019-16224-validate-db-flags" in pin["patches"]


def test_wrong_sha256_is_refused_with_advice(build_lmdb, tmp_path):
    bogus = make_sdist(str(tmp_path / "lmdb-3.0.0.tar.gz"), {"mdb.c": "int x;\n"})
    with pytest.raises(build_lmdb.LmdbSourceError, match="sha256 mismatch") as info:
        build_lmdb.verify_sdist(bogus, build_lmdb.load_pin())
    assert "ZLMDB_LMDB_SDIST" in str(info.value)


def test_missing_sdist_path_is_refused_with_advice(build_lmdb, tmp_path, monkeypatch):
    monkeypatch.setenv("ZLMDB_LMDB_SDIST", str(tmp_path / "nowhere.tar.gz"))
    with pytest.raises(build_lmdb.LmdbSourceError, match="is not a file") as info:
        build_lmdb.fetch_sdist(build_lmdb.load_pin(), str(tmp_path))
    assert "sha256" in str(info.value)


def test_failed_download_says_how_to_build_offline(build_lmdb, tmp_path, monkeypatch):
    monkeypatch.delenv("ZLMDB_LMDB_SDIST", raising=False)
    pin = dict(build_lmdb.load_pin(), version="0.0.0-does-not-exist")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(build_lmdb.LmdbSourceError, match="could not download") as info:
        build_lmdb.fetch_sdist(pin, str(tmp_path))
    assert "ZLMDB_LMDB_SDIST" in str(info.value)


def test_patches_apply_in_order_with_offsets(build_lmdb):
    source = ["a\n", "b\n", "c\n", "d\n", "e\n"]
    patch = (
        "--- a/x/mdb.c\n+++ b/x/mdb.c\n"
        "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        "@@ -4,2 +4,3 @@\n d\n+d2\n e\n"
    )
    hunks = build_lmdb.parse_patch(patch)["mdb.c"]
    assert build_lmdb.apply_hunks(source, hunks, "t") == ["a\n", "B\n", "c\n", "d\n", "d2\n", "e\n"]
    moved = ["0\n"] + source  # the context moved down one line: found by searching
    assert build_lmdb.apply_hunks(moved, hunks, "t")[1:] == [
        "a\n",
        "B\n",
        "c\n",
        "d\n",
        "d2\n",
        "e\n",
    ]


def test_a_patch_that_does_not_apply_is_an_error(build_lmdb):
    hunks = build_lmdb.parse_patch("+++ b/mdb.c\n@@ -1,1 +1,1 @@\n-zzz\n+yyy\n")["mdb.c"]
    with pytest.raises(build_lmdb.LmdbSourceError, match="does not apply"):
        build_lmdb.apply_hunks(["a\n"], hunks, "broken")


def test_extraction_rejects_an_sdist_without_lmdb(build_lmdb, tmp_path):
    sdist = make_sdist(str(tmp_path / "x.tar.gz"), {"README": "nothing\n"})
    with pytest.raises(build_lmdb.LmdbSourceError, match="lacks"):
        build_lmdb.extract_and_patch(sdist, build_lmdb.load_pin(), str(tmp_path / "tree"))


def test_the_built_module_reports_the_pinned_lmdb_version():
    import zlmdb.lmdb

    assert zlmdb.lmdb.version() == (0, 9, 36)
    assert zlmdb.lmdb.version(True) == (0, 9, 36, 1)


def test_no_lmdb_c_file_is_tracked_by_git():
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git not available")
    names = {os.path.basename(p) for p in listed.split()}
    assert not names & {"mdb.c", "midl.c", "lmdb.h", "midl.h"}
