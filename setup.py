"""setuptools entry point: compiles zlmdb._lmdb_cffi through build_lmdb.py (cffi API mode)."""

import os
import sys

from setuptools import setup
from setuptools.command.sdist import sdist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class SdistWithLmdb(sdist):
    """Make sure the patched LMDB tree is present, so the sdist builds with no network."""

    def run(self):
        import build_lmdb

        build_lmdb.prepare_tree()
        super().run()


setup(
    cffi_modules=["build_lmdb.py:ffi"],
    cmdclass={"sdist": SdistWithLmdb},
    zip_safe=False,
)
