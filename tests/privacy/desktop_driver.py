"""Test-only: start the real desktop app offscreen and click through a short scripted session.

    python -m tests.privacy.desktop_driver --home DIR [--max-tokens N] [--add FOLDER]...
        [--write-rag PROMPT] [--forget PATH]... [--delete-everything]

The app is started by its own entry point, ``desktop.app.main`` (network guard,
data dir, window, event loop), so the privacy proofs see exactly what a user's
session does.  The driver only gets hold of the window: it wraps
``desktop.app.close_on_signals``, which ``main`` calls with the window just
before showing it, and from there runs the script on the event loop — fill in a
field, click a button, wait until the panel is idle — as a user would.  Only the
confirmation dialogs are answered "yes" (they would block an unattended run).
At the end it prints one JSON line (what each panel said) and closes the window
the normal way; the exit status is the app's, or 1 if a step did not succeed.

Nothing here is part of the product: the product has no scripting hook.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.privacy import install_network_guard

Ready = Callable[[], bool]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.privacy.desktop_driver")
    p.add_argument("--home", required=True)
    p.add_argument("--max-tokens", type=int, help="save this answer length before starting")
    p.add_argument("--add", action="append", default=[], metavar="FOLDER")
    p.add_argument("--write-rag", metavar="PROMPT")
    p.add_argument("--forget", action="append", default=[], metavar="PATH")
    p.add_argument("--delete-everything", action="store_true")
    p.add_argument("--timeout", type=float, default=600)
    return p.parse_args(argv)


def script(window: Any, args: argparse.Namespace, report: dict[str, Any]) -> Iterator[Ready]:
    """The session, one user action at a time; each ``yield`` waits until the panel is idle."""
    from PySide6.QtWidgets import QMessageBox

    import desktop.library_panel
    import desktop.privacy_panel
    from desktop.welcome import WelcomeDialog

    for dialog in window.findChildren(WelcomeDialog):
        dialog.reject()  # first run: "Not now"

    library = window.show_panel("Library")
    for folder in args.add:
        library.add_paths([folder])
        yield lambda: not library.busy
        report.setdefault("library", []).append(library.status.text())
        if not library.status.text().startswith("Done"):
            report["error"] = f"adding {folder}: {library.status.text()}"
            return

    if args.write_rag:
        panel = window.show_panel("Write")
        panel.method.setCurrentIndex(panel.method.findData("rag"))
        panel.input.setPlainText(args.write_rag)
        panel.write_button.click()
        yield lambda: not panel.busy
        report["write"] = {
            "status": panel.status.text(),
            "answer": panel.output.toPlainText(),
            "sources": [panel.sources.topLevelItem(i).text(2)
                        for i in range(panel.sources.topLevelItemCount())],
        }
        if not panel.status.text().startswith("Done") or not panel.output.toPlainText().strip():
            report["error"] = f"writing: {panel.status.text()}"
            return

    desktop.library_panel.confirm = lambda *_a: True
    for path in args.forget:
        library.search.setText(Path(path).name)  # filter the table to the file, select it
        library.table.selectRow(0)
        if library.selected_paths() != [path]:
            report["error"] = f"forget: could not select {path}: {library.selected_paths()}"
            return
        library.forget_button.click()
        yield lambda: not library.busy
        report.setdefault("forget", []).append(library.status.text())
        library.search.clear()
        if not library.status.text().startswith("Forgotten"):
            report["error"] = f"forget {path}: {library.status.text()}"
            return

    if args.delete_everything:
        desktop.privacy_panel.confirm = lambda *_a: True
        QMessageBox.information = lambda *_a: QMessageBox.StandardButton.Ok  # type: ignore[method-assign]
        window.show_panel("Privacy").delete_button.click()  # deletes, then closes the window
        report["deleted"] = not Path(args.home).exists()


def main(argv: list[str] | None = None) -> int:
    install_network_guard()
    args = parse_args(argv)
    if args.max_tokens:
        from core.paths import Home
        from core.settings import AppSettings

        home = Home.resolve(args.home)
        settings = AppSettings.load(home)
        settings.max_tokens = args.max_tokens
        settings.save(home)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import desktop.app

    report: dict[str, Any] = {}
    original = desktop.app.close_on_signals

    def drive(window: Any) -> None:
        original(window)
        steps = script(window, args, report)
        deadline = time.monotonic() + args.timeout
        waiting: list[Ready] = [lambda: True]
        timer = QTimer(window)

        def tick() -> None:
            if time.monotonic() > deadline:
                report["error"] = f"timed out after {args.timeout:.0f} s"
            elif waiting[0]():
                try:
                    waiting[0] = next(steps)
                    return
                except StopIteration:
                    pass
                except Exception as exc:  # a broken step must end the session, not hang it
                    report["error"] = f"{type(exc).__name__}: {exc}"
            else:
                return
            timer.stop()
            QApplication.closeAllWindows()

        timer.timeout.connect(tick)
        timer.start(100)

    desktop.app.close_on_signals = drive
    rc = desktop.app.main(["--home", args.home])
    print(json.dumps(report), flush=True)
    return rc or (1 if "error" in report else 0)


if __name__ == "__main__":
    sys.exit(main())
