"""``inkwell models get``: a real download process against a real HTTP server on loopback.

Never a real hub: the server (``tests/models/model_server.py``) serves a tiny GGUF
under a test catalog's file name, and the download is pointed at it as the user's
mirror — the same code path as the catalog URL, with the pinned hash still applied.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.catalog import (
    DOWNLOAD_WORKER_FLAG,
    DownloadJob,
    download_command,
    find_entry,
    read_downloads,
)
from core.download import part_path
from core.errors import DiskFull, InkwellError, JobCancelled, NetworkRefused
from core.models import ModelRegistry
from core.privacy import refused_attempts
from tests.models.conftest import FILE, entry
from tests.models.model_server import write_catalog

NEUTRAL_HEADERS = {"host", "user-agent", "accept", "accept-encoding", "connection", "range"}


def test_full_download_is_verified_listed_and_recorded(home, server, catalog, gguf_bytes) -> None:
    job = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url)
    seen = []
    job.on_progress(lambda p: seen.append(p.done))
    info = job.execute()
    assert info.name == "tiny" and info.source == "downloaded"
    assert info.sha256 == hashlib.sha256(gguf_bytes).hexdigest()
    assert info.path.read_bytes() == gguf_bytes and not part_path(info.path).exists()
    assert seen[-1] == len(gguf_bytes)
    assert "tiny" in {m.name for m in ModelRegistry(home).list()}
    # What was sent: one plain GET with a neutral User-Agent; nothing about the user.
    (request,) = server.behaviour.requests
    assert request["path"] == f"/{FILE}" and request["user-agent"] == "Inkwell"
    assert set(request) - {"path"} <= NEUTRAL_HEADERS
    # The Privacy panel's record: what, when, from where.
    records = read_downloads(home)
    assert [r["outcome"] for r in records] == ["started", "verified"]
    assert records[-1]["url"] == f"{server.url}/{FILE}" and records[-1]["model"] == "tiny"
    # This process's guard stayed on throughout.
    before = len(refused_attempts())
    with pytest.raises(NetworkRefused):
        socket.getaddrinfo("huggingface.co", 443)
    assert len(refused_attempts()) == before + 1


def test_a_cut_connection_is_resumed_with_a_range_request(home, server, catalog, gguf_bytes):
    server.behaviour.cut_after = 1_000_000
    info = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url).execute()
    assert info.path.read_bytes() == gguf_bytes
    ranges = [r.get("range") for r in server.behaviour.requests]
    assert ranges == [None, "bytes=1000000-"]


def test_cancel_keeps_the_part_file_and_the_next_get_resumes_it(home, server, catalog, gguf_bytes):
    server.behaviour.delay_s = 0.05
    job = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url)
    started = threading.Event()
    job.on_progress(lambda p: started.set() if p.done > 0 else None)
    threading.Thread(target=lambda: started.wait(60) and job.cancel(), daemon=True).start()
    with pytest.raises(JobCancelled):
        job.execute()
    part = part_path(job.target)
    assert part.exists() and 0 < part.stat().st_size < len(gguf_bytes)
    assert not job.target.exists() and "tiny" not in {m.name for m in ModelRegistry(home).list()}

    server.behaviour.delay_s = 0.0
    info = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url).execute()
    assert info.path.read_bytes() == gguf_bytes
    resumed = server.behaviour.requests[-1]["range"]
    assert resumed.startswith("bytes=") and int(resumed[6:-1]) > 0
    assert [r["outcome"] for r in read_downloads(home)] == [
        "started", "cancelled", "started", "verified"]


def test_a_hash_mismatch_is_refused_and_nothing_is_listed(home, server, tmp_path, gguf_bytes):
    catalog = write_catalog(tmp_path / "c.json", [entry(gguf_bytes, sha256="ab" * 32)])
    job = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url)
    with pytest.raises(InkwellError, match=r"SHA-256 mismatch.*deleted, not listed"):
        job.execute()
    assert not job.target.exists() and not part_path(job.target).exists()
    assert "tiny" not in {m.name for m in ModelRegistry(home).list()}


def test_not_enough_disk_space_is_refused_before_downloading(home, server, tmp_path, gguf_bytes):
    catalog = write_catalog(tmp_path / "c.json", [entry(gguf_bytes, size=10**17)])
    with pytest.raises(DiskFull, match="not enough disk space"):
        DownloadJob(home, find_entry("tiny", catalog), mirror=server.url).execute()
    assert server.behaviour.requests == []


def _request(tmp_path: Path, server, entry, target: Path) -> Path:
    """The download process's request file for ``entry`` from the loopback server."""
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "url": f"{server.url}/{FILE}", "target": str(target), "size": entry.size,
        "sha256": entry.sha256, "allow_hosts": ["127.0.0.1"],
    }))
    return request


