"""Commit import from an untrusted repository: git starts no program the repository names.

A repository's config (or the user's global one) can make ``git log`` run programs:
``gpg.program`` once ``log.showSignature`` is on and a commit is signed,
``core.fsmonitor``, ``core.pager``.  Here every one of them names a script that
leaves a mark; importing the commits must leave none.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from core.library.gitlog import commit_documents

EMAIL = "me@example.org"
# A commit object with a (made-up) OpenPGP signature: enough for git to call gpg.program.
_SIGNATURE = ["-----BEGIN PGP SIGNATURE-----", "",
              "iQEzBAABCAAdFiEEfakefakefakefakefakefakefakefakeFAmXlYz8ACgkQ", "=fake",
              "-----END PGP SIGNATURE-----"]
SIGNED_COMMIT = (
    "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"  # the empty tree
    "author Me <me@example.org> 1709528767 +0000\n"
    "committer Me <me@example.org> 1709528767 +0000\n"
    "gpgsig " + "\n ".join(_SIGNATURE) + "\n"  # continuation lines start with a space
    "\nSign the release notes\n\nThey are signed from now on.\n"
)


def _hostile_config(marker: Path) -> str:
    script = marker.parent / "planted.sh"
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> {marker}\nexit 1\n")
    script.chmod(0o755)
    return (f"[log]\n\tshowSignature = true\n[gpg]\n\tprogram = {script}\n"
            f"[core]\n\tfsmonitor = {script}\n\tpager = {script}\n")


def _signed_repo(repo: Path) -> None:
    env = {**os.environ, "HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env, timeout=120)
    sha = subprocess.run(["git", "-C", str(repo), "hash-object", "-t", "commit", "-w", "--stdin"],
                         input=SIGNED_COMMIT.encode(), capture_output=True, check=True,
                         env=env, timeout=120).stdout.decode().strip()
    subprocess.run(["git", "-C", str(repo), "update-ref", "HEAD", sha], check=True, env=env,
                   timeout=120)


@pytest.mark.parametrize("where", ["repository", "global"])
def test_git_log_runs_no_program_the_config_names(tmp_path: Path, where: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran.txt"
    repo = tmp_path / "repo"
    _signed_repo(repo)
    user_home = tmp_path / "user"
    user_home.mkdir()
    config = _hostile_config(marker)
    if where == "repository":
        with open(repo / ".git" / "config", "a") as fh:
            fh.write(config)
    else:
        (user_home / ".gitconfig").write_text(config)
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.setenv("GIT_PAGER", str(marker.parent / "planted.sh"))
    # The config really is hostile: a plain ``git log`` runs the planted program.
    subprocess.run(["git", "-C", str(repo), "log", "-1"], capture_output=True, check=False,
                   stdin=subprocess.DEVNULL, timeout=120)
    assert marker.exists()
    marker.unlink()

    root, docs = commit_documents(repo, EMAIL)
    assert root == repo.resolve()
    assert [d.title for d in docs] == ["Sign the release notes"]
    assert not marker.exists(), marker.read_text()
