"""What is installed, where every piece of data lives, and the network guard's state.

Shown by ``inkwell doctor`` and by the desktop's Privacy panel.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from typing import Any

from core import __version__
from core.errors import InkwellError
from core.fsutil import tree_size
from core.models import ModelRegistry
from core.paths import Home, ProfilePaths
from core.privacy import guard_installed, read_refusal_log
from core.settings import AppSettings

_PACKAGES = (
    "llama-cpp-python",
    "chromadb",
    "torch",
    "transformers",
    "peft",
    "gguf",
    "PySide6-Essentials",
    "platformdirs",
    "mlx",
    "mlx-lm",
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _accelerators() -> dict[str, Any]:
    out: dict[str, Any] = {"cuda": False, "mlx": False}
    if importlib.util.find_spec("torch") is not None:
        import torch

        out["cuda"] = bool(torch.cuda.is_available())
        if out["cuda"]:
            out["cuda_device"] = torch.cuda.get_device_name(0)
    if importlib.util.find_spec("mlx") is not None:
        try:
            import mlx.core as mx

            out["mlx"] = True
            out["mlx_device"] = str(mx.default_device())
        except (ImportError, OSError) as exc:  # a wheel for another platform
            out["mlx_error"] = str(exc)
    return out


def collect(home: Home, profile: ProfilePaths) -> dict[str, Any]:
    """Everything ``doctor`` reports, as data (the GUI's Privacy panel shows part of it)."""
    try:
        active: Any = ModelRegistry(home).get(AppSettings.load(home).model).to_json()
    except InkwellError as exc:
        active = {"error": str(exc)}
    return {
        "inkwell": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "paths": {
            "home": str(home.root),
            "profile": str(profile.root),
            "cache": str(home.cache_dir),
            "logs": str(home.logs_dir),
        },
        "profiles": home.profile_names(),
        "storage": data_locations(home, profile),
        "active_model": active,
        "network_guard": {
            "installed": guard_installed(),
            "refused_attempts": read_refusal_log(home.logs_dir / "network-guard.log"),
        },
        "accelerators": _accelerators(),
    }


def data_locations(home: Home, profile: ProfilePaths) -> list[dict[str, Any]]:
    """Every place Inkwell keeps data, with its size: what the Privacy panel lists."""
    places = [
        ("Settings", home.settings_file),
        ("Models you added (registry)", home.models_dir),
        ("Derived caches (assembled model, training bases, embedder)", home.cache_dir),
        ("Logs (network guard; never document text)", home.logs_dir),
        (f"Library of profile '{profile.name}'", profile.library_dir),
        (f"Adapters of profile '{profile.name}'", profile.adapters_dir),
        (f"Training in progress of profile '{profile.name}'", profile.training_dir),
        (f"Evaluation results of profile '{profile.name}'", profile.eval_dir),
    ]
    return [{"what": what, "path": str(path), "bytes": tree_size(path)} for what, path in places]
