"""The process-wide network guard.

Inkwell's promise is that nothing leaves the machine.  Every entry point (CLI,
GUI, training worker, tests, benchmarks) calls :func:`install_network_guard`
before anything else.  It

* sets the environment switches that keep libraries offline and quiet
  (Hugging Face hub, transformers, Chroma/PostHog telemetry);
* removes every proxy setting from the environment and sets ``NO_PROXY=*``: with
  ``http_proxy=http://127.0.0.1:…`` (a corporate proxy agent, Tor, ``ssh -D``)
  urllib, requests and httpx hand the whole remote URL to that local proxy, which
  forwards it — a loopback connection that is really egress;
* installs a ``sys.audit`` hook that refuses, and records:

  - connections and datagrams to any address that is not loopback or a UNIX
    socket, and name lookups of non-local names;
  - loopback TCP/UDP too, except to a port this process is listening on itself
    or an explicitly allowed one: Inkwell's own processes use no loopback port
    (measured under strace over the CLI and desktop sessions, docs/PRIVACY.md),
    so any other loopback peer is something that may relay;
  - reverse lookups (``getnameinfo``/``gethostbyaddr``) of non-loopback addresses,
    and ``bind`` to a non-loopback address (a server reachable from outside);
  - starting a child process, except the ones Inkwell starts on purpose: its own
    Python modules (``python -m core…``, which install this guard first) and
    ``git`` (run by :mod:`core.library.gitlog` with no way to reach the network).

The small API for the processes that need more:

* ``install_network_guard(allow_loopback_ports=[port])`` — connections to that
  loopback port pass (a test's client of an ``inkwell serve`` started in another
  process; a server's own port is allowed without it);
* ``install_network_guard(allow_hosts=["models.example.org"])`` — that host may be
  looked up and connected to, nothing else (the model download process,
  ``core.download``; set once, never widened by a later call);
* ``install_network_guard(allow_programs=["strace"])`` — children running that
  program (a name or a path) may be started (the test suite's tools).

Calling it again adds loopback ports and programs; nothing is ever removed.

An audit hook (rather than monkey-patching ``socket``) sees every Python-level
socket operation, including ones made through sockets created before the guard
was installed, and cannot be removed.  Native code that opens sockets without
Python (and ``listen`` on a socket never bound: Python has no audit event for it) is
covered by the OS-level proofs in the test suite (strace, an empty network namespace).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import NetworkRefused

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",  # Chroma's settings read this variable
    # onnxruntime (the embedder) >= 1.29 ships 1DS telemetry on Linux and macOS: at session
    # start it looks up mobile.events.data.microsoft.com, queues events (executable path,
    # OS, CPU, a persistent device id) in ~/.cache/Microsoft/DeveloperTools/.onnxruntime
    # and uploads them.  Set before onnxruntime starts, this creates none of it.  Found by
    # tests/privacy/test_zero_egress.py (strace saw the DNS query from a native thread).
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Not privacy, but the same place: no download progress bars or hub warnings on the
    # user's terminal (nothing is downloaded; the bars only report local loading).
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    # Every HTTP client honours this: no host goes through a proxy (the proxy variables
    # themselves are removed too, see _drop_proxy_settings).
    "NO_PROXY": "*",
    "no_proxy": "*",
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}
_SPAWN_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                 "os.startfile")
_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


@dataclass(frozen=True)
class RefusedAttempt:
    when: float
    event: str
    address: str


class _Guard:
    def __init__(self) -> None:
        self.installed = False
        self.refused: list[RefusedAttempt] = []
        self.log_file: Path | None = None
        self.loopback_ports: set[int] = set()
        self.hosts: set[str] = set()
        self.programs: set[str] = set()
        self._host_addresses: set[str] = set()
        self._listening: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._resolving = threading.local()
        self._lock = threading.Lock()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("socket."):
            self._socket_event(event, args)
        elif event in _SPAWN_EVENTS:
            self._spawn_event(event, args)

    def _socket_event(self, event: str, args: tuple[Any, ...]) -> None:
        if getattr(self._resolving, "active", False):
            return  # the guard's own lookup of an allowed host
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            sock, address = args[0], args[1]
            if event == "socket.sendmsg" and address is None:
                return  # sendmsg on a connected socket: its connect was checked
            if not self._may_reach(getattr(sock, "family", None), address):
                self._refuse(event, address)
        elif event == "socket.bind":
            sock, address = args
            if getattr(sock, "family", None) in _IP_FAMILIES and isinstance(address, tuple):
                if not _is_loopback_ip(address[0]):
                    self._refuse(event, address)
                with self._lock:
                    self._listening.add(sock)
        elif event == "socket.getaddrinfo":
            host = args[0]
            if _is_local_host(host) or _is_numeric(host):
                return
            if self._allowed_host(host):
                self._resolve_allowed()
                return
            self._refuse(event, (host, args[1]))
        elif event in ("socket.gethostbyname", "socket.gethostbyname_ex"):
            if not (_is_local_host(args[0]) or self._allowed_host(args[0])):
                self._refuse(event, args[0])
        elif event == "socket.gethostbyaddr":
            if not _is_local_host(args[0]):
                self._refuse(event, args[0])
        elif event == "socket.getnameinfo":
            # The event does not carry the flags, so even a numeric-only formatting of a
            # remote address is refused: nothing of Inkwell's needs one.
            sockaddr = args[0]
            if not (isinstance(sockaddr, tuple) and _is_local_host(sockaddr[0])):
                self._refuse(event, sockaddr)

    def _may_reach(self, family: Any, address: Any) -> bool:
        if family == getattr(socket, "AF_UNIX", object()) or isinstance(address, (str, bytes)):
            return True  # UNIX socket path (or abstract name)
        if family == getattr(socket, "AF_NETLINK", object()):
            return True  # kernel interface queries, never leave the host
        if not (isinstance(address, tuple) and address):
            return False
        host, port = str(address[0]), address[1] if len(address) > 1 else None
        if self._allowed_host(host) or self._is_allowed_address(host):
            return True
        return _is_local_host(host) and (port in self.loopback_ports or self._listening_on(port))

    def _listening_on(self, port: Any) -> bool:
        """True if one of this process's own loopback sockets is bound to ``port``."""
        with self._lock:
            mine = list(self._listening)
        for sock in mine:
            try:
                if sock.fileno() != -1 and sock.getsockname()[1] == port:
                    return True
            except OSError:
                continue
        return False

    def _allowed_host(self, host: Any) -> bool:
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        return str(host).lower().rstrip(".") in self.hosts

    def _is_allowed_address(self, host: str) -> bool:
        if not self.hosts:
            return False
        ip = host.strip("[]").split("%")[0]
        if ip not in self._host_addresses:
            self._resolve_allowed()  # a round-robin name may have moved since
        return ip in self._host_addresses

    def _resolve_allowed(self) -> None:
        """Remember the addresses of the allowed hosts.

        The audit event comes before a lookup, so the guard cannot see its result; it
        makes the same lookup itself (its own lookups are let through) and remembers it.
        """
        self._resolving.active = True
        try:
            for host in sorted(self.hosts):
                try:
                    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
                except OSError:
                    continue  # the caller's own lookup fails the same way and reports it
                with self._lock:
                    self._host_addresses.update(str(info[4][0]).split("%")[0] for info in infos)
        finally:
            self._resolving.active = False

    def _spawn_event(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "subprocess.Popen":
            executable, argv = args[0], args[1]
        elif event == "os.spawn":
            executable, argv = args[1], args[2]
        elif event in ("os.exec", "os.posix_spawn"):
            executable, argv = args[0], args[1]
        else:  # os.system, os.startfile: a shell or the desktop's opener
            executable, argv = None, [str(args[0])]
        argv = [os.fsdecode(a) for a in argv] if isinstance(argv, (list, tuple)) else [argv]
        if not self._may_start(os.fsdecode(executable or argv[0]), argv):
            self._refuse(event, " ".join(argv)[:200])

    def _may_start(self, executable: str, argv: list[str]) -> bool:
        program = shutil.which(executable) or executable
        names = {program, os.path.basename(program), os.path.realpath(program)}
        if names & self.programs:
            return True
        if os.path.basename(program) in ("git", "git.exe"):
            return True  # run by core.library.gitlog, which takes away git's ways out
        python = {sys.executable, os.path.realpath(sys.executable)}
        if names & python:
            # A frozen app's executable is Inkwell itself (--train-worker, --download-worker).
            return getattr(sys, "frozen", False) or _runs_inkwell_module(argv[1:])
        return False

    def _refuse(self, event: str, address: Any) -> None:
        attempt = RefusedAttempt(time.time(), event, _describe(address))
        with self._lock:
            self.refused.append(attempt)
            log_file = self.log_file
        if log_file is not None:
            try:
                # 0600 like every other file of the data dir, whatever the umask
                with open(log_file, "a", encoding="utf-8", opener=_private_opener) as fh:
                    fh.write(
                        f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(attempt.when))}"
                        f"\t{attempt.event}\t{attempt.address}\n"
                    )
            except OSError:
                pass
        what = "to start the program" if event in _SPAWN_EVENTS else "a network connection to"
        raise NetworkRefused(
            f"Inkwell works offline: refused {what} {attempt.address} "
            f"({event}). Nothing leaves this machine."
        )


