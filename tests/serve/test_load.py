"""A small bounded load (the benchmark's driver, fewer requests): nothing hangs or fails."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes import FakeModel
from tests.serve.load import run_load

MODEL = "smollm2-135m-instruct"


@pytest.fixture
def tight_server(serve_home):
    """Room for one waiting request: six clients are bound to meet a 429.

    The model is the project's fake (what is tested is the server's bookkeeping under
    load; ``benchmarks/serve_load.py`` runs the same load on SmolLM2 and reads the RSS).
    """
    from core.serve.app import Service
    from core.serve.server import InkwellServer

    model = FakeModel(seconds_per_token=0.02)
    server = InkwellServer(Service(serve_home, serve_home.profile("default"), max_waiting=1,
                                   runtime_for=lambda _model: model), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_every_request_is_answered_refused_or_cleanly_cancelled(tight_server) -> None:
    server = tight_server
    report = run_load(server.urls[0], server.token, MODEL + "+rag", requests=20, clients=6,
                      max_tokens=8, seed=1, retries=0)
    assert report["errors"] == []
    outcomes = report["outcomes"]
    assert set(outcomes) <= {"answered", "busy", "cancelled"}
    assert outcomes.get("answered", 0) >= 1 and outcomes.get("busy", 0) >= 1
    assert all("busy" in m for m in report["busy_messages"])
    stats = server.service.stats
    # What the clients saw (no retries) is what the server did: no request lost or run twice.
    assert stats["busy"] == outcomes["busy"]
    assert stats["answered"] + stats["cancelled"] == outcomes["answered"] + outcomes.get(
        "cancelled", 0)
    assert stats["failed"] == stats["refused"] == 0
    # The gate is free and the server still answers.
    assert server.service.gate(MODEL)._admitted == 0
    answer = httpx.post(server.urls[0] + "/chat/completions", timeout=60,
                        headers={"Authorization": f"Bearer {server.token}"},
                        json={"model": MODEL, "max_tokens": 4,
                              "messages": [{"role": "user", "content": "hello"}]})
    assert answer.status_code == 200
