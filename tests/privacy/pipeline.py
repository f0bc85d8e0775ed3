"""The end-to-end sessions the privacy proofs run, and the tools that judge them.

One module, shared by the tests (``tests/privacy/test_*.py``) and the report
script (``python -m tests.privacy.egress_report``), so the figures in
``docs/PRIVACY.md`` come from exactly the pipeline the tests prove:

* :func:`write_corpus` — a folder of the user's writing in every common format
  (.txt, .md, .html, .eml, .docx, .pdf), optionally with a canary sentence in one file;
* :class:`Inkwell` — runs ``inkwell`` (or the desktop driver) in fresh processes,
  each wrapped by ``strace`` or ``unshare -rn`` as a test asks;
* :func:`cli_pipeline` — every step a user takes: add, train, write with each
  method, evaluate, forget;
* :func:`desktop_session` — the desktop app started offscreen and driven by
  ``tests/privacy/desktop_driver.py``;
* :class:`Tracer` / :func:`egress_summary` — what ``strace`` saw, sorted into local
  and non-local;
* :func:`scan_for` — every byte of every file under a folder, searched for a canary;
* :class:`LoopbackProxy` — a proxy on 127.0.0.1 that records what it is handed, for
  sessions run with the proxy variables pointing at it (a corporate proxy agent, Tor).
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import socketserver
import stat
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.library.conftest import docx_bytes, eml_bytes, pdf_bytes

REPO = Path(__file__).resolve().parents[2]
LAMP_TASK = REPO / "tests" / "data" / "commit_subject"
STRACE = shutil.which("strace")
UNSHARE = shutil.which("unshare")
PROMPT = "A short note about the harbour in the morning"
# A whole session is a dozen fresh processes (training and evaluation among them): a few
# CPU-minutes, which on a loaded 2-core machine can take far longer than the suite's
# 900 s per test.  The session tests get this much instead (seconds).
SESSION_TIMEOUT_S = 3600
# Retrieves the canary's document without containing the canary word itself.
CANARY_PROMPT = "Where does the lighthouse keeper hide the spare key?"

Wrap = Callable[[str, list[str]], list[str]]


def no_wrap(_name: str, cmd: list[str]) -> list[str]:
    return cmd


def unshare_wrap(_name: str, cmd: list[str]) -> list[str]:
    """Run ``cmd`` in a new user + network namespace: only a downed loopback device exists."""
    return [UNSHARE or "unshare", "-rn", *cmd]


def namespaces_usable() -> str | None:
    """Why ``unshare -rn`` cannot be used here, and how to allow it; None when it can."""
    if UNSHARE is None:
        return ("util-linux's unshare is not installed; install it (`sudo apt-get install "
                "util-linux`; ./inkwell-setup does)")
    probe = subprocess.run([UNSHARE, "-rn", "true"], capture_output=True, text=True, check=False,
                           timeout=120)
    if probe.returncode != 0:
        return (f"unshare -rn is not permitted here ({probe.stderr.strip()!r}). To run this "
                "proof, allow unprivileged user namespaces (Ubuntu 24.04: `sudo sysctl "
                "kernel.apparmor_restrict_unprivileged_userns=0`; a container: run it with "
                "--privileged) or run the tests as root: `sudo ./inkwell-setup test`")
    return None


def strace_usable() -> str | None:
    """Why ``strace -f`` cannot trace a child here, and how to allow it; None when it can."""
    if STRACE is None:
        return ("strace is not installed; install it (`sudo apt-get install strace`; "
                "./inkwell-setup does)")
    probe = subprocess.run([STRACE, "-f", "-o", os.devnull, "true"], capture_output=True,
                           text=True, check=False, timeout=120)
    if probe.returncode != 0:
        return (f"strace cannot trace here ({probe.stderr.strip()!r}). To run this proof, "
                "allow ptrace (`sudo sysctl kernel.yama.ptrace_scope=1`; a container: run it "
                "with --cap-add SYS_PTRACE) or run the tests as root: `sudo ./inkwell-setup test`")
    return None


def need_os_proof(reason: str | None) -> None:
    """Go on when the OS allows a proof (``reason`` is None); else skip it, or fail it in CI.

    On a user's machine a kernel that forbids user namespaces or ptrace is not a defect of
    the install, so the proof is skipped with the reason and how to run it.  CI
    (``CI=true``) is the place the proofs must run: there a missing permission is a failure.
    """
    import pytest

    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true, so this privacy proof must run: {reason}")
    pytest.skip(reason)


# --- the user's writing ---------------------------------------------------------------------


def new_canary_word() -> str:
    """A word no tokenizer, stemmer or model knows, fresh for each test.

    Searched for alone, it finds the canary even where one word of the sentence
    was kept (the BM25 vocabulary, a title, a file name); fresh, so a concurrent
    or earlier run's files can never be mistaken for this run's leftovers.
    """
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=10))


def canary_sentence(word: str) -> str:
    return f"The {word} lighthouse keeper hides the spare key under the seventh blue stone."

LETTERS = [
    ("Harbour survey results", "The survey boats counted forty moorings in the inner basin."),
    ("Ferry timetable for spring", "From April the early ferry leaves at six and calls twice."),
    ("Breakwater repairs", "The masons replaced twelve blocks on the seaward side."),
    ("Gull counts in March", "We counted more gulls on the quay than ever before."),
    ("Lighthouse open day", "Visitors climbed the tower all afternoon in the sunshine."),
    ("Mooring fees next year", "The council keeps the fees as they are for small boats."),
]


def write_corpus(folder: Path, canary_word: str | None = None) -> dict[str, Path]:
    """Write one small document per supported format (and six dated e-mails) into ``folder``.

    With ``canary_word``, one more e-mail (``canary``: the newest, so ``inkwell
    advise`` holds it out as a query) carries it in its file name, its subject and
    its body (:func:`canary_sentence`).  Returns the files by a short name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paragraph = ("I walk the breakwater every Sunday morning and count the gulls. "
                 "The harbour smells of diesel and rope, and the fishermen wave. ")
    files = {
        "txt": ("garden.txt", f"Garden log\n\n{paragraph}The tomatoes split after the storm.\n"),
        "md": ("harbour.md", f"# Harbour walk\n\n{paragraph}\n\nNext week: the lighthouse.\n"),
        "html": ("ferry.html", "<html><head><title>Ferry notes</title></head><body>"
                 f"<h1>Ferry notes</h1><p>{paragraph}</p><p>The ferry was late.</p></body></html>"),
    }
    out: dict[str, Path] = {}
    for key, (name, text) in files.items():
        out[key] = folder / name
        out[key].write_text(text, encoding="utf-8")
    out["docx"] = folder / "report.docx"
    out["docx"].write_bytes(docx_bytes("Quarterly harbour report", [paragraph, "Repairs done."]))
    out["pdf"] = folder / "minutes.pdf"
    out["pdf"].write_bytes(pdf_bytes("Minutes of the harbour board: the quay will be painted.",
                                     title="Harbour board minutes"))
    for i, (subject, body) in enumerate(LETTERS):
        out[f"eml{i}"] = folder / f"letter-{i}.eml"
        out[f"eml{i}"].write_bytes(eml_bytes(subject, f"Hello all,\n\n{body} {paragraph}",
                                             date=f"Tue, {i + 2:02d} Jan 2024 10:00:00 +0000"))
    if canary_word is not None:
        out["canary"] = folder / f"{canary_word}-letter.eml"
        out["canary"].write_bytes(eml_bytes(
            f"Note on the {canary_word} keeper",
            f"Hello all,\n\n{canary_sentence(canary_word)} {paragraph}",
            date="Tue, 30 Jan 2024 10:00:00 +0000"))
    return out