_GUARD = _Guard()


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _runs_inkwell_module(args: list[str]) -> bool:
    """``python [-P|-I|-u|-B…] -m core[.x]``: an Inkwell entry point, which guards itself."""
    for i, arg in enumerate(args):
        if arg == "-m" and i + 1 < len(args):
            module = args[i + 1]
            return module == "core" or module.startswith("core.")
        if not arg.startswith("-") or arg in ("-c", "-"):
            return False
    return False


def _drop_proxy_settings() -> None:
    for key in list(os.environ):
        if key.lower().endswith("_proxy") and key.lower() != "no_proxy":
            del os.environ[key]


def install_network_guard(
    log_file: Path | None = None,
    *,
    allow_loopback_ports: Iterable[int] = (),
    allow_hosts: Iterable[str] = (),
    allow_programs: Iterable[str] = (),
) -> None:
    """Set offline switches and refuse non-local network access for this process.

    Safe to call more than once; later calls update the log file and add loopback
    ports and programs.  ``allow_hosts`` is for the model download process only
    (``core.download``) and is set once: a later call cannot widen it.
    """
    _drop_proxy_settings()
    os.environ.update(OFFLINE_ENV)
    with _GUARD._lock:
        if log_file is not None:
            _GUARD.log_file = log_file
        _GUARD.loopback_ports.update(int(p) for p in allow_loopback_ports)
        _GUARD.programs.update(allow_programs)
        if allow_hosts and not _GUARD.hosts:
            _GUARD.hosts = {h.lower().rstrip(".") for h in allow_hosts}
            _GUARD._host_addresses.update(h.strip("[]") for h in _GUARD.hosts if _is_numeric(h))
        if _GUARD.installed:
            return
        _GUARD.installed = True
    sys.addaudithook(_GUARD.hook)


