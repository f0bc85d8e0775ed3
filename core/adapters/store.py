"""The adapter store: one folder per adapter under ``<profile>/adapters/``.

    adapters/<id>/
      meta.json          base model SHA-256, hyper-parameters, documents (ids and
                         hashes, never their text), losses, date, staleness
      adapter.gguf       the GGUF LoRA llama.cpp hot-swaps
      peft/              adapter_config.json + adapter_model.safetensors

An adapter is built in a hidden staging folder, flushed to disk, and renamed
into place, so a crash, a kill, a power cut or a full disk never leaves a
half-written adapter in the list.  Replacing an adapter takes two renames (the old
one aside, the new one in); when the store opens, a dead process's staging folder
is removed and an old adapter it had set aside is put back if nothing replaced it.
Ids are content-addressed (a name plus a hash of data, settings and base), so
training the same data again finds the adapter it already has.

Forgetting a document and publishing an adapter exclude each other (the store's
lock): publishing checks the tombstones (:mod:`core.tombstones`) and files
an adapter trained on a document forgotten meanwhile as stale; forgetting marks
every adapter already published.  Whichever comes first, the adapter ends stale.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from core.adapters.gguf_export import write_gguf
from core.adapters.lora import LoraWeights, write_peft
from core.errors import DataDirBusy, InkwellError, saving
from core.fsutil import atomic_write_json, ensure_private_dir, fsync_dir, fsync_tree, read_json
from core.locks import hold
from core.models import ModelInfo
from core.paths import ProfilePaths
from core.tombstones import forgotten_among

META = "meta.json"
GGUF = "adapter.gguf"
PEFT_DIR = "peft"
# Written by a training job into its folder under <profile>/training/: which documents
# the unfinished job learns from, so forgetting one of them discards the job too.
TRAINING_SPEC = "spec.json"
# The worker's request in the same folder (written by ``core.adapters.job`` and the desktop
# before the worker starts): it holds the training examples' text, and it can exist
# without a spec.json when the worker never got as far as writing one.
TRAINING_REQUEST = "request.json"
# A running job holds this lock in its folder (``core.adapters.job``); forgetting leaves
# a locked folder to its job.
TRAINING_LOCK = ".lock"
# The store's own lock file in adapters/ (publishing, marking stale): empty, never an adapter.
STORE_LOCK = ".lock"
_STAGING = re.compile(r"^\.(staging|trash)-(.*)-(\d+)$")
LOCK_WAIT_S = 120.0  # publishing and forgetting hold the store's lock for seconds at most


@dataclass(frozen=True)
class AdapterRecord:
    id: str
    name: str
    model: str  # the base model's registry name when the adapter was made
    architecture: str
    base_sha256: str
    created: str  # ISO 8601, UTC
    source: str  # "trained:torch", "trained:mlx", "imported:peft", "imported:mlx"
    r: int
    alpha: float
    target_modules: tuple[str, ...]
    fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)  # the memory plan it was trained with
    n_train: int = 0
    n_val: int = 0
    steps: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_loss_base: float | None = None
    duration_s: float = 0.0
    doc_ids: tuple[str, ...] = ()
    doc_hashes: dict[str, str] = field(default_factory=dict)
    stale: bool = False
    stale_doc_ids: tuple[str, ...] = ()
    dir: Path = Path()

    @property
    def gguf_path(self) -> Path:
        return self.dir / GGUF

    @property
    def peft_dir(self) -> Path:
        return self.dir / PEFT_DIR

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["dir"] = str(self.dir)
        d["gguf_path"] = str(self.gguf_path)
        for key in ("target_modules", "doc_ids", "stale_doc_ids"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> AdapterRecord:
        known = {f for f in cls.__dataclass_fields__ if f != "dir"}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("target_modules", "doc_ids", "stale_doc_ids"):
            kwargs[key] = tuple(kwargs.get(key, ()))
        return cls(**kwargs, dir=folder)


def make_id(name: str, fingerprint: str) -> str:
    """A readable, content-addressed id: the name as a slug plus 8 hex digits."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "adapter"
    return f"{slug}-{fingerprint[:8]}"


def _pid_alive(pid: int) -> bool:
    # psutil rather than os.kill(pid, 0): on Windows that call terminates the process.
    return bool(psutil.pid_exists(pid))


