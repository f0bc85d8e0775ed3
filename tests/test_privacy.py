"""The network guard: non-local connections are refused and recorded, local ones pass."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.errors import NetworkRefused
from core.privacy import OFFLINE_ENV, guard_installed, install_network_guard, refused_attempts
from tests.privacy.pipeline import LoopbackProxy

REPO = Path(__file__).resolve().parent.parent


def test_guard_is_installed_and_sets_offline_switches() -> None:
    assert guard_installed()
    for key, value in OFFLINE_ENV.items():
        assert os.environ[key] == value


def test_refuses_non_loopback_tcp_connect() -> None:
    before = len(refused_attempts())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(NetworkRefused):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed
    after = refused_attempts()
    assert len(after) == before + 1
    assert after[-1].address == "192.0.2.1:443"
    assert after[-1].event == "socket.connect"


def test_refuses_udp_datagram_and_dns_lookup() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(NetworkRefused):
        s.sendto(b"x", ("198.51.100.7", 53))
    with pytest.raises(NetworkRefused):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(NetworkRefused):
        socket.create_connection(("203.0.113.9", 80), timeout=1)


def test_allows_loopback_and_unix_sockets(tmp_path) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(10)  # a failed connect must not leave accept() waiting forever
    port = server.getsockname()[1]
    accepted: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        accepted.append(conn.recv(5))
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with socket.create_connection(("localhost", port), timeout=5) as c:
        c.sendall(b"hello")
    t.join(5)
    server.close()
    assert accepted == [b"hello"]

    path = str(tmp_path / "sock")
    userver = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    userver.bind(path)
    userver.listen(1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as uc:
        uc.connect(path)
    userver.close()


def test_cli_installs_the_guard_first(tmp_path) -> None:
    """A fresh CLI process refuses a connection that a library might try after start-up."""
    code = (
        "import sys, socket\n"
        "from core.cli import main\n"
        "rc = main(['--home', sys.argv[1], 'doctor', '--json'])\n"
        "try:\n"
        "    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
        "except PermissionError as e:\n"
        "    print('REFUSED', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "REFUSED" in out.stdout
    assert '"installed": true' in out.stdout
    log = (tmp_path / "home" / "logs" / "network-guard.log").read_text()
    assert "192.0.2.1:80" in log


# --- item 1: a local proxy must not carry requests out -----------------------------------

CLIENTS = """
import json, sys
from core.privacy import install_network_guard
install_network_guard()
proxy = sys.argv[1]
outcomes = {}
def attempt(name, call):
    try:
        call()
        outcomes[name] = "sent"
    except Exception as exc:  # any failure means nothing went through the proxy
        outcomes[name] = type(exc).__name__
import urllib.request, httpx, requests
for scheme in ("http", "https"):
    url = f"{scheme}://example.com/private?q=my+secret"
    attempt(f"urllib-env-{scheme}", lambda: urllib.request.urlopen(url, timeout=5).read())
    attempt(f"httpx-env-{scheme}", lambda: httpx.get(url, timeout=5))
    attempt(f"requests-env-{scheme}", lambda: requests.get(url, timeout=5))
    # a proxy named in code, not in the environment: the loopback connect itself is refused
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({scheme: proxy}))
    attempt(f"urllib-explicit-{scheme}", lambda: opener.open(url, timeout=5).read())
    attempt(f"httpx-explicit-{scheme}", lambda: httpx.get(url, proxy=proxy, timeout=5))
    attempt(f"requests-explicit-{scheme}",
            lambda: requests.get(url, proxies={scheme: proxy}, timeout=5))
print(json.dumps(outcomes))
"""


def test_a_loopback_proxy_carries_no_request_out(tmp_path) -> None:
    """With the proxy variables pointing at a local proxy, no client reaches it.

    Before the fix every one of these requests was handed to the proxy (which would
    forward it), because the guard allowed any loopback connection.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with LoopbackProxy() as proxy:
        env.update(proxy.env())
        out = subprocess.run([sys.executable, "-c", CLIENTS, proxy.url], capture_output=True,
                             text=True, timeout=120, env=env, check=True)
    outcomes = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(outcomes) == 12
    assert proxy.requests == [], proxy.requests
    assert all(result != "sent" for result in outcomes.values()), outcomes


def test_proxy_settings_are_removed_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9050")
    install_network_guard()
    assert "https_proxy" not in os.environ and "ALL_PROXY" not in os.environ
    assert os.environ["NO_PROXY"] == os.environ["no_proxy"] == "*"


LOOPBACK_CLIENT = """
import socket, sys
from core.privacy import install_network_guard
ports = [int(p) for p in sys.argv[2:]]
install_network_guard(allow_loopback_ports=ports)
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("CONNECTED")
except PermissionError:
    print("REFUSED")
"""


def test_loopback_is_refused_except_own_and_allowed_ports() -> None:
    """Another process's loopback port is refused unless allowed by name; this process's
    own listening socket is reachable (``test_allows_loopback_and_unix_sockets``)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(REPO)}

        def client(*allowed: int) -> str:
            return subprocess.run([sys.executable, "-c", LOOPBACK_CLIENT, str(port),
                                   *map(str, allowed)], capture_output=True, text=True,
                                  env=env, timeout=60, check=True).stdout.strip()

        assert client() == "REFUSED"
        assert client(port) == "CONNECTED"


# --- item 2: reverse lookups and servers reachable from outside ----------------------------

def test_reverse_lookup_of_a_remote_address_is_refused() -> None:
    with pytest.raises(NetworkRefused):
        socket.getnameinfo(("192.0.2.1", 443), 0)
    with pytest.raises(NetworkRefused):
        socket.gethostbyaddr("192.0.2.1")
    assert [a.event for a in refused_attempts()[-2:]] == ["socket.getnameinfo",
                                                          "socket.gethostbyaddr"]
    assert socket.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV) \
        == ("127.0.0.1", "80")


@pytest.mark.parametrize("family,address", [(socket.AF_INET, ("0.0.0.0", 0)),
                                            (socket.AF_INET, ("", 0)),
                                            (socket.AF_INET6, ("::", 0))])
def test_binding_a_non_loopback_address_is_refused(family: int, address: tuple) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as s, pytest.raises(NetworkRefused):
        s.bind(address)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))


# --- item 3: child processes ---------------------------------------------------------------

CHILDREN = """
import json, os, subprocess, sys
from core.privacy import install_network_guard
install_network_guard()
outcomes = {}
def attempt(name, call):
    try:
        call()
        outcomes[name] = "started"
    except PermissionError:
        outcomes[name] = "refused"
run = lambda cmd, **kw: subprocess.run(cmd, capture_output=True, check=False, **kw)
attempt("curl", lambda: run(["curl", "--version"]))
attempt("shell", lambda: run("true", shell=True))
attempt("os.system", lambda: os.system("true"))
attempt("python -c", lambda: run([sys.executable, "-c", "pass"]))
attempt("posix_spawn", lambda: os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ), 0))
attempt("git", lambda: run(["git", "--version"]))
attempt("inkwell worker", lambda: run([sys.executable, "-P", "-m", "core.adapters.worker",
                                       "--help"]))
attempt("inkwell cli", lambda: run([sys.executable, "-m", "core", "--help"]))
print(json.dumps(outcomes))
"""


def test_only_inkwells_own_children_may_start() -> None:
    out = subprocess.run([sys.executable, "-c", CHILDREN], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "curl": "refused", "shell": "refused", "os.system": "refused",
        "python -c": "refused", "posix_spawn": "refused",
        "git": "started", "inkwell worker": "started", "inkwell cli": "started"}
