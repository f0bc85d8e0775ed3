"""The user's own commit messages from a git repository, one document per commit.

Commit messages are writing most developers have years of: a subject line and
a body, dated.  ``git log`` is run locally (no fetch); ``--author`` is a regular
expression in git, so the e-mail is matched exactly afterwards.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from core.documents import Document, content_hash
from core.errors import InkwellError

_FIELD = "\x1f"
_RECORD = "\x1e"


def repo_root(repo: Path) -> Path:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise InkwellError("git is not installed; it is needed to import commit messages") from None
    if out.returncode != 0:
        raise InkwellError(f"{repo}: not a git repository ({out.stderr.strip() or 'git failed'})")
    return Path(out.stdout.strip()).resolve()


def group_key(root: Path, author_email: str) -> str:
    return f"git:{root}:{author_email.strip().lower()}"


def commit_documents(repo: Path, author_email: str) -> tuple[Path, list[Document]]:
    """(repository root, the author's non-merge commits as documents, oldest first)."""
    root = repo_root(repo)
    email = author_email.strip().lower()
    if "@" not in email:
        raise InkwellError(f"{author_email!r} is not an e-mail address")
    fmt = _FIELD.join(["%H", "%aI", "%ae", "%B"]) + _RECORD
    out = subprocess.run(
        ["git", "-C", str(root), "log", "--no-merges", "--reverse", f"--author={email}",
         "--regexp-ignore-case", f"--format={fmt}"],
        capture_output=True, check=False, timeout=600,
    )
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
