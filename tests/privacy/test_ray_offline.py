"""``inkwell eval --ray`` (a local Ray) works with the network unplugged.

The driver, Ray's own processes and every worker run inside ``unshare -rn``: a
network namespace with loopback only.  A local Ray is a single node on loopback
(``core.evaluation.distributed``), so the run must finish there and score every
user, exactly as the plain run does offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.privacy.pipeline import (
    SESSION_TIMEOUT_S,
    Inkwell,
    namespaces_usable,
    need_os_proof,
    unshare_wrap,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "commit_subject"


@pytest.mark.slow
@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_eval_on_a_local_ray_works_offline(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is the optional 'cluster' extra")
    need_os_proof(namespaces_usable())
    ink = Inkwell(tmp_path / "home", wrap=unshare_wrap)
    out = tmp_path / "out"
    step = ink.run_module("eval --ray", "tests.privacy.ray_driver", str(ink.home), str(out),
                          str(DATA))  # fmt: skip
    summary = json.loads(step.stdout)
    assert summary["queries"] == 2 and len(summary["users"]) == 2
    assert all(summary["systems"][m]["rouge-L"] >= 0 for m in ("none", "rag"))
    assert len(list((out / "users").glob("*.json"))) == 2
