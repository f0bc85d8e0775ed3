"""The frozen app's entry point: PyInstaller builds both executables from this one script.

* ``inkwell-desktop`` (windowed on Windows, the ``.app``'s executable on macOS) opens the
  window, or with ``--selftest`` checks the installation offscreen;
* ``inkwell`` (a console program) is the command line;
* either, given ``--train-worker`` as its first argument, is the training child process
  (``core.adapters.protocol.worker_command``), and given ``--download-worker``, the model
  download process (``core.catalog.download_command``): a frozen app has no ``python -m``.

The network guard is installed first, as in every Inkwell entry point.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from core.privacy import install_network_guard

# core.adapters.protocol.TRAIN_WORKER_FLAG and core.catalog.DOWNLOAD_WORKER_FLAG, spelled
# out: importing those modules costs the command line's fast paths numpy and more
# (tests/test_selftest.py checks they agree).
TRAIN_WORKER_FLAG = "--train-worker"
DOWNLOAD_WORKER_FLAG = "--download-worker"


def main() -> int:
    install_network_guard()
    multiprocessing.freeze_support()  # a multiprocessing child: run its task and exit here
    argv = sys.argv[1:]
    if argv[:1] == [TRAIN_WORKER_FLAG]:
        from core.adapters.worker import main as worker

        return worker(argv[1:])
    if argv[:1] == [DOWNLOAD_WORKER_FLAG]:
        # The guard installed above allows no host; core.download then allows the one
        # host of its request (set once, never widened) before it connects.
        from core.download import main as download

        return download(argv[1:])
    if Path(sys.executable).stem.lower().endswith("desktop"):
        from desktop.app import main as desktop

        return desktop(argv)
    from core.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