def test_a_disk_that_fills_up_midway_is_a_clear_error(home, server, catalog, tmp_path) -> None:
    """A file-size limit makes the write fail with EFBIG, as a full disk fails it with ENOSPC."""
    target = tmp_path / "out" / FILE
    request = _request(tmp_path, server, find_entry("tiny", catalog), target)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, 500_000))

    out = subprocess.run(download_command(request), capture_output=True, text=True,
                         preexec_fn=limit, check=False, timeout=120)
    last = json.loads(out.stdout.splitlines()[-1])
    assert out.returncode == 2 and last["kind"] == "disk_full", out.stderr
    assert "disk is full" in last["message"] and not target.exists()


def test_the_frozen_apps_entry_point_runs_the_download_process(server, catalog, tmp_path,
                                                                gguf_bytes) -> None:
    """A frozen app starts the download as ``<its executable> --download-worker``: the entry
    point's guard (no host allowed) must let core.download allow the request's host."""
    target = tmp_path / "out" / FILE
    request = _request(tmp_path, server, find_entry("tiny", catalog), target)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(root / "packaging" / "entry.py"), DOWNLOAD_WORKER_FLAG,
         "--request", str(request)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["event"] == "done"
    assert target.read_bytes() == gguf_bytes


def test_no_network_fails_with_a_clear_message(home, catalog) -> None:
    with socket.socket() as s:  # a port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job = DownloadJob(home, find_entry("tiny", catalog), mirror=f"http://127.0.0.1:{port}")
    with pytest.raises(InkwellError, match=r"cannot download from 127\.0\.0\.1.*Check the network"):
        job.execute()
    assert read_downloads(home)[-1]["outcome"] == "failed: network"


def test_the_download_process_reaches_only_its_host(home, server, catalog) -> None:
    """A redirect to any other host is refused by the download process's own guard."""
    server.behaviour.redirect_to = "http://elsewhere.example.org"
    job = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url)
    with pytest.raises(NetworkRefused, match=r"refused a network connection to elsewhere\.example"):
        job.execute()


def test_cookies_set_by_the_server_are_never_sent_back(home, server, catalog, gguf_bytes) -> None:
    server.behaviour.redirect_to = server.url
    server.behaviour.set_cookie = True
    info = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url).execute()
    assert info.path.read_bytes() == gguf_bytes
    assert len(server.behaviour.requests) == 2
    assert all("cookie" not in r for r in server.behaviour.requests)


def test_cli_get_with_a_mirror(home, server, catalog, gguf_bytes) -> None:
    cmd = [sys.executable, "-m", "core", "--home", str(home.root), "models", "get", "tiny",
           "--mirror", server.url, "--catalog", str(catalog), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    info = json.loads(out.stdout[out.stdout.index("{"):])
    assert info["sha256"] == hashlib.sha256(gguf_bytes).hexdigest()
    bad = subprocess.run([*cmd[:-5], "--mirror", "ftp://x", "--catalog", str(catalog)],
                         capture_output=True, text=True, check=False, timeout=120)
    assert bad.returncode == 2 and "not an http(s) URL" in bad.stderr


def test_a_second_download_of_the_same_model_waits_its_turn(home, server, catalog) -> None:
    from core.errors import DataDirBusy

    server.behaviour.delay_s = 0.05
    first = DownloadJob(home, find_entry("tiny", catalog), mirror=server.url)
    started = threading.Event()
    first.on_progress(lambda p: started.set())
    outcome: list[BaseException] = []

    def run_first() -> None:
        try:
            first.execute()
        except JobCancelled as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run_first, daemon=True)
    thread.start()
    assert started.wait(60)
    with pytest.raises(DataDirBusy, match="already downloading tiny"):
        DownloadJob(home, find_entry("tiny", catalog), mirror=server.url).execute()
    first.cancel()
    thread.join(60)
    assert len(outcome) == 1  # the first one was cancelled, not disturbed by the second
