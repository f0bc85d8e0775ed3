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
      serve-token              ``inkwell serve``'s API token
      .inkwell-data-dir        the marker: this folder is Inkwell's
      app.lock                 held by every running Inkwell process (shared)

The marker keeps Inkwell from taking over a folder that is not its own: ``--home``
or ``$INKWELL_HOME`` pointed at an existing folder (a home directory, Documents)
would otherwise have every file below it made private at each start, and "Delete
everything" remove all of it.  A folder without the marker is adopted only when it
is empty or holds nothing but Inkwell's own entries (a data dir of a version
before the marker).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.errors import InkwellError
from core.fsutil import ensure_private_dir, repair_private_permissions
from core.locks import share_app_lock

APP_NAME = "Inkwell"
DEFAULT_PROFILE = "default"
MARKER = ".inkwell-data-dir"
APP_LOCK = "app.lock"
# Everything Inkwell itself creates at the top of its data dir (journal and temporary
# files of these come and go beside them).
OWN_ENTRIES = frozenset({"settings.json", "models", "cache", "logs", "profiles", "serve-token",
                         MARKER, APP_LOCK})
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def is_own_entry(name: str) -> bool:
    """An entry Inkwell makes at the top of its data dir (or a journal/temp file of one)."""
    if name in OWN_ENTRIES:
        return True
    base = name.lstrip(".").split(".tmp")[0]  # ".settings.json.x1y2.tmp": an atomic write
    return any(base == own or base.startswith(own + ".") or base.startswith(own + "-")
               for own in OWN_ENTRIES)


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
        self.adopt()
        self.ensure()
        self.hold_app_lock()
        repair_private_permissions(self.root)
        return self

    def adopt(self) -> None:
        """Mark the data dir as Inkwell's; refuse a folder that holds anything else."""
        marker = self.root / MARKER
        if marker.exists():
            return
        foreign = sorted(self.foreign_entries())
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                               else "")
            raise InkwellError(
                f"{self.root} is not an Inkwell data folder: it holds {shown}, which Inkwell "
                "did not create. Inkwell keeps its data in a folder of its own (it makes "
                "everything in it private, and 'Delete everything' removes it): give --home "
                "or INKWELL_HOME a new or empty folder"
            )
        ensure_private_dir(self.root)
        marker.touch(mode=0o600)

    def foreign_entries(self) -> list[str]:
        """Names at the top of the data dir that Inkwell did not create."""
        if not self.root.is_dir():
            return []
        return [name for name in os.listdir(self.root) if not is_own_entry(name)]

    def hold_app_lock(self) -> None:
        """Hold the data dir's app lock shared for this process's lifetime (``core.locks``)."""
        share_app_lock(self.root / APP_LOCK, busy=f"{self.root}: Inkwell is deleting this "
                       "data folder right now ('Delete everything')")

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
