"""The user's own commit messages from a git repository, one document per commit.

Commit messages are writing most developers have years of: a subject line and
a body, dated.  ``git log`` is run locally (no fetch); ``--author`` is a regular
expression in git, so the e-mail is matched exactly afterwards.

The repository is untrusted input: its config (and the user's global one) can name
programs git runs (``gpg.program`` under ``log.showSignature``, ``core.fsmonitor``,
``core.pager``) and a partial clone fetches missing objects from its remote.  So git
runs with the system and global config ignored, no ``GIT_*`` variable of the caller's
environment, every config key that can start a program or a transport overridden, no
pager and no terminal prompt: the only program it starts is itself.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core.documents import Document, content_hash
from core.errors import InkwellError

_FIELD = "\x1f"
_RECORD = "\x1e"
# -c overrides the repository's own config, which is read last otherwise.
_SAFE_CONFIG = (
    "log.showSignature=false", "core.fsmonitor=false", "core.pager=cat",
    "core.hooksPath=" + os.devnull, "protocol.allow=never", "core.sshCommand=false",
    "credential.helper=", "diff.external=", "gpg.program=false", "gpg.ssh.program=false",
    "gpg.x509.program=false",
)


def _git(*args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` so that it cannot start another program or reach the network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0",
               GIT_NO_LAZY_FETCH="1", GIT_ASKPASS="false", SSH_ASKPASS="false")
    config = [arg for pair in _SAFE_CONFIG for arg in ("-c", pair)]
    try:
        return subprocess.run(["git", "--no-pager", *config, *args], capture_output=True,
                              check=False, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise InkwellError("git is not installed; it is needed to import commit messages") from None


def repo_root(repo: Path) -> Path:
    out = _git("-C", str(repo), "rev-parse", "--show-toplevel", timeout=60)
    if out.returncode != 0:
        reason = out.stderr.decode("utf-8", "replace").strip() or "git failed"
        raise InkwellError(f"{repo}: not a git repository ({reason})")
    return Path(out.stdout.decode("utf-8", "replace").strip()).resolve()


def group_key(root: Path, author_email: str) -> str:
    return f"git:{root}:{author_email.strip().lower()}"


def commit_documents(repo: Path, author_email: str) -> tuple[Path, list[Document]]:
    """(repository root, the author's non-merge commits as documents, oldest first)."""
    root = repo_root(repo)
    email = author_email.strip().lower()
    if "@" not in email:
        raise InkwellError(f"{author_email!r} is not an e-mail address")
    fmt = _FIELD.join(["%H", "%aI", "%ae", "%B"]) + _RECORD
    out = _git("-C", str(root), "log", "--no-show-signature", "--no-merges", "--reverse",
               f"--author={email}", "--regexp-ignore-case", f"--format={fmt}", timeout=600)
    if out.returncode != 0:
        # A repository without commits yet has nothing to import.
        if b"does not have any commits" in out.stderr:
            return root, []
        raise InkwellError(f"{root}: git log failed: {out.stderr.decode('utf-8', 'replace')}")
    docs = []
    for record in out.stdout.decode("utf-8", "replace").split(_RECORD):
        parts = record.strip("\n").split(_FIELD)
        if len(parts) != 4 or parts[2].strip().lower() != email:
            continue
        sha, date, _, message = parts
        message = message.strip()
        if not message:
            continue
        subject, _, body = message.partition("\n")
        text = (subject.strip() + "\n\n" + body.strip()).strip()
        docs.append(Document(
            doc_id=f"commit:{root.name}:{sha[:12]}",
            source=f"{root}@{sha}",
            title=subject.strip(),
            date=date[:10],
            text=text,
            kind="commit",
            content_hash=content_hash(sha, message),
        ))
    return root, docs
