"""Sphinx configuration of zlmdb's documentation (``sphinx-build docs docs/_build``)."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

project = "zlmdb"
author = "zlmdb developers"
copyright = "2026, zlmdb developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
try:  # the version of the checkout, without importing the compiled extension
    with open(os.path.join(os.path.dirname(__file__), "..", "src", "zlmdb", "_version.py")) as fp:
        release = fp.read().split('"')[1]
except OSError:  # pragma: no cover
    release = "unknown"
version = release
