"""Helpers shared by the thread tests of tests/lmdb, tests/orm and tests/store."""

from __future__ import annotations

import threading
from typing import Callable, Iterable, List


def run_threads(targets: Iterable[Callable[[], object]]) -> List[BaseException]:
    """Run each callable of ``targets`` on its own thread, all started before any is joined;
    return what they raised (empty when every one returned), for the test to assert on."""
    errors: List[BaseException] = []
    lock = threading.Lock()

    def wrap(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # reported to the test
                with lock:
                    errors.append(exc)

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
