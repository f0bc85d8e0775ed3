"""kill -9 during indexing: the next run resumes with nothing lost and nothing duplicated.

The helpers live in ``tests/crashkit.py``; the 20-trial version (every store
opened after each kill, figures recorded in ``benchmarks/results/crash_trials.json``)
is ``tests/privacy/test_crash_trials.py::test_kill_9_indexing_20_seeded_trials``.
"""

from __future__ import annotations

from pathlib import Path

from tests.crashkit import index_trials


def test_kill_9_mid_indexing_then_resume(tmp_path: Path, profile) -> None:
    index_trials(tmp_path, profile, n=3, seed=7)
