"""On free-threaded CPython the GIL stays off: an extension that does not declare itself
free-threading safe would switch it back on at import (with a RuntimeWarning). cffi 2.x
declares every API-mode module safe, and zlmdb._lmdb_cffi's C helpers do not rely on the
GIL (they are called with it released on every build)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

import zlmdb

pytestmark = pytest.mark.skipif(
    not sysconfig.get_config_var("Py_GIL_DISABLED"), reason="needs free-threaded CPython"
)

SRC = os.path.dirname(os.path.dirname(os.path.abspath(zlmdb.__file__)))


def test_importing_all_of_zlmdb_keeps_the_gil_disabled() -> None:
    code = (
        "import sys, zlmdb, zlmdb.lmdb, zlmdb.store, zlmdb.orm, zlmdb._lmdb_cffi\n"
        "from zlmdb.lmdb import aio, tool, verify\n"
        "print(sys._is_gil_enabled())\n"
    )
    env = dict(os.environ)
    env.pop("PYTHON_GIL", None)  # the interpreter's default: off unless a module asks
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
