"""The data dir and profile the window works on, and the one ``Library`` it shares.

Panels, the writer and the jobs all use the same ``Library`` object so that one
process holds one handle on the profile's Chroma store and manifest, opened
only when first needed (opening Chroma costs a second or so).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.models import ModelInfo, ModelRegistry
from core.paths import Home, ProfilePaths
from core.runtime import ModelRuntime, get_runtime
from core.settings import AppSettings, ProfileSettings

if TYPE_CHECKING:
    from core.library import Library


@dataclass
class Session:
    home: Home
    profile: ProfilePaths
    # How a model is loaded to write with: llama.cpp's runtime; a test that is about the
    # window rather than the model passes a fake one (tests/fakes.py).
    load_model: Callable[[ModelInfo], ModelRuntime] = field(default=get_runtime, repr=False)
    _library: Library | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def library_is_open(self) -> bool:
        """Whether this session holds the library's stores (released by :meth:`close`)."""
        return self._library is not None

    def library(self) -> Library:
        """The profile's library, opened on first use (from any thread)."""
        with self._lock:
            if self._library is None:
                from core.library import Library

                self._library = Library(self.profile)
            return self._library

    def model(self) -> ModelInfo:
        """The writing model chosen in the settings."""
        return ModelRegistry(self.home).get(self.app_settings().model)

    def app_settings(self) -> AppSettings:
        return AppSettings.load(self.home)

    def profile_settings(self) -> ProfileSettings:
        return ProfileSettings.load(self.profile)

    def close(self) -> None:
        """Release the library's stores; called once every job has stopped."""
        with self._lock:
            if self._library is not None:
                self._library.close()
                self._library = None