# --- a local proxy ---------------------------------------------------------------------------

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY")


class LoopbackProxy(socketserver.ThreadingTCPServer):
    """An HTTP proxy on loopback that records each request line it is handed, and forwards
    none: a stand-in for the local proxy agents real machines run.  A context manager."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def env(self) -> dict[str, str]:
        """Every proxy variable pointing here, and no ``NO_PROXY``."""
        return {**dict.fromkeys(PROXY_VARIABLES, self.url), "NO_PROXY": "", "no_proxy": ""}

    def __enter__(self) -> LoopbackProxy:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _ProxyHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(4096).decode("latin-1").strip()
        assert isinstance(self.server, LoopbackProxy)
        self.server.requests.append(line)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


# --- running Inkwell ------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    argv: list[str]
    returncode: int
    seconds: float
    cpu_seconds: float  # user + system of the process and every child it waited for
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class StepFailed(AssertionError):
    pass


@dataclass
class Inkwell:
    """Runs Inkwell commands against one data dir, each in a fresh (optionally wrapped) process."""

    home: Path
    wrap: Wrap = no_wrap
    timeout_s: float = SESSION_TIMEOUT_S  # per step
    extra_env: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
        env.setdefault("INKWELL_CACHE_DIR", str(REPO / ".test-cache"))
        return {**env, **self.extra_env}

    def run_module(self, name: str, module: str, *args: str, check: bool = True) -> Step:
        cmd = self.wrap(name, [sys.executable, "-m", module, *args])
        started, cpu = time.monotonic(), _children_cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=self.env(),
                              timeout=self.timeout_s, check=False)
        step = Step(name, list(args), proc.returncode, time.monotonic() - started,
                    _children_cpu() - cpu, proc.stdout, proc.stderr)
        self.steps.append(step)
        if check and proc.returncode != 0:
            raise StepFailed(f"step {name!r} ({' '.join(args)}) exited {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        return step

    def __call__(self, name: str, *args: str, check: bool = True) -> Step:
        """``inkwell --home HOME ARGS...``: the CLI entry point (``core.cli:main``)."""
        return self.run_module(name, "core", "--home", str(self.home), *args, check=check)

    def timings(self) -> dict[str, dict[str, float]]:
        """Wall and CPU seconds per step: on a shared machine CPU time is the stable figure."""
        return {s.name: {"wall_s": round(s.seconds, 1), "cpu_s": round(s.cpu_seconds, 1)}
                for s in self.steps}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_pipeline(
    ink: Inkwell, corpus: Path, forget: Path, evaluate: bool = True
) -> dict[str, Any]:
    """Every CLI step a user takes, once each, kept as small as still meaningful.

    add a folder of every format → train a 2-step adapter → write with each of the
    four methods → (``evaluate``) the paper's comparison on two sample users (1 query
    each, 2-step adapters) → forget one file.  Returns facts later checks use.
    """
    added = ink("library add", "library", "add", str(corpus), "--json").json()
    adapter = ink("adapter train", "adapter", "train", "--steps", "2", "--json").json()["id"]
    for method in ("none", "rag", "peft", "rag+peft"):
        extra = ["--adapter", adapter] if "peft" in method else []
        answer = ink(f"write {method}", "write", "--method", method, *extra,
                     "--max-tokens", "8", "--json", PROMPT).json()
        if not answer["text"].strip():
            raise StepFailed(f"write --method {method} gave an empty answer")
    if evaluate:
        ink("eval", "eval", "--data", str(LAMP_TASK), "--users", "2", "--max-queries", "1",
            "--steps", "2", "--max-tokens", "8", "--json")
    forgotten = ink("library forget", "library", "forget", str(forget), "--json").json()
    return {"added": added, "adapter": adapter, "forgotten": forgotten}


def desktop_session(ink: Inkwell, *actions: str) -> dict[str, Any]:
    """Start ``inkwell-desktop`` offscreen and drive it (see ``tests/privacy/desktop_driver``).

    ``actions`` are the driver's arguments, e.g. ``--add DIR --write-rag PROMPT``;
    returns what the driver reported.
    """
    step = ink.run_module("desktop", "tests.privacy.desktop_driver", "--home", str(ink.home),
                          *actions)
    lines = [line for line in step.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise StepFailed(f"the desktop driver reported nothing:\n{step.stdout}\n{step.stderr}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


# --- strace ---------------------------------------------------------------------------------

# Every system call that can put bytes on a network: connect (TCP, or the peer of a UDP
# socket), the addressed sends, and io_uring_setup, through which a connect/send would not
# show up as a system call of its own (none of Inkwell's libraries uses io_uring; if one
# starts to, the proof has to look inside its rings, so the check fails).
TRACED = ("connect", "sendto", "sendmsg", "sendmmsg", "io_uring_setup")
_CALL = re.compile(r"^(?P<pid>\d+)\s+(?P<call>" + "|".join(TRACED) + r")\((?P<args>.*)$")
_FAMILY = re.compile(r"sa_family=(AF_\w+)")
_INET = re.compile(r'sin_addr=inet_addr\("([^"]*)"\)')
_INET6 = re.compile(r'inet_pton\(AF_INET6, "([^"]*)"')
_UNIX = re.compile(r'sun_path=(@?"[^"]*"|@[^,}]*)')

# Where bytes may go without leaving the machine:
# AF_UNIX  - a socket file or abstract name on this host (the kernel never routes it off it);
# AF_NETLINK - a message to the local kernel (e.g. glibc asking which interfaces exist);
# AF_UNSPEC - connect(AF_UNSPEC) dissolves a UDP socket's association: nothing is sent;
# AF_INET 127.0.0.0/8 and AF_INET6 ::1 (also ::ffff:127.x) - the loopback device.
# Everything else (any other IP address, AF_PACKET, AF_BLUETOOTH, ...) counts as egress.
LOCAL_FAMILIES = {"AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"}


@dataclass(frozen=True)
class Syscall:
    pid: int
    call: str
    family: str | None  # None: a send on an already connected socket (its connect is traced)
    address: str
    line: str

    @property
    def local(self) -> bool:
        if self.call == "io_uring_setup":
            return False
        if self.family is None:
            return self.call != "connect"  # a connect without a readable address: not proven
        if self.family in LOCAL_FAMILIES:
            return True
        if self.family == "AF_INET":
            return self.address.startswith("127.")
        if self.family == "AF_INET6":
            return self.address == "::1" or self.address.startswith("::ffff:127.")
        return False


def parse_strace(text: str) -> list[Syscall]:
    """The traced calls in an ``strace -f -o FILE`` log (``<... resumed>`` halves skipped).

    With ``-s 0`` the payloads print as ``""...``, so sent data cannot be mistaken for
    an address.  ``sendmmsg`` with several addressed messages yields one entry each.
    """
    calls = []
    for line in text.splitlines():
        m = _CALL.match(line)
        if not m:
            continue
        pid, call, args = int(m["pid"]), m["call"], m["args"]
        families = _FAMILY.findall(args)
        if not families:
            calls.append(Syscall(pid, call, None, "", line))
            continue
        inet, inet6, unix = _INET.findall(args), _INET6.findall(args), _UNIX.findall(args)
        for family in families:
            pool = {"AF_INET": inet, "AF_INET6": inet6, "AF_UNIX": unix, "AF_LOCAL": unix}
            addresses = pool.get(family)
            address = addresses.pop(0) if addresses else ""
            calls.append(Syscall(pid, call, family, address, line))
    return calls


class Tracer:
    """A wrapper that runs each step under ``strace -f`` into its own log file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.logs: list[Path] = []

    def __call__(self, name: str, cmd: list[str]) -> list[str]:
        log = self.folder / f"{len(self.logs):02d}-{re.sub(r'[^a-z0-9]+', '-', name)}.strace"
        self.logs.append(log)
        # --seccomp-bpf stops the process only at the traced calls (torch and llama.cpp run
        # at nearly full speed); -s 0 prints no payload; -qq and signal=none keep the log
        # to the calls themselves.
        return [STRACE or "strace", "-f", "--seccomp-bpf", "-qq", "-e", "signal=none",
                "-s", "0", "-e", f"trace={','.join(TRACED)}", "-o", str(log), *cmd]

    def calls(self) -> list[Syscall]:
        return [c for log in self.logs for c in parse_strace(log.read_text(errors="replace"))]


