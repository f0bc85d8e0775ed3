"""A served data dir: a small library, an active adapter, and ``inkwell serve`` on loopback.

The server runs on a thread of the test process (``InkwellServer.start``), on a
free port of 127.0.0.1, with real llama.cpp and the bundled SmolLM2.  The
adapter is a random LoRA written as a GGUF (``tests/gguf_fixtures.py``), filed
in the profile's adapter store as a trained one would be: what is tested is
that the server hot-swaps it in, not what it learned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

DOCS = {
    "harbour.md": "# Harbour walk\n\nI walk the breakwater every Sunday and count the gulls. "
    "The harbour smells of diesel and rope.",
    "ferry.txt": "Ferry timetable\n\nFrom April the early ferry leaves at six and calls twice "
    "at the harbour.",
    "garden.txt": "Garden log\n\nThe tomatoes split after the storm; the beans are climbing.",
}


@pytest.fixture(scope="session")
def serve_home(tmp_path_factory: pytest.TempPathFactory, smollm2):
    """A data dir whose default profile has a library and an active SmolLM2 adapter."""
    from core.adapters.store import GGUF, META, AdapterStore
    from core.fsutil import atomic_write_json, ensure_private_dir
    from core.library import Library
    from core.paths import Home
    from core.settings import ProfileSettings
    from tests.gguf_fixtures import write_random_lora

    home = Home.resolve(tmp_path_factory.mktemp("serve-home")).open()
    profile = home.profile("default").ensure()
    corpus = tmp_path_factory.mktemp("serve-corpus")
    for name, text in DOCS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    library = Library(profile)
    library.add_job([corpus]).execute()
    library.close()

    folder = ensure_private_dir(AdapterStore(profile).root / "served-00000000")
    write_random_lora(smollm2, folder / GGUF)
    atomic_write_json(folder / META, {
        "id": "served-00000000", "name": "served", "model": smollm2.name,
        "architecture": smollm2.architecture, "base_sha256": smollm2.sha256,
        "created": "2026-01-01T00:00:00Z", "source": "trained:torch", "r": 4, "alpha": 8.0,
        "target_modules": ["q_proj", "o_proj"], "fingerprint": "0" * 64,
    })
    settings = ProfileSettings.load(profile)
    settings.active_adapter = "served-00000000"
    settings.save(profile)
    return home


@pytest.fixture(scope="session")
def server(serve_home) -> Iterator:
    from core.serve.app import Service
    from core.serve.server import InkwellServer

    server = InkwellServer(Service(serve_home, serve_home.profile("default")), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.urls[0], api_key=server.token, max_retries=0, timeout=120)


def wait_for(condition, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)

