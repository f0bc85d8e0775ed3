"""Loopback sockets and uvicorn: the server in the foreground (the CLI) or on a thread.

The sockets are bound here, not by uvicorn, so the address is checked before
anything listens: only loopback (127.0.0.0/8, ::1) is accepted, whatever the
user asks for.  ``localhost`` listens on both 127.0.0.1 and ::1 (the latter
where the machine has IPv6), on one port.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time

import uvicorn

from core.errors import InkwellError
from core.serve.app import Service, build_app
from core.serve.token import load_token

DEFAULT_HOST = "localhost"
# More open connections than this get uvicorn's 503: queued answers are bounded by the
# gates, this bounds idle or slow clients.
MAX_CONNECTIONS = 64


def loopback_addresses(host: str) -> list[str]:
    """The addresses ``host`` stands for; anything that is not loopback is refused."""
    if host.lower() == "localhost":
        return ["127.0.0.1", "::1"]
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise InkwellError(
            f"--host {host}: inkwell serve listens on this machine's loopback only "
            "(127.0.0.1, ::1 or localhost), so no other machine can reach your writing"
        )
    return [str(address)]


def bind_loopback(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on ``host`` (loopback only) and ``port`` (0: any free port)."""
    sockets: list[socket.socket] = []
    for address in loopback_addresses(host):
        v6 = ":" in address
        try:
            sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            if v6 and sockets:
                continue  # no IPv6 on this machine: 127.0.0.1 alone
            raise
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            if v6 and sockets:
                continue  # IPv6 without a loopback address: 127.0.0.1 alone
            for s in sockets:
                s.close()
            raise InkwellError(
                f"cannot listen on {address} port {port}: {exc.strerror or exc} "
                "(is another 'inkwell serve' running? choose another --port)"
            ) from exc
        sock.setblocking(False)
        port = sock.getsockname()[1]  # with port 0, the other address takes the same port
        sockets.append(sock)
    return sockets


class InkwellServer:
    """``inkwell serve`` for one profile, bound to loopback when constructed.

    ``run()`` serves in the foreground until Ctrl+C or SIGTERM; ``start()`` and
    ``stop()`` run it on a thread of this process (the desktop app, the tests).
    """

    def __init__(self, service: Service, host: str, port: int) -> None:
        self.service = service
        self.token = load_token(service.home)
        self.sockets = bind_loopback(host, port)
        self.port = self.sockets[0].getsockname()[1]
        app = build_app(service, self.token)
        config = uvicorn.Config(
            app,
            # Not uvloop (installed with chromadb): its libuv sets up io_uring, through which a
            # connect or send would not show up as a system call, so strace could no longer
            # prove a served session makes no connection (tests/privacy/test_served_session.py).
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            server_header=False,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def urls(self) -> list[str]:
        """The base URLs an OpenAI client is given (``.../v1``)."""
        out = []
        for sock in self.sockets:
            host = sock.getsockname()[0]
            out.append(f"http://{f'[{host}]' if ':' in host else host}:{self.port}/v1")
        return out

    def run(self) -> None:
        try:
            self._server.run(sockets=self.sockets)
        finally:
            self.service.cancel_all()  # a generation still running has nobody to answer

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread = threading.Thread(target=self.run, name="inkwell-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise InkwellError("the server did not start")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.service.cancel_all()  # open streams end now, not after the graceful timeout
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