def egress_summary(calls: Sequence[Syscall], processes: int | None = None) -> dict[str, Any]:
    """The figures: calls seen, by family, which endpoints were local, and the non-local ones."""
    families = Counter(c.family or "(connected socket)" for c in calls)
    unix = sorted({c.address for c in calls if c.family in ("AF_UNIX", "AF_LOCAL")})
    inet = sorted({f"{c.family} {c.address}" for c in calls if c.family in ("AF_INET",
                                                                           "AF_INET6")})
    nonlocal_calls = [c.line for c in calls if not c.local]
    summary: dict[str, Any] = {
        "calls_traced": len(calls),
        "connect_attempts": sum(c.call == "connect" for c in calls),
        "by_family": dict(sorted(families.items())),
        "unix_endpoints": unix,
        "ip_endpoints": inet,
        "non_local": len(nonlocal_calls),
        "non_local_calls": nonlocal_calls[:20],
    }
    if processes is not None:
        summary["processes"] = processes
    return summary


# --- scanning for a canary ------------------------------------------------------------------


def canary_needles(*words: str) -> dict[str, bytes]:
    """Each word as UTF-8, UTF-16-LE and UTF-16-BE bytes, lower-cased (matched case-blind)."""
    needles = {}
    for word in words:
        lower = word.lower()
        for codec in ("utf-8", "utf-16-le", "utf-16-be"):
            needles[f"{word!r} {codec}"] = lower.encode(codec)
    return needles


