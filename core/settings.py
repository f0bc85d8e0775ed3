"""Settings: app-wide (model, generation, theme) and per profile (retriever, adapter, method).

Stored as small JSON files written atomically; unknown keys from a newer
version are kept, missing keys take the defaults below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from core.fsutil import atomic_write_json, read_json
from core.paths import Home, ProfilePaths

T = TypeVar("T", bound="_JsonSettings")


class _JsonSettings:
    @classmethod
    def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class AppSettings(_JsonSettings):
    model: str | None = None  # None: the default bundled model
    max_tokens: int = 128
    temperature: float = 0.0
    # The Write panel evaluates the prompt while the user types, so that Write answers at
    # once (core.writer.Writer.prefill); off spares a laptop's battery the work.
    prefill: bool = True
    theme: str = "system"  # "system", "light" or "dark"
    # `inkwell serve` / Settings -> "Let my editor use Inkwell" (off until the user turns it on)
    serve_enabled: bool = False
    serve_port: int = 8477
    model_mirror: str | None = None  # a server of the catalog's files by name (inkwell models get)

    @classmethod
    def load(cls, home: Home) -> AppSettings:
        return cls._from_dict(read_json(home.settings_file, default={}) or {})

    def save(self, home: Home) -> None:
        data = read_json(home.settings_file, default={}) or {}
        data.update(asdict(self))
        atomic_write_json(home.settings_file, data)


@dataclass
class ProfileSettings(_JsonSettings):
    retriever: str = "bm25"
    k: int = 3
    active_adapter: str | None = None
    recommended_method: str | None = None

    @classmethod
    def load(cls, profile: ProfilePaths) -> ProfileSettings:
        return cls._from_dict(read_json(profile.settings_file, default={}) or {})

    def save(self, profile: ProfilePaths) -> None:
        profile.ensure()
        data = read_json(profile.settings_file, default={}) or {}
        data.update(asdict(self))
        atomic_write_json(profile.settings_file, data)
