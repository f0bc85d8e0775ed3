"""Zero egress, proven from outside Inkwell's processes.

``tests/test_privacy.py`` tests the network guard *inside* Python; a library's
native code (llama.cpp, onnxruntime, Chroma's Rust core, Qt) could open a socket
without Python ever seeing it.  These tests therefore watch from the operating
system, over a whole session of the real entry points in fresh processes:

* under ``strace -f`` every ``connect``/``sendto``/``sendmsg``/``sendmmsg`` of
  every process and child (the training worker included) is logged and each
  address classified (``tests.privacy.pipeline.Syscall.local``): loopback,
  UNIX sockets, netlink (the local kernel) and AF_UNSPEC (a disconnect) are
  local; any other address fails the test, as does any ``io_uring_setup`` (a
  connect through io_uring would not appear as a system call);
* inside ``unshare -rn`` — a network namespace with no interface but a downed
  loopback — every step must still succeed: nothing Inkwell does needs a network.

The CLI session is every step a user takes: ``library add`` on a folder of
.txt/.md/.html/.eml/.docx/.pdf, ``adapter train --steps 2``, ``write`` with each
of none / rag / peft / rag+peft, ``eval`` on two sample users (one query each,
2-step adapters), ``library forget``.  The desktop session starts
``inkwell-desktop`` offscreen (``tests/privacy/desktop_driver.py``), adds the
folder, writes one answer with RAG through the Write panel and forgets a file
with the Library panel's Forget button.

Timing: the evaluation step alone costs several CPU-minutes (it trains an
adapter per user in-process and runs the four methods for each), which puts the
complete CLI session well over the 2-3 minutes a default test may take on the
2-core build machine.  So the default run takes the CLI session without the
evaluation — the same libraries and native code (the training worker, llama.cpp,
onnxruntime, Chroma) in the same entry point — and proves both claims with that one
session: it runs inside an empty network namespace *and* under strace, so every step
must work with no network and no process may even attempt a non-local connection (an
attempt shows in the trace whether or not it could succeed).  Both complete variants,
with the evaluation, are ``slow``; the traced one runs with the machine's network up.
The desktop session (about 10 CPU-seconds) runs both ways by default.  The traced
sessions run with every proxy variable (``http_proxy``, ``HTTPS_PROXY``, ``ALL_PROXY``…)
pointing at a recording proxy on loopback: it must be handed nothing, and no process may
attempt any IP address at all, loopback included.  A variant is
skipped only when its tool is missing or not permitted, with the reason and how to allow
it (``packaging/system-deps.sh`` installs strace and util-linux), and never in CI
(``CI=true``), where that is a failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.privacy.pipeline import (
    PROMPT,
    SESSION_TIMEOUT_S,
    Inkwell,
    LoopbackProxy,
    Tracer,
    Wrap,
    cli_pipeline,
    desktop_session,
    egress_summary,
    namespaces_usable,
    need_os_proof,
    strace_usable,
    unshare_wrap,
    write_corpus,
)


def _assert_no_egress(tracer: Tracer, ink: Inkwell, proxy: LoopbackProxy) -> dict[str, object]:
    summary = egress_summary(tracer.calls())
    assert summary["non_local"] == 0, (
        f"non-local network calls: {summary['non_local_calls']}\nsummary: {summary}")
    # The session ran with every proxy variable pointing at a loopback proxy: nothing was
    # handed to it, and no process even tried an IP address, loopback included (Inkwell
    # itself uses none: the network guard's loopback allowlist is empty by default).
    assert proxy.requests == [], proxy.requests
    assert summary["ip_endpoints"] == [], summary
    # The trace must really have covered the session: every step left its log.
    assert len(tracer.logs) == len(ink.steps)
    assert all(log.exists() for log in tracer.logs)
    return summary


def _traced_cli_session(tmp_path: Path, evaluate: bool, offline: bool) -> None:
    need_os_proof(strace_usable())
    if offline:
        need_os_proof(namespaces_usable())
    corpus = write_corpus(tmp_path / "corpus")
    tracer = Tracer(tmp_path / "trace")
    wrap: Wrap = (lambda name, cmd: unshare_wrap(name, tracer(name, cmd))) if offline else tracer
    with LoopbackProxy() as proxy:
        ink = Inkwell(tmp_path / "home", wrap=wrap, extra_env=proxy.env())
        facts = cli_pipeline(ink, tmp_path / "corpus", corpus["md"], evaluate=evaluate)
    assert facts["added"]["errors"] == 0 and facts["added"]["indexed"] == len(corpus)
    _assert_no_egress(tracer, ink, proxy)


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_cli_session_works_offline_and_makes_no_non_local_connection(tmp_path: Path) -> None:
    """add, train, write with each method, forget: no network, every process traced."""
    _traced_cli_session(tmp_path, evaluate=False, offline=True)


@pytest.mark.slow
@pytest.mark.timeout(2 * SESSION_TIMEOUT_S)
def test_complete_cli_session_makes_no_non_local_connection(tmp_path: Path) -> None:
    """The same with ``inkwell eval`` (two users, all four methods) in the middle, and the
    machine's network up."""
    _traced_cli_session(tmp_path, evaluate=True, offline=False)


