"""The canary scan outside the data dir stays cheap on a developer's machine.

It reads regular files only (a FIFO would block it forever), does not follow symlinks,
stays on each root's file system (a procfs mounted below the temp dir once kept it
reading for 20 minutes) and stops at its entry budget, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.privacy import pipeline
from tests.privacy.pipeline import scan_for

NEEDLES = {"canary": b"zqcanaryword"}


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "note.txt").write_text("the ZQCANARYWORD is here")
    os.mkfifo(root / "sub" / "pipe")
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "other.txt").write_text("zqcanaryword outside")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link.txt").symlink_to(outside / "other.txt")


def test_regular_files_only_and_no_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _tree(root)
    report = scan_for([root], NEEDLES)
    assert report.hits == [f"{root / 'sub' / 'note.txt'}: canary"]
    assert report.files == 1 and report.cut_short == []


def test_stops_at_its_entry_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    for i in range(30):
        (root / f"d{i}").mkdir(parents=True)
        (root / f"d{i}" / "f.txt").write_text("x")
    monkeypatch.setattr(pipeline, "ENTRY_BUDGET", 10)
    report = scan_for([root], NEEDLES)
    assert report.cut_short and str(root) in report.cut_short[0]
    assert report.files < 10


def test_stays_on_one_file_system(tmp_path: Path) -> None:
    root = tmp_path / "root"
    mount = root / "mounted"
    mount.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False, timeout=120)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        (mount / "elsewhere.txt").write_text("zqcanaryword on another file system")
        assert scan_for([mount], NEEDLES).hits  # the positive control: readable as a root
        assert scan_for([root], NEEDLES).hits == []
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=120)
