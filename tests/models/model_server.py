"""A real HTTP server on loopback that serves files the way a model host does.

It answers ``Range`` requests (206), can cut the connection after some bytes,
trickle slowly (to cancel a download mid-way), redirect, set cookies, and it
records every request's headers, so tests can check what the download sent.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Behaviour:
    cut_after: int | None = None  # close the connection after this many body bytes (once)
    delay_s: float = 0.0  # pause between 64 KiB blocks
    ignore_range: bool = False
    redirect_to: str | None = None  # answer 302 to this URL (its path + the file name)
    set_cookie: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)


class ModelServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.behaviour = Behaviour()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                b = server.behaviour
                headers = {k.lower(): v for k, v in self.headers.items()}
                b.requests.append({"path": self.path, **headers})
                name = self.path.rsplit("/", 1)[-1]
                if b.redirect_to is not None and "redirected" not in self.path:
                    self.send_response(302)
                    self.send_header("Location", f"{b.redirect_to}/redirected/{name}")
                    if b.set_cookie:
                        self.send_header("Set-Cookie", "session=tracking-id; Path=/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not b.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if b.cut_after is not None:
                    body, b.cut_after = body[: b.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i : i + (1 << 16)])
                    if b.delay_s:
                        time.sleep(b.delay_s)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_catalog(path: Path, entries: list[dict[str, object]]) -> Path:
    import json

    path.write_text(json.dumps({"format": 1, "models": entries}), encoding="utf-8")
    return path
