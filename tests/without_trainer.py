"""``python -m tests.without_trainer ARGS``: the ``inkwell`` CLI as on a machine without the
trainer.  torch and peft are hidden from the import system (``find_spec`` finds nothing, an
import raises ModuleNotFoundError) as if never installed, while they stay installed for the
rest of the suite."""

from __future__ import annotations

import runpy
import sys
from typing import Any

HIDDEN = ("torch", "peft")


class _Hide:
    """Wraps a meta-path finder, finding nothing for the hidden packages."""

    def __init__(self, finder: Any) -> None:
        self.finder = finder

    def __getattr__(self, attr: str) -> Any:  # find_distributions, invalidate_caches, ...
        return getattr(self.finder, attr)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name.partition(".")[0] in HIDDEN:
            return None
        return self.finder.find_spec(name, path, target)


def hide_trainer() -> None:
    sys.meta_path[:] = [_Hide(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]


if __name__ == "__main__":
    hide_trainer()
    runpy.run_module("core", run_name="__main__", alter_sys=True)
