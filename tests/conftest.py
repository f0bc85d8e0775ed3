"""Shared fixtures.

The network guard is installed before any test runs, so the whole suite runs
under the same offline rule as the app.  Every test gets its own data dir;
derived, non-personal caches (the assembled Gemma GGUF, dequantized training
bases, the ONNX embedder) are shared through ``INKWELL_CACHE_DIR`` so they are
built once per machine rather than once per test.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.privacy import install_network_guard
from tests.hang_guard import pytest_sessionfinish, pytest_unconfigure  # noqa: F401  (hooks)

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

os.environ.setdefault("INKWELL_CACHE_DIR", str(REPO / ".test-cache"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The suite starts Python children of its own (``python -c`` stand-ins for entry points)
# and the tools that watch Inkwell from outside; Inkwell's processes allow none of these.
install_network_guard(allow_programs=[sys.executable, "git", "strace", "unshare", "setpriv",
                                      "mount", "umount", "sh"])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from core.paths import Home

    root = tmp_path / "inkwell-home"
    monkeypatch.setenv("INKWELL_HOME", str(root))
    return Home.resolve(root).ensure()


@pytest.fixture
def profile(home):
    return home.profile("default").ensure()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory):
    from core.models import ModelRegistry
    from core.paths import Home

    return ModelRegistry(Home.resolve(tmp_path_factory.mktemp("registry-home")))


@pytest.fixture(scope="session")
def smollm2(registry):
    from core.models import SMOLLM2

    return registry.get(SMOLLM2)


@pytest.fixture(scope="session")
def gemma(registry):
    from core.models import GEMMA

    return registry.get(GEMMA)


@pytest.fixture
def sample_data() -> Path:
    """Folder with the real-data LaMP fixtures (proposal_title/, commit_subject/)."""
    return DATA
