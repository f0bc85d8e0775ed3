"""A bounded load on ``inkwell serve``: many streams from concurrent clients, some cut off.

Shared by the test (``tests/serve/test_load.py``, a small run) and the benchmark
(``benchmarks/serve_load.py``, 50 requests from 8 clients with RSS before and
after), so the figures in docs/SERVE.md come from the code the test proves.

Each request streams a chat completion; a seeded share of them hangs up after a
random number of pieces.  Every request must end as one of: ``answered`` (the
stream reached ``[DONE]`` with text), ``busy`` (still a 429 after the retries an
``openai`` client makes) or ``cancelled`` (the client hung up itself) — anything
else is an ``error``.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import httpx


@dataclass(frozen=True)
class Outcome:
    kind: str  # answered, busy, cancelled, error
    seconds: float
    detail: str = ""


def one_request(base_url: str, token: str, model: str, prompt: str, max_tokens: int,
                hang_up_after: int | None, seed: int, retries: int = 2) -> Outcome:
    """One streamed chat completion; ``hang_up_after`` pieces, the client closes the stream.

    A 429 is retried ``retries`` times after the ``Retry-After`` the server sent,
    as the ``openai`` client does by default; still refused, the request is ``busy``.
    """
    started = time.perf_counter()
    for _ in range(retries):
        outcome = _stream_once(base_url, token, model, prompt, max_tokens, hang_up_after, seed)
        if outcome.kind != "busy":
            return replace(outcome, seconds=time.perf_counter() - started)
    outcome = _stream_once(base_url, token, model, prompt, max_tokens, hang_up_after, seed)
    return replace(outcome, seconds=time.perf_counter() - started)


def _stream_once(base_url: str, token: str, model: str, prompt: str, max_tokens: int,
                 hang_up_after: int | None, seed: int) -> Outcome:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens, "seed": seed, "stream": True}
    started = time.perf_counter()
    try:
        with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=300,
                          headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status_code == 429:
                message = json.loads(response.read())["error"]["message"]
                time.sleep(float(response.headers["Retry-After"]))  # as the server asked
                return Outcome("busy", time.perf_counter() - started, message)
            if response.status_code != 200:
                return Outcome("error", time.perf_counter() - started,
                               f"HTTP {response.status_code}: {response.read()[:300]!r}")
            pieces, text = 0, []
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    kind = "answered" if "".join(text).strip() else "error"
                    return Outcome(kind, time.perf_counter() - started, "".join(text))
                chunk = json.loads(line[len("data: "):])
                if "error" in chunk:
                    return Outcome("error", time.perf_counter() - started, str(chunk["error"]))
                text.append(chunk["choices"][0]["delta"].get("content") or "")
                pieces += 1
                if hang_up_after is not None and pieces >= hang_up_after:
                    return Outcome("cancelled", time.perf_counter() - started)
            return Outcome("error", time.perf_counter() - started, "stream ended without [DONE]")
    except httpx.HTTPError as exc:
        return Outcome("error", time.perf_counter() - started, repr(exc))


def run_load(base_url: str, token: str, model: str, *, requests: int, clients: int,
             max_tokens: int, hang_up_share: float = 0.5, seed: int = 0, retries: int = 2,
             prompt: str = "A short note about the gulls at the harbour") -> dict[str, Any]:
    """``requests`` streams from ``clients`` threads; a ``hang_up_share`` of them cut off."""
    rng = random.Random(seed)
    plan = [rng.randint(1, max(1, max_tokens // 2)) if rng.random() < hang_up_share else None
            for _ in range(requests)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(
            lambda item: one_request(base_url, token, model, prompt, max_tokens, item[1],
                                     seed + item[0], retries),
            enumerate(plan)))
    counts = Counter(o.kind for o in outcomes)
    answered = sorted(o.seconds for o in outcomes if o.kind == "answered")
    return {
        "requests": requests,
        "clients": clients,
        "max_tokens": max_tokens,
        "planned_hang_ups": sum(p is not None for p in plan),
        "outcomes": dict(counts),
        "errors": [o.detail for o in outcomes if o.kind == "error"],
        "busy_messages": sorted({o.detail for o in outcomes if o.kind == "busy"}),
        "answered_median_s": round(answered[len(answered) // 2], 3) if answered else None,
        "wall_s": round(time.perf_counter() - started, 2),
    }
