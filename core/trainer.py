"""The adapter trainer as an optional part: whether it is installed, and what installing it takes.

Everything but training (indexing, retrieval, writing with or without an adapter, the
evaluation of ``none`` and ``rag``) runs without PyTorch.  Training needs PyTorch and peft
(the ``train`` extra).  PyPI carries only PyTorch's CUDA build for Linux x86-64, which pulls
the NVIDIA libraries with it, so the set-up (``./inkwell-setup``) installs the trainer by
default only where that build is of use (an NVIDIA GPU) or small (macOS); elsewhere the
user is told what it costs before anything is installed.  The figures are measured
(packaging/README.md, "Download size and disk use").

``python -m core.trainer`` prints that notice: the set-up shows it before it installs the
trainer on a machine without an NVIDIA GPU.
"""

from __future__ import annotations

import importlib.util
import sys

from core.errors import InkwellError

PACKAGES = ("torch", "peft")
# PyPI's torch 2.13.0 for Linux x86-64 and the NVIDIA wheels it requires, plus peft and
# accelerate: measured, see packaging/README.md.
LINUX_DOWNLOAD = "2.7 GB"
LINUX_DISK = "4.8 GB"  # its wheels unpacked


class TrainerMissing(InkwellError):
    """Training was asked for, and PyTorch or peft is not installed."""


def missing() -> list[str]:
    """The trainer's packages that are not installed (empty when training can run)."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def install_notice() -> str:
    """What installing the trainer brings and costs, and the command that does it."""
    size = ""
    if sys.platform.startswith("linux"):
        size = (f" On Linux, PyPI has only PyTorch's CUDA build, which brings NVIDIA's "
                f"libraries with it: about {LINUX_DOWNLOAD} to download and {LINUX_DISK} of "
                "disk, even on a machine without an NVIDIA GPU.")
    return ("Training an adapter needs Inkwell's trainer: PyTorch and peft (the `train` "
            f"extra).{size} To install it, run `./inkwell-setup trainer` in Inkwell's folder "
            "(or `pip install 'inkwell[train]'`); everything else works without it.")


def require() -> None:
    """Raise :class:`TrainerMissing`, saying what to install, unless training can run."""
    if absent := missing():
        raise TrainerMissing(f"not installed: {', '.join(absent)}. {install_notice()}")


if __name__ == "__main__":
    print(f"inkwell-setup: {install_notice()}")
