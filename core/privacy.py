"""The process-wide network guard.

Inkwell's promise is that nothing leaves the machine.  Every entry point (CLI,
GUI, training worker, tests, benchmarks) calls :func:`install_network_guard`
before anything else.  It

* sets the environment switches that keep libraries offline and quiet
  (Hugging Face hub, transformers, Chroma/PostHog telemetry), and
* installs a ``sys.audit`` hook that refuses every socket connection, datagram
  and name lookup that is not loopback or a UNIX socket, and records it.

An audit hook (rather than monkey-patching ``socket``) sees every Python-level
socket operation, including ones made through sockets created before the guard
was installed, and cannot be removed.  Native code that opens sockets without
Python is covered by the OS-level proofs in the test suite (strace, an empty
network namespace).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
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
}

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


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
        self._lock = threading.Lock()
        # The download process's one allowance (``allow_hosts``): these names, and the
        # addresses they were resolved to in this process.  Empty everywhere else.
        self.allowed_names: tuple[str, ...] = ()
        self.allowed_addresses: set[str] = set()
        self._resolving = threading.local()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not event.startswith("socket."):
            return
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            sock, address = args[0], args[1]
            if event == "socket.sendmsg" and address is None:
                return  # sendmsg on a connected socket: its connect was checked
            if not (_is_local(getattr(sock, "family", None), address)
                    or self._allowed_address(address)):
                self._refuse(event, address)
        elif event == "socket.getaddrinfo":
            host = args[0]
            if self._allowed_name(host):
                self._learn_addresses(host, args[1])
            elif not (_is_local_host(host) or _is_numeric(host)):
                self._refuse(event, (host, args[1]))
        elif event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
            host = args[0]
            if not _is_local_host(host):
                self._refuse(event, host)

    def _allowed_name(self, host: Any) -> bool:
        if not self.allowed_names or not isinstance(host, str | bytes):
            return False
        name = (host.decode("ascii", "replace") if isinstance(host, bytes) else host).lower()
        name = name.rstrip(".")
        return any(name == allowed for allowed in self.allowed_names)

    def _learn_addresses(self, host: Any, port: Any) -> None:
        """Resolve an allowed name here too, so its addresses can be connected to.

        The audit event comes before the lookup, so the guard cannot see its result;
        it makes the same lookup itself (re-entry is let through) and remembers it.
        """
        if getattr(self._resolving, "active", False):
            return
        self._resolving.active = True
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return  # the caller's own lookup fails the same way and reports it
        finally:
            self._resolving.active = False
        with self._lock:
            self.allowed_addresses.update(str(info[4][0]).split("%")[0] for info in infos)

    def _allowed_address(self, address: Any) -> bool:
        if not isinstance(address, tuple) or not address:
            return False
        with self._lock:
            return str(address[0]).split("%")[0] in self.allowed_addresses

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
        raise NetworkRefused(
            f"Inkwell works offline: refused a network connection to {attempt.address} "
            f"({event}). Nothing leaves this machine."
        )


_GUARD = _Guard()


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def install_network_guard(
    log_file: Path | None = None, allow_hosts: Sequence[str] = ()
) -> None:
    """Set offline switches and refuse non-local network access for this process.

    ``allow_hosts`` is for the model download process only (``core.download``): the
    exact host names it may look up and connect to (a numeric address is allowed as
    itself).  Safe to call more than once; later calls only update the log file.
    """
    os.environ.update(OFFLINE_ENV)
    with _GUARD._lock:
        if log_file is not None:
            _GUARD.log_file = log_file
        if allow_hosts and not _GUARD.allowed_names:  # set once; never widened later
            names = tuple(h.lower().rstrip(".") for h in allow_hosts)
            _GUARD.allowed_names = names
            _GUARD.allowed_addresses.update(h.strip("[]") for h in names if _is_numeric(h))
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
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_numeric(host: Any) -> bool:
    """A numeric address is resolved without a lookup; its connect is checked instead."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


def _is_local(family: Any, address: Any) -> bool:
    if family == getattr(socket, "AF_UNIX", object()) or isinstance(address, (str, bytes)):
        return True  # UNIX socket path (or abstract name)
    if family == getattr(socket, "AF_NETLINK", object()):
        return True  # kernel interface queries, never leave the host
    if isinstance(address, tuple) and address:
        host = address[0]
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return _is_local_host(host)
    return False


def _describe(address: Any) -> str:
    if isinstance(address, tuple):
        return ":".join(str(a) for a in address[:2])
    return str(address)


def delete_everything(root: Path) -> None:
    """Remove the whole data directory ("Delete everything"): every profile, cache and log.

    The folder is first renamed aside, so a crash midway leaves no half-deleted
    data dir that the app would try to open; the renamed copy is then removed.
    """
    import shutil
    import uuid

    if not root.exists():
        return
    doomed = root.with_name(f".{root.name}.deleting-{uuid.uuid4().hex[:8]}")
    os.replace(root, doomed)
    shutil.rmtree(doomed)
