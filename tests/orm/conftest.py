"""Shared helpers of the ORM tests: the fixture directory on sys.path (``user_model``)."""

from __future__ import annotations

import os
import sys

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
if FIXTURES not in sys.path:
    sys.path.insert(0, FIXTURES)
