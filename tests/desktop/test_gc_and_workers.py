"""Garbage is collected in the GUI thread, and a finished worker lets go of its job's data.

The segfault "Garbage-collecting" in a worker thread (desktop tests, issue 19): Python's
automatic cyclic GC ran in whichever thread crossed the threshold and finalized Qt
objects there.  The desktop collects from a timer in the GUI thread instead
(``desktop.app.collect_garbage_in_gui_thread``, installed for these tests by the
conftest as the app installs it).
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import ClassVar

from PySide6.QtCore import QObject

from desktop.workers import Worker, Workers


class Cycle(QObject):
    """A Qt object in a reference cycle, noting the thread that finalizes it."""

    finalized_in: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__()
        self.me = self

    def __del__(self) -> None:
        Cycle.finalized_in.append(threading.current_thread().name)


def test_garbage_made_in_a_worker_thread_is_collected_in_the_gui_thread(qtbot) -> None:
    assert not gc.isenabled()
    gc.collect()
    Cycle.finalized_in.clear()
    n = 3 * gc.get_threshold()[0]  # past the threshold: automatic GC would run in the worker

    def make_garbage(_worker: Worker) -> None:
        threading.current_thread().name = "job-worker"
        for _ in range(n):
            Cycle()

    workers = Workers()
    worker = Worker(make_garbage)
    with qtbot.waitSignal(worker.signals.finished, timeout=60_000):
        workers.start(worker)
    qtbot.waitUntil(lambda: len(Cycle.finalized_in) > 0, timeout=10_000)
    assert set(Cycle.finalized_in) == {threading.main_thread().name}
    qtbot.waitUntil(lambda: len(Cycle.finalized_in) == n, timeout=10_000)  # all of it


def test_a_finished_worker_lets_go_of_its_jobs_data(qtbot) -> None:
    """A finished worker was kept twice: by a lambda capturing it on its own signals, and by
    PySide's thread pool (auto-delete off); the job's data with it."""

    class JobData:
        pass

    data = JobData()
    freed = weakref.ref(data)
    workers = Workers()
    worker = Worker(lambda _w, held=data: id(held))
    del data
    with qtbot.waitSignal(worker.signals.finished, timeout=60_000):
        workers.start(worker)
    del worker

    def gone() -> bool:
        gc.collect()
        return freed() is None

    qtbot.waitUntil(gone, timeout=10_000)
    assert not workers.busy