@dataclass
class ScanReport:
    files: int = 0
    bytes: int = 0
    hits: list[str] = field(default_factory=list)
    # Places whose walk stopped at a bound (ENTRY_BUDGET, BYTE_BUDGET): not fully searched.
    cut_short: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"files_scanned": self.files, "bytes_scanned": self.bytes, "hits": self.hits,
                "cut_short": self.cut_short}


# Bounds per scanned root, so that a developer's large ~/.cache cannot make a test crawl:
# entries looked at (files and folders) and bytes read.  A test's own data dir is far below.
ENTRY_BUDGET = 200_000
BYTE_BUDGET = 2 << 30


def scan_for(
    roots: Iterable[Path],
    needles: dict[str, bytes],
    *,
    changed_since: float | None = None,
    exclude: Sequence[Path] = (),
    report: ScanReport | None = None,
) -> ScanReport:
    """Search every byte of every regular file below ``roots`` for any needle (case-blind).

    Raw bytes, so SQLite free pages, WAL/journal files, HNSW segments, pickles and
    checkpoints are all covered.  ``changed_since`` limits the scan to files modified
    (or whose inode changed) after that time: for places shared with other processes.
    Each root is walked on its own file system only (a /proc or a network mount below it
    is not entered), symlinks are not followed, only regular files are read, and the walk
    stops at ENTRY_BUDGET entries or BYTE_BUDGET bytes read, noted in ``cut_short``.
    """
    report = report or ScanReport()
    longest = max(len(n) for n in needles.values())
    skip = [p.resolve() for p in exclude]
    for root in roots:
        try:
            device = root.stat().st_dev
        except OSError:
            continue
        entries = 0
        read = 0
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            here = Path(dirpath).resolve()
            if any(here == s or s in here.parents for s in skip):
                dirnames[:] = []
                continue
            entries += len(dirnames) + len(filenames)
            if entries > ENTRY_BUDGET or read > BYTE_BUDGET:
                report.cut_short.append(f"{root} (at {dirpath})")
                break
            for name in list(dirnames):
                try:
                    if os.lstat(os.path.join(dirpath, name)).st_dev != device:
                        dirnames.remove(name)  # another file system mounted here
                except OSError:
                    dirnames.remove(name)
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    st = path.lstat()
                    if not stat.S_ISREG(st.st_mode) or st.st_dev != device:
                        continue
                    if changed_since is not None and max(st.st_mtime, st.st_ctime) < changed_since:
                        continue
                    with open(path, "rb") as fh:
                        tail = b""
                        while block := fh.read(1 << 22):
                            data = (tail + block).lower()  # only A-Z change: offsets stay
                            for label, needle in needles.items():
                                if needle in data:
                                    hit = f"{path}: {label}"
                                    if hit not in report.hits:
                                        report.hits.append(hit)
                            report.bytes += len(block)
                            read += len(block)
                            tail = data[-(longest - 1):] if longest > 1 else b""
                except (FileNotFoundError, PermissionError):
                    continue  # another process's file that came and went
                report.files += 1
    return report


