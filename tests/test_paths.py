"""Data dir layout, profiles, private permissions and atomic writes."""

from __future__ import annotations

import os
import stat

import pytest

from core.errors import InkwellError
from core.fsutil import atomic_write_json, read_json, repair_private_permissions
from core.paths import Home


def test_home_from_env_and_profiles(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INKWELL_HOME", str(tmp_path / "h"))
    home = Home.resolve().ensure()
    assert home.root == (tmp_path / "h").resolve()
    work = home.profile("work").ensure()
    personal = home.profile("personal").ensure()
    assert work.library_dir != personal.library_dir
    assert home.profile_names() == ["personal", "work"]
    assert stat.S_IMODE(os.stat(home.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(work.adapters_dir).st_mode) == 0o700


@pytest.mark.parametrize("bad", ["", "..", "a/b", "-x", "x" * 65, "with space"])
def test_bad_profile_names_are_refused(tmp_path, bad) -> None:
    with pytest.raises(InkwellError, match="invalid profile name"):
        Home.resolve(tmp_path).profile(bad)


def test_atomic_json_is_private_and_replaces(tmp_path) -> None:
    target = tmp_path / "d" / "x.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert read_json(target) == {"a": 2}
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]  # no temp files left


def test_repair_private_permissions(tmp_path) -> None:
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "f"
    f.write_text("x")
    os.chmod(f, 0o644)
    os.chmod(tmp_path / "sub", 0o755)
    assert repair_private_permissions(tmp_path / "sub") == 2
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "sub").st_mode) == 0o700
