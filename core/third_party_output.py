"""Third-party libraries' own output goes to the data dir's ``logs/``, not the user's terminal.

Inkwell's progress line (:class:`core.jobs.StderrProgress`) is the one a user
sees.  transformers, peft and huggingface_hub print progress bars ("Converting
and de-quantizing GGUF tensors") and warnings meant for developers (a
``FutureWarning`` about ``is_gradient_checkpointing``); in a process that shows
its own progress those are turned off or written to ``logs/libraries.log``.
Warnings name code, not data: the log never holds document text.  The training
worker's whole stderr goes to its own log (:mod:`core.adapters.protocol`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LIBRARIES_LOG = "libraries.log"
# Read by those libraries when they are imported (and inherited by child processes); a value
# the user set is kept, so `TRANSFORMERS_VERBOSITY=info inkwell ...` still works for debugging.
QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
             "TQDM_DISABLE": "1"}


def send_library_output_to_log(logs_dir: Path) -> None:
    """Progress bars off, Python warnings to ``logs_dir/libraries.log``; safe to call again."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    logging.captureWarnings(True)
    warnings_log = logging.getLogger("py.warnings")
    path = str(logs_dir / LIBRARIES_LOG)
    for handler in list(warnings_log.handlers):
        if isinstance(handler, logging.FileHandler) and handler.baseFilename != path:
            warnings_log.removeHandler(handler)  # an earlier data dir's (tests use many)
            handler.close()
    if not warnings_log.handlers:
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        warnings_log.addHandler(handler)
    warnings_log.propagate = False