def private_mode_problems(root: Path) -> list[str]:
    """Every file not 0600-or-stricter and every folder not 0700-or-stricter below ``root``."""
    bad = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for path in [Path(dirpath), *(Path(dirpath) / f for f in filenames)]:
            st = path.lstat()
            if path.is_symlink():
                continue
            if st.st_mode & 0o077:
                bad.append(f"{oct(st.st_mode & 0o777)} {path}")
    return bad


def scan_elsewhere(exclude: Path, needles: dict[str, bytes], since: float) -> ScanReport:
    """Files outside the data dir that Inkwell's processes may have written since ``since``.

    The model cache (``$INKWELL_CACHE_DIR``, shared), the system temp dir, and the
    per-user folders libraries and Qt write to (``~/.cache``, ``~/.config``,
    ``~/.local``); ``exclude`` is the run's own folder (the user's documents, the
    canary's source, and the data dir, which is scanned whole on its own).
    """
    cache = Path(os.environ.get("INKWELL_CACHE_DIR", REPO / ".test-cache"))
    user = Path.home()
    places = [cache, Path(tempfile.gettempdir()), user / ".cache", user / ".config",
              user / ".local"]
    return scan_for(places, needles, changed_since=since - 1, exclude=[exclude])


def hit_places(report: ScanReport, home: Path) -> set[str]:
    """The profile folders (library, adapters, eval, training) that hold a hit."""
    places = set()
    for hit in report.hits:
        path = Path(hit.split(": ")[0])
        if home / "profiles" in path.parents:
            places.add(path.relative_to(home).parts[2])
    return places


