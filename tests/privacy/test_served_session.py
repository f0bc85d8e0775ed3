"""Zero egress of a served session: ``inkwell serve`` answering an editor's client.

The server listens; it must never connect anywhere.  The whole process tree —
the driver playing the editor (the official ``openai`` client), ``inkwell
serve`` and every child — runs under ``strace -f`` inside ``unshare -rn``, a
network namespace whose only device is loopback (``tests/privacy/serve_driver.py``
brings it up: editor and server talk over it).  Every request must be answered
there, and the trace must show no connect or send to any address but loopback
and local sockets (``tests.privacy.pipeline.Syscall.local``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.privacy.pipeline import (
    SESSION_TIMEOUT_S,
    Inkwell,
    Tracer,
    egress_summary,
    namespaces_usable,
    need_os_proof,
    strace_usable,
    unshare_wrap,
)

NOTES = {
    "harbour.md": "# Harbour walk\n\nThe harbour in the morning smells of diesel and rope; "
    "I count the gulls on the breakwater.",
    "ferry.txt": "Ferry notes\n\nThe early ferry leaves the harbour at six in the morning.",
}


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_served_session_works_offline_and_makes_no_non_local_connection(tmp_path: Path) -> None:
    need_os_proof(strace_usable())
    need_os_proof(namespaces_usable())
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in NOTES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    tracer = Tracer(tmp_path / "trace")
    ink = Inkwell(tmp_path / "home", wrap=lambda name, cmd: unshare_wrap(name, tracer(name, cmd)))
    ink("library add", "library", "add", str(corpus), "--json")
    step = ink.run_module("serve", "tests.privacy.serve_driver", "--home", str(ink.home),
                          "--loopback-up")
    report = json.loads(step.stdout.splitlines()[-1])

    assert "smollm2-135m-instruct+rag" in report["models"]
    for key in ("chat", "chat+rag", "stream", "stream+rag", "completion"):
        assert report[key].strip(), key
    assert report["sources+rag"] > 0 and report["sources"] == 0
    assert report["titles"] and all(t.strip() for t in report["titles"])
    assert report["server_exit"] == 0

    summary = egress_summary(tracer.calls())
    assert summary["non_local"] == 0, f"non-local network calls: {summary['non_local_calls']}"
    assert len(tracer.logs) == len(ink.steps) == 2