@pytest.mark.slow
@pytest.mark.timeout(2 * SESSION_TIMEOUT_S)
def test_complete_cli_session_works_without_any_network(tmp_path: Path) -> None:
    need_os_proof(namespaces_usable())
    corpus = write_corpus(tmp_path / "corpus")
    ink = Inkwell(tmp_path / "home", wrap=unshare_wrap)
    facts = cli_pipeline(ink, tmp_path / "corpus", corpus["md"])  # every step must exit 0
    assert facts["forgotten"]["chunks"] > 0


def _desktop(ink: Inkwell, corpus: dict[str, Path], folder: Path) -> dict[str, object]:
    report = desktop_session(ink, "--max-tokens", "8", "--add", str(folder),
                             "--write-rag", PROMPT, "--forget", str(corpus["txt"]))
    assert "error" not in report, report
    assert report["write"]["sources"], "RAG put the user's documents into the prompt"
    return report


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_desktop_session_makes_no_non_local_connection(tmp_path: Path) -> None:
    need_os_proof(strace_usable())
    corpus = write_corpus(tmp_path / "corpus")
    tracer = Tracer(tmp_path / "trace")
    with LoopbackProxy() as proxy:
        ink = Inkwell(tmp_path / "home", wrap=tracer, extra_env=proxy.env())
        _desktop(ink, corpus, tmp_path / "corpus")
    _assert_no_egress(tracer, ink, proxy)


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_desktop_session_works_without_any_network(tmp_path: Path) -> None:
    need_os_proof(namespaces_usable())
    corpus = write_corpus(tmp_path / "corpus")
    ink = Inkwell(tmp_path / "home", wrap=unshare_wrap)
    _desktop(ink, corpus, tmp_path / "corpus")


PROBE = """
import socket
u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    u.connect("/nonexistent/inkwell-probe.sock")
except OSError:
    pass
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.sendto(b'sa_family=AF_INET, sin_addr=inet_addr("8.8.8.8")', ("127.0.0.1", 9))
d.connect(("127.0.0.1", 9))
d.send(b"x")
try:
    socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"x", ("::1", 9))
except OSError:
    pass
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    out.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends nothing, but is egress
    out.sendto(b"x", ("198.51.100.7", 53))
except OSError:
    pass
"""


def test_the_trace_sees_every_attempt(tmp_path: Path) -> None:
    """The detector's positive control: a plain Python (no guard) reaching out is caught.

    The payload spells an address, as a document sent over a socket might: with
    ``-s 0`` it is never printed, so it cannot be mistaken for a destination.
    """
    need_os_proof(strace_usable())
    tracer = Tracer(tmp_path / "trace")
    cmd = tracer("probe", [sys.executable, "-I", "-c", PROBE])
    subprocess.run(cmd, check=True, timeout=120)
    summary = egress_summary(tracer.calls())
    assert summary["non_local"] == 2, summary
    assert any("192.0.2.1" in line for line in summary["non_local_calls"])
    assert any("198.51.100.7" in line for line in summary["non_local_calls"])
    assert "/nonexistent/inkwell-probe.sock" in " ".join(summary["unix_endpoints"])
    assert "AF_INET 127.0.0.1" in summary["ip_endpoints"]
    assert "8.8.8.8" not in json.dumps(summary["ip_endpoints"])


def test_the_namespace_has_no_network(tmp_path: Path) -> None:
    """The namespace's positive control: the same reach for another machine fails there."""
    need_os_proof(namespaces_usable())
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=5)"
    proc = subprocess.run(unshare_wrap("probe", [sys.executable, "-I", "-c", code]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0
    assert "Network is unreachable" in proc.stderr, proc.stderr


@pytest.mark.timeout(SESSION_TIMEOUT_S)
def test_nothing_is_kept_in_the_users_home(tmp_path: Path) -> None:
    """No library keeps a store of its own outside the data dir (a telemetry queue, an id).

    onnxruntime >= 1.29 creates ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``
    (a persistent device id and a queue of telemetry events) the moment the embedder
    starts, unless ``ORT_DISABLE_TELEMETRY`` is set (the network guard sets it).
    Here ``$HOME`` is an empty folder; indexing and a dense search must leave it empty.
    """
    user_home = tmp_path / "user-home"
    user_home.mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "garden.txt").write_text("Garden log\n\nThe tomatoes split.\n")
    env = {"HOME": str(user_home)}  # and the XDG folders a library may prefer to $HOME
    env.update({f"XDG_{kind}_HOME": str(user_home / f".{kind.lower()}")
                for kind in ("CACHE", "CONFIG", "DATA", "STATE")})
    ink = Inkwell(tmp_path / "home", extra_env=env)
    ink("library add", "library", "add", str(tmp_path / "notes"), "--json")
    hits = ink("search", "library", "search", "tomatoes", "--retriever", "dense",
               "--json").json()
    assert hits
    assert sorted(str(p.relative_to(user_home)) for p in user_home.rglob("*")) == []