@dataclass
class CanaryRun:
    """What :func:`cli_forget_canary` saw, for the test to judge and the report to count."""

    word: str
    files: dict[str, Path]
    home: Path
    adapter: str
    sources: dict[str, str]  # path -> doc id of the RAG answer's sources
    advice: dict[str, Any]
    modes_before_forget: list[str]  # files/folders not private before the forget
    before: ScanReport  # the canary found before forgetting: the scan can see it
    forgotten: dict[str, Any]
    adapters: dict[str, dict[str, Any]]  # ``adapter list --json`` after forgetting, by id
    after: ScanReport  # the data dir after forgetting
    elsewhere: ScanReport  # cache, temp dir, ~/.cache: files changed during the run


def cli_forget_canary(work: Path, ink: Inkwell | None = None) -> CanaryRun:
    """Let a canary reach every store through the CLI, forget its file, scan everything.

    add the folder → train a 2-step adapter → write with RAG (the canary's e-mail
    is retrieved) → ``advise`` (holds the newest e-mails, the canary's among them,
    out as queries and stores their titles and answers) → an interrupted training
    start is planted (the worker's request.json with the examples' text, before
    any spec.json exists, as ``TrainProcessJob``/the desktop write it) → scan →
    ``library forget`` the canary's file → ``adapter list`` → scan again.
    """
    word = new_canary_word()
    needles = canary_needles(word)
    files = write_corpus(work / "corpus", word)
    ink = ink or Inkwell(work / "home")
    home = ink.home
    since = time.time()
    ink("library add", "library", "add", str(work / "corpus"), "--json")
    adapter = ink("adapter train", "adapter", "train", "--steps", "2", "--json").json()["id"]
    answer = ink("write rag", "write", "--method", "rag", "--max-tokens", "8", "--json",
                 CANARY_PROMPT).json()
    sources = {s["source"]: s["doc_id"] for s in answer["sources"]}
    advice = ink("advise", "advise", "--json").json()
    modes = private_mode_problems(home)
    if str(files["canary"]) in sources:
        interrupted = home / "profiles" / "default" / "training" / "interrupted-start"
        interrupted.mkdir(mode=0o700)
        example = {"doc_id": sources[str(files["canary"])], "content": canary_sentence(word)}
        (interrupted / "request.json").write_text(json.dumps({"examples": [example]}))
    before = scan_for([home], needles)
    forgotten = ink("library forget", "library", "forget", str(files["canary"]),
                    "--json").json()
    adapters = {r["id"]: r for r in ink("adapter list", "adapter", "list", "--json").json()}
    after = scan_for([home], needles)
    elsewhere = scan_elsewhere(work, needles, since)
    return CanaryRun(word, files, home, adapter, sources, advice, modes, before, forgotten,
                     adapters, after, elsewhere)
