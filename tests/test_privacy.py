"""The network guard: non-local connections are refused and recorded, local ones pass."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from core.errors import NetworkRefused
from core.privacy import OFFLINE_ENV, guard_installed, refused_attempts


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
