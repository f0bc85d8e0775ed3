"""The shipped catalog: pinned hashes, sizes, memory figures, and what this machine can do."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.catalog import capability, catalog_rows, load_catalog
from core.errors import InkwellError


def test_shipped_catalog_pins_every_file() -> None:
    entries = load_catalog()
    assert len(entries) >= 6
    families = {e.architecture for e in entries}
    assert {"llama", "qwen2", "qwen3", "gemma2", "phi3"} <= families
    for e in entries:
        assert e.url.startswith("https://huggingface.co/") and e.file.endswith(".gguf")
        assert len(e.sha256) == 64 and e.size > 500_000_000
        assert "huggingface.co" in e.hosts
        # A bigger model needs more memory to run and to train; training needs more than running.
        assert e.size < e.run_bytes() < e.training_plan(10**12).needed


def test_what_this_machine_can_do_follows_memory() -> None:
    big = max(load_catalog(), key=lambda e: e.shape.n_params)
    assert capability(big, available=1_000_000_000)["runs"] == "does not fit in memory"
    roomy = capability(big, available=10**12)
    assert roomy["training_fits"] and roomy["runs"] in ("runs", "runs slowly")
    assert "checkpointing" not in roomy["training_plan"]
    assert not capability(big, available=int(big.run_bytes() * 1.5))["training_fits"]
    # In between, training fits by the memory plan's choices, and says so.
    as_requested = big.training_plan(10**12).needed
    tight = capability(big, available=int(as_requested / 0.85) - 1)  # just too little
    assert tight["training_fits"] and "gradient checkpointing" in tight["training_plan"]
    assert tight["ram_train_gb"] < as_requested / 1e9


def test_catalog_rows_mark_installed_models(home, catalog, gguf_bytes, tmp_path) -> None:
    from core.models import ModelRegistry

    rows = catalog_rows(home, catalog)
    assert [r["installed"] for r in rows] == [False]
    own = tmp_path / "tiny.gguf"
    own.write_bytes(gguf_bytes)
    ModelRegistry(home).add(own, name="tiny")
    assert catalog_rows(home, catalog)[0]["installed"]


def test_cli_catalog_json_lists_models_with_hash_size_and_ram(home) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "core", "--home", str(home.root), "models", "catalog", "--json"],
        capture_output=True, text=True, check=True, timeout=120
    ).stdout
    rows = json.loads(out)
    assert len(rows) >= 6
    for r in rows:
        assert len(r["sha256"]) == 64 and r["size"] > 0
        assert r["ram_run_gb"] > 0 and r["ram_train_gb"] > r["ram_run_gb"]
        assert r["runs"] in ("runs", "runs slowly", "does not fit in memory")
        assert isinstance(r["training_fits"], bool) and r["installed"] is False


def test_a_bad_catalog_file_is_named_with_the_reason(tmp_path) -> None:
    bad = tmp_path / "catalog.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InkwellError, match=r"catalog\.json: not a valid model catalog"):
        load_catalog(bad)
    bad.write_text(json.dumps({"models": [{"name": "x"}]}), encoding="utf-8")
    with pytest.raises(InkwellError, match="not a valid model catalog"):
        load_catalog(bad)
