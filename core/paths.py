"""Where Inkwell keeps things.

All user data lives under one data directory (platformdirs' user data dir,
``$INKWELL_HOME``, or ``--home``), readable only by the user.  The directory
holds shared, non-personal things (models, caches of dequantized base models)
and one folder per *profile* ("voice"): a person writes differently at work and
at home, so each profile has its own library, adapters and evaluation results.

    <home>/
      settings.json            app-wide settings (model, generation, theme)
      models/                  registry of added GGUF files (referenced in place)
      cache/                   derived, re-creatable, non-personal data: the assembled
                               bundled GGUF, dequantized training bases, the ONNX embedder
                               ($INKWELL_CACHE_DIR moves it, e.g. to share it between tests)
      logs/                    network-guard log; never document text
      profiles/<name>/
        library/               Chroma store, manifest, BM25 index
        adapters/              one folder per trained or imported adapter
        eval/                  evaluation runs; advice.json (scores only) and advice/
                               (the advice's evaluation of the user's own writing)
        training/              in-progress training jobs (checkpoints)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.errors import InkwellError
from core.fsutil import ensure_private_dir, repair_private_permissions

APP_NAME = "Inkwell"
DEFAULT_PROFILE = "default"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def default_home() -> Path:
    env = os.environ.get("INKWELL_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def validate_profile_name(name: str) -> str:
    if not _PROFILE_NAME.match(name) or name in {".", ".."}:
        raise InkwellError(
            f"invalid profile name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Home:
    """The data directory, with the location of every store in it."""

    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        return cls(Path(home).expanduser().resolve() if home else default_home().resolve())

    def ensure(self) -> Home:
        for d in (self.root, self.models_dir, self.cache_dir, self.logs_dir, self.profiles_dir):
            ensure_private_dir(d)
        return self

    def open(self) -> Home:
        """Start-up of every entry point (``inkwell``, ``inkwell-desktop``): a private data dir.

        * the process umask becomes 077, so every file and folder created from now on
          is private — including those written by libraries that do not ask for a
          mode (Chroma's SQLite and HNSW segments, bm25s, torch checkpoints) and by
          child processes (the training worker inherits it);
        * everything already under the data dir that others could read (a backup
          restored with other modes, files of an older version) is repaired to
          0700/0600.

        Only the data dir is repaired: a ``$INKWELL_CACHE_DIR`` outside it (the test
        suite shares one) holds derived, non-personal files and is another
        owner's folder, so it is left as it is; new files in it are still private.
        """
        if os.name == "posix":
            os.umask(0o077)
        self.ensure()
        repair_private_permissions(self.root)
        return self

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def cache_dir(self) -> Path:
        env = os.environ.get("INKWELL_CACHE_DIR")
        return Path(env).expanduser().resolve() if env else self.root / "cache"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    def profile(self, name: str = DEFAULT_PROFILE) -> ProfilePaths:
        return ProfilePaths(self, validate_profile_name(name))

    def profile_names(self) -> list[str]:
        if not self.profiles_dir.is_dir():
            return []
        return sorted(p.name for p in self.profiles_dir.iterdir() if p.is_dir())


@dataclass(frozen=True)
class ProfilePaths:
    """The folders of one profile (one voice)."""

    home: Home
    name: str

    @property
    def root(self) -> Path:
        return self.home.profiles_dir / self.name

    @property
    def library_dir(self) -> Path:
        return self.root / "library"

    @property
    def manifest_file(self) -> Path:
        """The library's manifest: documents, and the tombstones of forgotten ones."""
        return self.library_dir / "manifest.sqlite3"

    @property
    def adapters_dir(self) -> Path:
        return self.root / "adapters"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def training_dir(self) -> Path:
        return self.root / "training"

    @property
    def advice_dir(self) -> Path:
        """``inkwell advise``'s evaluation of the user's own writing (held-out text, answers)."""
        return self.eval_dir / "advice"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    def ensure(self) -> ProfilePaths:
        self.home.ensure()
        for d in (self.root, self.library_dir, self.adapters_dir, self.eval_dir, self.training_dir):
            ensure_private_dir(d)
        return self
