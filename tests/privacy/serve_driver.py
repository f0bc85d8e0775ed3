"""A served session, end to end: ``inkwell serve`` and an editor's client, in one process tree.

    python -m tests.privacy.serve_driver --home DIR [--loopback-up]

Starts ``inkwell serve --port 0`` on the data dir (a fresh process, the real
entry point), then, as an editor plugin would, uses the official ``openai``
client: lists the models, asks for a chat completion with each of none / rag
(whole and streamed), a text completion and two ranked title suggestions; then
stops the server with Ctrl+C.  Prints one JSON line with what it got.

Run by ``tests/privacy/test_served_session.py`` under ``strace -f`` inside
``unshare -rn``: an empty network namespace has a loopback device that is down,
so ``--loopback-up`` brings it up first (an editor and the server talk over
loopback; still no route anywhere else).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import re
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

from core.privacy import install_network_guard

REPO = Path(__file__).resolve().parents[2]
PROMPT = "A short note about the harbour in the morning"


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2: SIOCSIFFLAGS with IFF_UP on ``lo``."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)  # struct ifreq: name, flags, padding
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", required=True)
    ap.add_argument("--loopback-up", action="store_true")
    args = ap.parse_args()
    if args.loopback_up:
        loopback_up()
    install_network_guard()
    from openai import OpenAI

    token = subprocess.run(
        [sys.executable, "-m", "core", "--home", args.home, "serve", "--show-token"],
        capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    server = subprocess.Popen(
        [sys.executable, "-m", "core", "--home", args.home, "serve", "--port", "0"],
        stdout=subprocess.PIPE, text=True)
    report: dict[str, object] = {}
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        if match is None:
            raise SystemExit(f"the server did not start: {line!r}")
        # The editor's side: the guard lets it reach the server's port, and no other.
        install_network_guard(allow_loopback_ports=[int(match.group(1))])
        client = OpenAI(base_url=match.group(0), api_key=token, max_retries=0, timeout=300)
        model = "smollm2-135m-instruct"
        report["models"] = sorted(m.id for m in client.models.list())
        ask = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8}
        for suffix in ("", "+rag"):
            reply = client.chat.completions.create(model=model + suffix, **ask)
            report[f"chat{suffix}"] = reply.choices[0].message.content
            report[f"sources{suffix}"] = len(reply.model_extra["inkwell"]["sources"])
            chunks = client.chat.completions.create(model=model + suffix, stream=True, **ask)
            report[f"stream{suffix}"] = "".join(c.choices[0].delta.content or "" for c in chunks)
        report["completion"] = client.completions.create(
            model=model + "+rag", prompt=PROMPT, max_tokens=8).choices[0].text
        titles = client.chat.completions.create(
            model=model + "+rag", n=2, extra_body={"inkwell": {"task": "title"}}, **ask)
        report["titles"] = [c.message.content for c in titles.choices]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    report["server_exit"] = server.returncode
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
