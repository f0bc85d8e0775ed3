"""``inkwell-desktop --selftest``: the core self-test plus the main window, offscreen.

The window is built and shown first, so the time it reports is the cold start a
user waits for (process start to window shown); then the core self-test
(:mod:`core.selftest`) runs in its own fresh data dir.  Both data dirs are
temporary and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from core.privacy import install_network_guard


def show_window(root: Path) -> str:
    """Build the main window on a new data dir, show it and close it; describe what was shown."""
    from PySide6.QtWidgets import QApplication

    from core.paths import Home
    from desktop.session import Session
    from desktop.theme import apply_theme, load_fonts
    from desktop.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    home = Home.resolve(root).ensure()
    install_network_guard(log_file=home.logs_dir / "network-guard.log")
    session = Session(home, home.profile("selftest").ensure())
    family = load_fonts()
    apply_theme(app, session.app_settings().theme)
    window = MainWindow(session)
    window.show()
    app.processEvents()
    if not window.isVisible():
        raise RuntimeError("the main window did not become visible")
    title, panels = window.windowTitle(), len(window.panels)
    window.close()
    app.processEvents()
    return (f"{title!r} with {panels} panels, font {family}, Qt platform {app.platformName()}")


def run(adapter: str = "auto") -> int:
    install_network_guard()
    # Offscreen unless the caller chose a platform: the self-test must run without a display.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from core.selftest import process_age_s, run_selftest

    root = Path(tempfile.mkdtemp(prefix="inkwell-desktop-selftest-"))
    try:
        try:
            shown = show_window(root / "window")
        except Exception as exc:
            print(f"FAIL main window: {type(exc).__name__}: {exc}", flush=True)
            return 1
        print(f"ok   main window shown {process_age_s():.1f} s after the process started: "
              f"{shown}", flush=True)
        return run_selftest(root / "core", adapter)
    finally:
        shutil.rmtree(root, ignore_errors=True)