def guard_installed() -> bool:
    return _GUARD.installed


def refused_attempts() -> list[RefusedAttempt]:
    with _GUARD._lock:
        return list(_GUARD.refused)


def read_refusal_log(log_file: Path) -> list[str]:
    """Refused attempts recorded by any Inkwell process (for the Privacy panel / doctor)."""
    try:
        return log_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def _is_local_host(host: Any) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the wildcard/loopback of a local server
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    return _is_loopback_ip(host)


def _is_loopback_ip(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return str(host).lower() in _LOCAL_NAMES - {""}


def _is_numeric(host: Any) -> bool:
    """A numeric address is resolved without a lookup; its connect is checked instead."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _describe(address: Any) -> str:
    if isinstance(address, tuple):
        return ":".join(str(a) for a in address[:2])
    return str(address)


def delete_everything(root: Path, wait_s: float = 0.0) -> list[str]:
    """Remove Inkwell's data directory ("Delete everything"): every profile, cache and log.

    Refused (``DataDirBusy``) while another Inkwell process runs on it (the desktop, a
    training, ``inkwell serve``): they hold the app lock shared; ``wait_s`` gives them
    that long to finish.  A folder with Inkwell's marker is all Inkwell's: it is renamed
    aside first, so a crash midway leaves no half-deleted data dir that the app would try
    to open, then removed.  A folder without it (a data dir of a version before the
    marker) loses only Inkwell's own entries; the names of the others, left in place,
    are returned.
    """
    import uuid

    from core.locks import exclusive_app_lock
    from core.paths import APP_LOCK, MARKER, Home

    if not root.exists():
        return []
    home = Home(root)
    kept = home.foreign_entries() if not (root / MARKER).exists() else []
    doomed = root.with_name(f".{root.name}.deleting-{uuid.uuid4().hex[:8]}")
    busy = (f"{root}: another Inkwell process is using this data folder (the desktop app, a "
            "training, 'inkwell serve'); close it, then delete everything")
    with exclusive_app_lock(root / APP_LOCK, busy=busy, wait_s=wait_s):
        if not kept:
            os.replace(root, doomed)
        else:
            doomed.mkdir(mode=0o700)
            for name in os.listdir(root):
                if name not in kept and not name.startswith(APP_LOCK):
                    os.replace(root / name, doomed / name)
    shutil.rmtree(doomed)
    for lock_file in root.glob(APP_LOCK + "*") if kept else ():
        lock_file.unlink(missing_ok=True)
    return kept
