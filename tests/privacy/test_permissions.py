"""The data dir is private: 0700 folders, 0600 files, checked and repaired at start-up.

Both entry points start with ``Home.open()`` (``core/paths.py``): umask 077 for
everything the process and its children create, then a repair of anything
already there.  The stores' own files (Chroma, bm25s, adapters, training,
evaluation, logs) are checked after real sessions in
``test_forget_and_delete.py`` and ``test_zero_egress.py``.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

import core.privacy
from core.errors import NetworkRefused
from core.fsutil import ensure_private_dir
from tests.privacy.pipeline import Inkwell, private_mode_problems


def test_start_up_makes_the_data_dir_private(tmp_path: Path) -> None:
    """Modes loosened behind Inkwell's back (a restored backup) are repaired at start-up.

    A link is not followed (its target is not Inkwell's), and the files of a model
    cache set outside the data dir (``$INKWELL_CACHE_DIR``) are left as they are.
    """
    home = tmp_path / "home"
    cache = tmp_path / "shared-cache"
    ink = Inkwell(home, extra_env={"INKWELL_CACHE_DIR": str(cache)})
    ink("first start", "adapter", "list", "--json")
    assert private_mode_problems(home) == []

    loose_dir = home / "profiles" / "default" / "eval" / "restored"
    loose_dir.mkdir(parents=True)
    loose_file = loose_dir / "results.json"
    loose_file.write_text("{}")
    outside = tmp_path / "outside.txt"
    outside.write_text("not Inkwell's")
    (loose_dir / "link").symlink_to(outside)
    (cache / "shared.bin").write_bytes(b"x")
    for path, mode in [(home, 0o755), (home / "profiles", 0o755), (loose_dir, 0o777),
                       (loose_file, 0o644), (home / "logs", 0o750), (outside, 0o644),
                       (cache / "shared.bin", 0o644)]:
        os.chmod(path, mode)
    assert len(private_mode_problems(home)) == 5

    ink("next start", "adapter", "list", "--json")
    assert private_mode_problems(home) == []
    assert stat.S_IMODE(os.stat(loose_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(cache / "shared.bin").st_mode) == 0o644


def test_private_folders_are_private_all_the_way_down(tmp_path: Path) -> None:
    """Every folder ``ensure_private_dir`` creates is 0700, not only the last one.

    (``mkdir(parents=True)`` gives the parents the umask's mode: an evaluation
    run's folder used to be 0755.)  Folders that existed keep their mode.
    """
    os.chmod(tmp_path, 0o755)
    old = os.umask(0o022)
    try:
        ensure_private_dir(tmp_path / "run" / "users" / "work")
    finally:
        os.umask(old)
    assert private_mode_problems(tmp_path / "run") == []
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755


def test_the_network_guard_log_is_private(tmp_path: Path, monkeypatch) -> None:
    """The refusal log is created 0600 whatever the umask (this process's is 022)."""
    log = tmp_path / "network-guard.log"
    monkeypatch.setattr(core.privacy._GUARD, "log_file", log)
    old = os.umask(0o022)
    try:
        with pytest.raises(NetworkRefused):
            socket.create_connection(("192.0.2.1", 80), timeout=1)
    finally:
        os.umask(old)
    assert "192.0.2.1:80" in log.read_text()
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
