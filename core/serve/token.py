"""The bearer token of ``inkwell serve``.

Loopback is not a boundary between users or between programs of one user: any
local process (another account on a shared machine, a web page through DNS
rebinding) can reach 127.0.0.1.  So every request must carry a random token
that only the user can read: generated on first use, stored 0600 in the data dir.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from core.fsutil import atomic_write_text
from core.paths import Home

TOKEN_FILE = "serve-token"


def token_file(home: Home) -> Path:
    return home.root / TOKEN_FILE


def load_token(home: Home, renew: bool = False) -> str:
    """The token, created (or, with ``renew``, replaced) and stored 0600 when needed."""
    path = token_file(home)
    if not renew:
        try:
            token = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            token = ""
        if token:
            return token
    atomic_write_text(path, "inkwell-" + secrets.token_urlsafe(32) + "\n")
    # Two first starts at once: both read back the one file that won the rename.
    return path.read_text(encoding="ascii").strip()


def token_matches(expected: str, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header carries the token (compared in constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )
