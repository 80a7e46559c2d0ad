"""Running a test's code in a child made by ``os.fork()`` (tests/lmdb, tests/orm)."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import Callable


def start_child(body: Callable[[], object], alarm: int = 20) -> int:
    """Fork; the child runs ``body()`` and leaves with ``os._exit`` (status 0 when it
    returned, 1 when it raised: the traceback goes to stderr), or is ended by SIGALRM after
    ``alarm`` seconds (a hang). Returns the child's pid to the parent, which may go on with
    its side of the test before :func:`child_status`."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(alarm)
            body()
            code = 0
        except BaseException:  # noqa: BLE001 - reported through the exit status
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    return pid


def child_status(pid: int) -> str:
    """Wait for the child: ``"exit N"``, or ``"killed by signal N (hung)"``."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)} (hung)"
    return f"exit {os.WEXITSTATUS(status)}"
