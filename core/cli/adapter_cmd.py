"""``inkwell adapter``: not implemented yet (placeholder so the CLI assembles)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Placeholder: registers nothing."""
