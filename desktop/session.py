"""The data dir and profile the window works on, and the one ``Library`` it shares.

Panels, the writer and the jobs all use the same ``Library`` object so that one
process holds one handle on the profile's Chroma store and manifest, opened
only when first needed (opening Chroma costs a second or so).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.paths import Home, ProfilePaths
from core.settings import AppSettings, ProfileSettings

if TYPE_CHECKING:
    from core.library import Library


@dataclass
class Session:
    home: Home
    profile: ProfilePaths
    _library: Library | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def library(self) -> Library:
        """The profile's library, opened on first use (from any thread)."""
        with self._lock:
            if self._library is None:
                from core.library import Library

                self._library = Library(self.profile)
            return self._library

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
