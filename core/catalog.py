"""The model catalog shipped with Inkwell, and the download the user starts from it.

``core/data/catalog.json`` lists instruction models people use (Qwen2.5/Qwen3,
Llama 3.2, Gemma 2, Phi-3.5, SmolLM2): for each the public GGUF file's URL, its size
and pinned SHA-256, licence, context length, the model's dimensions (from which the
memory needed to run it and to train an adapter on it are estimated,
``core.adapters.memory``) and a one-line "good for".

:class:`DownloadJob` fetches one entry in a separate process (``core.download``):
the only network use in Inkwell, started by the user, allowed to reach only the
catalog URL's host (and the hosts it is known to redirect to) or the user's
mirror.  The file is verified against the pinned hash before it is listed; every
download is recorded in ``logs/downloads.jsonl`` (what, when, from where) for the
Privacy panel.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.adapters.config import TrainConfig
from core.adapters.memory import (
    GB,
    MemoryPlan,
    ModelShape,
    available_memory,
    fits,
    plan_memory,
    running_memory,
)
from core.errors import DiskFull, InkwellError, JobCancelled, NetworkRefused
from core.jobs import Job
from core.locks import hold
from core.models import ModelInfo, ModelRegistry
from core.paths import Home
from core.runtime import DEFAULT_CONTEXT

CATALOG_FILE = Path(__file__).parent / "data" / "catalog.json"
# A model whose file is larger decodes below ~8 tokens/s on a laptop CPU (decoding reads
# the whole file once per token; ~20 GB/s of memory bandwidth).
SLOW_ON_CPU_BYTES = 2_500_000_000
DOWNLOAD_WORKER_FLAG = "--download-worker"  # a frozen app's executable runs core.download with it


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str
    architecture: str
    url: str
    size: int
    sha256: str
    sha256_source: str
    license: str
    context_length: int
    chat_template: bool
    good_for: str
    shape: ModelShape
    hosts: tuple[str, ...]  # what the download may reach: the URL's host and its redirects

    @property
    def file(self) -> str:
        return urlsplit(self.url).path.rsplit("/", 1)[-1]

    def source(self, mirror: str | None) -> tuple[str, tuple[str, ...]]:
        """The URL to fetch and the hosts it may reach; a mirror serves files by name."""
        if not mirror:
            return self.url, self.hosts
        parts = urlsplit(mirror)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InkwellError(
                f"mirror {mirror!r} is not an http(s) URL (e.g. https://models.example.org/gguf)"
            )
        return f"{mirror.rstrip('/')}/{self.file}", (parts.hostname,)

    def run_bytes(self) -> int:
        return running_memory(self.shape, self.size, min(DEFAULT_CONTEXT, self.context_length))

    def training_plan(self, available: int) -> MemoryPlan:
        """How training an adapter with the default settings would fit ``available`` bytes on
        the CPU in float32 (the catalog imports no torch to look for a GPU or bfloat16)."""
        return plan_memory(self.shape, TrainConfig(), device="cpu", available=available)


def load_catalog(path: Path | None = None) -> list[CatalogEntry]:
    """Read a catalog file (the shipped one by default); a bad file is named with the reason."""
    path = path or CATALOG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        hosts: dict[str, list[str]] = data.get("hosts", {})
        entries = []
        for m in data["models"]:
            host = urlsplit(m["url"]).hostname or ""
            entries.append(CatalogEntry(
                name=m["name"], title=m["title"], architecture=m["architecture"], url=m["url"],
                size=int(m["size"]), sha256=str(m["sha256"]).lower(),
                sha256_source=m.get("sha256_source", ""), license=m["license"],
                context_length=int(m["context_length"]), chat_template=bool(m["chat_template"]),
                good_for=m["good_for"], shape=ModelShape(**m["shape"]),
                hosts=tuple(hosts.get(host, [host])),
            ))
    except FileNotFoundError as exc:
        raise InkwellError(f"{path}: no such catalog file") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InkwellError(f"{path}: not a valid model catalog ({exc!r})") from exc
    for e in entries:
        if len(e.sha256) != 64 or any(c not in "0123456789abcdef" for c in e.sha256):
            raise InkwellError(f"{path}: model {e.name!r} has no valid pinned SHA-256")
    return entries


def find_entry(name: str, path: Path | None = None) -> CatalogEntry:
    entries = load_catalog(path)
    for e in entries:
        if e.name == name:
            return e
    raise InkwellError(
        f"{name!r} is not in the model catalog; choose one of: {', '.join(e.name for e in entries)}"
    )


def capability(entry: CatalogEntry, available: int) -> dict[str, Any]:
    """What this machine can do with ``entry``: run it (or slowly), train an adapter on it
    (with the memory plan's choices: gradient checkpointing, fewer examples per pass…)."""
    run, train = entry.run_bytes(), entry.training_plan(available)
    if not fits(run, available):
        runs = "does not fit in memory"
    elif entry.size > SLOW_ON_CPU_BYTES:
        runs = "runs slowly"
    else:
        runs = "runs"
    return {
        "ram_run_gb": round(run / GB, 1),
        "ram_train_gb": round(train.needed / GB, 1),
        "runs": runs,
        "training_fits": train.fits,
        "training_plan": train.describe(),
    }


def catalog_rows(home: Home, path: Path | None = None) -> list[dict[str, Any]]:
    """The catalog next to the installed models, with what this machine can do with each."""
    installed = {m.name: m for m in ModelRegistry(home).list()}
    available = available_memory()
    rows = []
    for e in load_catalog(path):
        model = installed.get(e.name)
        rows.append({
            "name": e.name, "title": e.title, "architecture": e.architecture,
            "size": e.size, "sha256": e.sha256, "sha256_source": e.sha256_source, "url": e.url,
            "license": e.license, "context_length": e.context_length,
            "chat_template": e.chat_template, "good_for": e.good_for,
            **capability(e, available),
            "installed": model is not None,
            "path": str(model.path) if model else None,
        })
    return rows


def downloads_log(home: Home) -> Path:
    return home.logs_dir / "downloads.jsonl"


def read_downloads(home: Home) -> list[dict[str, Any]]:
    """Every download Inkwell made: what, when, from where, and how it ended."""
    try:
        lines = downloads_log(home).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records = []
    for line in lines:
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records


def _read_lines(stream: Any, lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def download_command(request: Path) -> list[str]:
    """The download process's command line: ``python -P -m core.download`` from source; a
    frozen (PyInstaller) app has no ``python``, so it runs its own executable with
    :data:`DOWNLOAD_WORKER_FLAG`, which the app's entry point hands to ``core.download``."""
    if getattr(sys, "frozen", False):
        program = [sys.executable, DOWNLOAD_WORKER_FLAG]
    else:
        program = [sys.executable, "-P", "-m", "core.download"]
    return [*program, "--request", str(request)]


class DownloadJob(Job[ModelInfo]):
    """Download one catalog entry in the download process, verify it, list it."""

    title = "download"

    def __init__(
        self, home: Home, entry: CatalogEntry, mirror: str | None = None
    ) -> None:
        super().__init__()
        self.home = home
        self.entry = entry
        self.url, self.hosts = entry.source(mirror)
        self.target = home.models_dir / "downloads" / entry.file

    def _record(self, outcome: str) -> None:
        record = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": self.entry.name,
            "file": self.entry.file, "url": self.url, "outcome": outcome,
        }
        self.home.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(downloads_log(self.home), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def run(self) -> ModelInfo:
        # One download of a file at a time: two would append to the same part file.
        lock = self.target.with_name(self.target.name + ".lock")
        with hold(lock, busy=f"another Inkwell process is already downloading {self.entry.name}"):
            return self._download()

    def _download(self) -> ModelInfo:
        if self.target.exists():
            return self._register()
        request = {
            "url": self.url, "target": str(self.target), "size": self.entry.size,
            "sha256": self.entry.sha256, "allow_hosts": list(self.hosts),
        }
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".download-", suffix=".json", dir=self.target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(request, fh)
        self._record("started")
        result: dict[str, Any] = {}
        proc = subprocess.Popen(
            download_command(Path(name)), stdout=subprocess.PIPE, text=True,
            start_new_session=True,  # a Ctrl-C reaches this process, which ends the child
        )
        try:
            assert proc.stdout is not None
            lines: queue.Queue[str | None] = queue.Queue()
            threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
            while (line := self._next_line(proc, lines)) is not None:
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("event") == "progress":
                        self.report(event["done"], event["total"], self.entry.name)
                    else:
                        result = event
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C): the part file stays for a resume
                proc.terminate()
            proc.wait()
            Path(name).unlink(missing_ok=True)
        if result.get("event") != "done" and self.cancel_token.cancelled:
            self._record("cancelled")
            raise JobCancelled()
        if result.get("event") != "done":
            message = result.get("message") or f"the download process exited with {proc.returncode}"
            self._record(f"failed: {result.get('kind', 'error')}")
            kind = result.get("kind")
            if kind == "disk_full":
                raise DiskFull(message)
            if kind == "refused":
                raise NetworkRefused(message)
            raise InkwellError(message)
        self._record("verified")
        return self._register()

    def _next_line(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> str | None:
        """The process's next line; a cancel ends the process (its part file is kept)."""
        while True:
            if self.cancel_token.cancelled and proc.poll() is None:
                proc.terminate()
            try:
                return lines.get(timeout=0.2)
            except queue.Empty:
                continue

    def _register(self) -> ModelInfo:
        registry = ModelRegistry(self.home)
        return registry.add(
            self.target, name=self.entry.name, description=self.entry.good_for, source="downloaded"
        )
