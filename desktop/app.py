"""``inkwell-desktop [--home DIR] [--profile NAME]``: start the window.

The network guard is installed before anything else is imported, as in every
Inkwell entry point: nothing Qt or the libraries load may reach the network.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.privacy import install_network_guard

if TYPE_CHECKING:
    from PySide6.QtCore import QObject, QTimer
    from PySide6.QtWidgets import QWidget


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inkwell-desktop",
                                     description="Inkwell's desktop window.")
    parser.add_argument("--home", help="data directory (default: $INKWELL_HOME or the OS's)")
    parser.add_argument("--profile", default="default", help="profile (voice) to use")
    parser.add_argument("--selftest", action="store_true",
                        help="check this installation offscreen in a temporary data dir "
                        "(window, model, indexing, retrieval, RAG, adapter) and exit")
    return parser.parse_args(argv)


def close_on_signals(window: QWidget) -> None:
    """Ctrl-C or SIGTERM closes the windows the normal way: jobs are cancelled, nothing is lost.

    Python runs signal handlers only between bytecodes, so a timer wakes the
    interpreter while Qt's event loop waits in C++.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QApplication.closeAllWindows())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def collect_garbage_in_gui_thread(app: QObject, interval_ms: int = 500) -> QTimer:
    """Turn Python's automatic cyclic GC off and collect from a timer in the GUI thread.

    Automatic collection runs in whichever thread crosses the allocation threshold; in a
    job's worker thread it can finalize Qt objects that belong to the GUI thread, which
    crashes ("Garbage-collecting" in a segfault's trace, seen in the desktop tests).
    calibre, pyqtgraph and novelWriter cure it this way; the timer keeps CPython's
    generational thresholds, so as much garbage is collected as before, only here.
    ``gc.enable()`` undoes it (the test suite does, after its desktop tests).
    """
    import gc

    from PySide6.QtCore import QTimer

    thresholds = gc.get_threshold()

    def collect() -> None:
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)  # and every younger one
                return

    gc.disable()
    timer = QTimer(app)
    timer.timeout.connect(collect)
    timer.start(interval_ms)
    return timer


def main(argv: Sequence[str] | None = None) -> int:
    install_network_guard()
    args = parse_args(argv)
    if args.selftest:
        from desktop.selftest import run

        return run()

    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from core.errors import InkwellError
    from core.paths import Home
    from desktop.session import Session
    from desktop.theme import apply_theme, load_fonts

    app = QApplication(sys.argv[:1])
    collect_garbage_in_gui_thread(app)
    app.setApplicationName("Inkwell")
    app.setDesktopFileName("inkwell")
    try:
        home = Home.resolve(args.home).open()  # private data dir: umask 077, modes repaired
        install_network_guard(log_file=home.logs_dir / "network-guard.log")
        session = Session(home, home.profile(args.profile).ensure())
    except InkwellError as exc:
        print(f"inkwell-desktop: error: {exc}", file=sys.stderr)
        return 2
    first_run = not home.settings_file.exists()
    load_fonts()
    apply_theme(app, session.app_settings().theme)
    QGuiApplication.styleHints().colorSchemeChanged.connect(
        lambda _scheme: apply_theme(app, session.app_settings().theme))

    from desktop.window import MainWindow

    window = MainWindow(session)
    close_on_signals(window)
    window.show()
    if first_run:
        session.app_settings().save(home)  # the welcome is shown once
        window.welcome()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