class AdapterStore:
    """The adapters of one profile."""

    def __init__(self, profile: ProfilePaths) -> None:
        self.profile = profile
        self.root = ensure_private_dir(profile.adapters_dir)
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Clean up after processes killed mid-publish.

        A staging folder is removed.  An old adapter set aside (``.trash-``) goes back
        into place when its process died before the new one took it.
        """
        for entry in sorted(self.root.iterdir()):
            m = _STAGING.match(entry.name)
            if not m or _pid_alive(int(m.group(3))):
                continue
            target = self.root / m.group(2)
            if m.group(1) == "trash" and not target.exists():
                with contextlib.suppress(OSError):
                    os.rename(entry, target)
                    continue
            shutil.rmtree(entry, ignore_errors=True)

    def lock(self) -> contextlib.AbstractContextManager[bool]:
        """Held while publishing and while forgetting marks adapters stale (a few seconds)."""
        return hold(self.root / STORE_LOCK, wait_s=LOCK_WAIT_S,
                    busy=f"{self.root}: another Inkwell process is saving or forgetting "
                         "adapters; try again in a moment")

    # -- reading ------------------------------------------------------------------------------

    def _read(self, folder: Path) -> AdapterRecord | None:
        data = read_json(folder / META)
        if not isinstance(data, dict) or not (folder / GGUF).is_file():
            return None
        return AdapterRecord.from_json(data, folder)

    def list(self) -> list[AdapterRecord]:
        """Published adapters, oldest first; hidden (staging) folders are never listed."""
        records = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and not folder.name.startswith("."):
                record = self._read(folder)
                if record is not None:
                    records.append(record)
        return sorted(records, key=lambda r: (r.created, r.id))

    def find(self, adapter_id: str) -> AdapterRecord | None:
        if not adapter_id or adapter_id.startswith(".") or "/" in adapter_id:
            return None
        return self._read(self.root / adapter_id)

    def get(self, adapter_id: str) -> AdapterRecord:
        record = self.find(adapter_id)
        if record is None:
            known = ", ".join(r.id for r in self.list()) or "none yet"
            raise InkwellError(
                f"no adapter {adapter_id!r} in profile {self.profile.name!r} (adapters: {known})"
            )
        return record

    # -- writing ------------------------------------------------------------------------------

    def publish(
        self, record: AdapterRecord, weights: LoraWeights, model: ModelInfo
    ) -> AdapterRecord:
        """Write PEFT folder, GGUF and metadata into staging, then rename into the list.

        An adapter with the same id is replaced (same data and settings: same result).
        One trained on a document forgotten since is published stale.
        """
        target = self.root / record.id
        staging = self.root / f".staging-{record.id}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        record = replace(record, dir=target)
        try:
            with saving(
                target, "the adapter", "nothing was added. Free some space and run the same "
                "command again (training resumes from its checkpoint)",
            ):
                ensure_private_dir(staging)
                write_peft(weights, staging / PEFT_DIR, model.name)
                write_gguf(weights, model, staging / GGUF)
                with self.lock():
                    forgotten = forgotten_among(self.profile, record.doc_ids)
                    if forgotten:
                        record = replace(record, stale=True, stale_doc_ids=tuple(sorted(
                            forgotten | set(record.stale_doc_ids))))
                    meta = record.to_json()
                    for key in ("dir", "gguf_path"):
                        meta.pop(key)
                    atomic_write_json(staging / META, meta)
                    # On disk before any rename: a power cut after it must not find a renamed
                    # folder of empty files where the adapter (or the one it replaces) was.
                    fsync_tree(staging)
                    if target.exists():
                        trash = self.root / f".trash-{record.id}-{os.getpid()}"
                        os.rename(target, trash)
                        os.rename(staging, target)
                        fsync_dir(self.root)
                        shutil.rmtree(trash, ignore_errors=True)
                    else:
                        os.rename(staging, target)
                        fsync_dir(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return record

    def delete(self, adapter_id: str) -> None:
        record = self.get(adapter_id)
        trash = self.root / f".trash-{record.id}-{os.getpid()}"
        os.rename(record.dir, trash)  # out of the list at once, even if the removal is interrupted
        shutil.rmtree(trash, ignore_errors=True)

    def import_folder(
        self, folder: Path, model: ModelInfo, name: str | None = None
    ) -> AdapterRecord:
        """Import a PEFT or mlx-lm adapter folder as a new adapter for ``model``."""
        from core.adapters.importers import read_adapter_folder

        weights, kind, digest = read_adapter_folder(folder)
        record = AdapterRecord(
            id=make_id(name or folder.name, digest + model.sha256),
            name=name or folder.name,
            model=model.name,
            architecture=model.architecture,
            base_sha256=model.sha256,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            source=f"imported:{kind}",
            r=weights.r,
            alpha=weights.alpha,
            target_modules=tuple(weights.target_modules),
            fingerprint=digest,
            config={"imported_from": str(folder.resolve())},
        )
        return self.publish(record, weights, model)

    def mark_stale(self, doc_ids: Iterable[str]) -> builtins.list[str]:
        """Mark every adapter trained on any of ``doc_ids`` stale; return their ids.

        Unfinished training jobs on those documents are discarded as well: their
        folders hold the documents' text, which a forgotten document must not leave behind.
        """
        forgotten = set(doc_ids)
        marked = []
        with self.lock():
            for record in self.list():
                hit = forgotten.intersection(record.doc_ids)
                if hit:
                    stale_ids = tuple(sorted(set(record.stale_doc_ids) | hit))
                    meta = read_json(record.dir / META)
                    meta.update(stale=True, stale_doc_ids=list(stale_ids))
                    atomic_write_json(record.dir / META, meta)
                    marked.append(record.id)
        training = self.profile.training_dir
        if training.is_dir():
            for job_dir in training.iterdir():
                with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
                    if forgotten.intersection(_training_doc_ids(job_dir)):
                        _discard_unless_running(job_dir)
        return marked


def _discard_unless_running(job_dir: Path) -> None:
    """Remove an unfinished training's folder, unless its job is running: that job sees
    the tombstone at its next step, stops and removes the folder itself (removing it
    under a running job would only have it recreated)."""
    with contextlib.suppress(DataDirBusy), hold(job_dir / TRAINING_LOCK, busy="running", wait_s=0):
        shutil.rmtree(job_dir, ignore_errors=True)


def _training_doc_ids(job_dir: Path) -> set[str]:
    """The documents an unfinished training job learns from: its spec's, and its request's."""
    spec = read_json(job_dir / TRAINING_SPEC) or {}
    ids = set(spec.get("doc_ids", ()))
    request = read_json(job_dir / TRAINING_REQUEST) or {}
    ids.update(e.get("doc_id") for e in request.get("examples", ()) if isinstance(e, dict))
    return ids
