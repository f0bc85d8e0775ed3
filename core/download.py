"""The model download process: ``python -P -m core.download --request FILE``.

The one network use in Inkwell, started only by the user ("Get" in Settings, or
``inkwell models get``).  It runs in its own process so the main process's network
guard never has to open: this process installs the guard too, with a single
allowance — the host of the catalog URL (or of the user's mirror) and the hosts
that host redirects to under the same name (``core.catalog.allowed_hosts``).

What it sends is a plain GET: a neutral User-Agent, no cookies (a jar that accepts
none, so a cookie set by one response is never sent back), no credentials from
``~/.netrc`` and no proxy settings from the environment (``trust_env=False``), no
compression (``Accept-Encoding: identity``, so a ``Range`` offset is a file offset).

It writes ``<target>.part`` and, if that exists, resumes it with an HTTP ``Range``
request (a server that ignores the range is read from the start).  A connection
lost mid-file is resumed the same way, a few times, before the process gives up
with the part file kept for the next attempt.  When the size matches, the SHA-256
of the whole file is checked against the catalog's pinned hash; only a matching
file is renamed to ``<target>``, a mismatching one is deleted.

Protocol: JSON lines on stdout — ``progress`` (``done``, ``total``), then ``done``
(``path``, ``sha256``) or ``error`` (``message``, ``kind``: ``network``,
``disk_full``, ``hash``, ``http``, or ``refused``: the guard refused a host).
Cancelling is terminating the process: the part file holds whatever was written,
which the next attempt resumes and verifies.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.privacy import install_network_guard

USER_AGENT = "Inkwell"  # neutral: no version, platform or identifier
CHUNK = 1 << 20
RETRIES = 3  # reconnects after a connection lost mid-file, each resuming where it stopped
TIMEOUT_S = 30.0


class DownloadFailed(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _hash_prefix(path: Path) -> Any:
    digest = hashlib.sha256()
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest


def _refusal(exc: BaseException) -> BaseException | None:
    """The network guard's refusal behind an HTTP error (httpcore wraps it as a ConnectError)."""
    from core.errors import NetworkRefused

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NetworkRefused):
            return current
        current = current.__cause__ or current.__context__
    return None


def _client() -> Any:
    import http.cookiejar

    import httpx

    no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Accept": "*/*"},
        cookies=no_cookies,
        trust_env=False,
        follow_redirects=True,
        timeout=httpx.Timeout(TIMEOUT_S),
    )


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DownloadFailed(
            "disk_full",
            f"{folder}: not enough disk space for the download: {needed / 1e9:.2f} GB more are "
            f"needed, {free / 1e9:.2f} GB are free. Free some space and try again "
            "(what was downloaded so far is kept)",
        )


def download(
    url: str,
    target: Path,
    *,
    size: int,
    sha256: str,
    progress: Callable[[int, int], None],
) -> str:
    """Fetch ``url`` into ``target`` (resuming ``target.part``); return the verified SHA-256."""
    import httpx

    from core.errors import is_disk_full

    part = part_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    host = urlsplit(url).netloc
    attempts = 0
    with _client() as client:
        while True:
            have = part.stat().st_size if part.exists() else 0
            if have > size:  # not a prefix of this file: start again
                part.unlink()
                have = 0
            _check_space(target.parent, size - have)
            if have == size:
                break
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if response.status_code >= 400:
                        raise DownloadFailed(
                            "http",
                            f"{url}: the server answered {response.status_code} "
                            f"{response.reason_phrase}",
                        )
                    if have and response.status_code != 206:
                        have = 0  # the server ignored the range: the body is the whole file
                    with open(part, "ab" if have else "wb") as fh:
                        done = have
                        progress(done, size)
                        for block in response.iter_raw():  # as received: a cut keeps it
                            if done + len(block) > size:
                                raise DownloadFailed(
                                    "hash",
                                    f"{url}: the server sent more than the catalog's "
                                    f"{size} bytes: not the expected file",
                                )
                            fh.write(block)
                            done += len(block)
                            progress(done, size)
            except httpx.TransportError as exc:
                refused = _refusal(exc)
                if refused is not None:
                    raise DownloadFailed("refused", str(refused)) from exc
                attempts += 1
                if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) or attempts > RETRIES:
                    raise DownloadFailed(
                        "network",
                        f"cannot download from {host}: {exc or type(exc).__name__}. Check the "
                        "network connection (or the mirror's address) and try again; what was "
                        "downloaded so far is kept and the next attempt resumes it",
                    ) from exc
                time.sleep(min(2.0, 0.25 * attempts))
                continue
            except OSError as exc:
                if is_disk_full(exc, target.parent):
                    raise DownloadFailed(
                        "disk_full",
                        f"{target.parent}: the disk is full ({exc.strerror or exc}). Free some "
                        "space and try again; what was downloaded so far is kept",
                    ) from exc
                raise
            if part.stat().st_size < size:
                attempts += 1
                if attempts > RETRIES:
                    raise DownloadFailed(
                        "network",
                        f"{host} closed the connection before the end of the file "
                        f"({part.stat().st_size} of {size} bytes); try again to resume",
                    )
                continue
    digest = _hash_prefix(part).hexdigest()
    if digest != sha256:
        part.unlink()
        raise DownloadFailed(
            "hash",
            f"{url}: SHA-256 mismatch: the file's is {digest}, the catalog pins {sha256}. "
            "It was deleted, not listed: the server sent another file than the one published",
        )
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, target)
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -P -m core.download")
    parser.add_argument("--request", required=True, type=Path)
    args = parser.parse_args(argv)
    request = json.loads(args.request.read_text(encoding="utf-8"))
    # First, before any connection: the guard, allowing only the download's hosts.
    install_network_guard(allow_hosts=request["allow_hosts"])
    # A file-size limit (ulimit -f) then fails a write with EFBIG, a "disk full", instead
    # of killing the process without a word.
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    out = sys.stdout
    last = [0.0]

    def emit(event: dict[str, Any]) -> None:
        out.write(json.dumps(event) + "\n")
        out.flush()

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 0.2:
            last[0] = now
            emit({"event": "progress", "done": done, "total": total})

    try:
        digest = download(
            request["url"],
            Path(request["target"]),
            size=int(request["size"]),
            sha256=request["sha256"],
            progress=progress,
        )
    except DownloadFailed as exc:
        emit({"event": "error", "kind": exc.kind, "message": str(exc)})
        return 2
    emit({"event": "done", "path": request["target"], "sha256": digest})
    return 0


if __name__ == "__main__":
    sys.exit(main())
