"""A fake writing model for tests that are about something else (llm's ``MockModel``).

A test of the window's streaming, stopping or closing needs *a* model that
writes, not llama.cpp: loading SmolLM2 and generating with it is what the model
tests (tests/test_runtime.py, the slow desktop tests) are for.  ``FakeModel``
answers the calls the :class:`~core.writer.Writer` makes of a
:class:`~core.runtime.ModelRuntime` and writes a fixed reply a word at a time,
at a steady pace, honouring the token limit, the stop strings and the cancel
token as the real runtime does.  Sampling (a temperature above 0) shuffles the
reply's words by the seed, so sampled answers differ as a real model's do; a
score is a deterministic stand-in for a log-probability.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator, Sequence

from core.jobs import CancelToken
from core.runtime import ActiveAdapter, GenerationParams

REPLY = ("The harbour was quiet at dawn, and the gulls followed the ferry out past the "
         "breakwater while I counted them from the quay.")
END = "<|end|>"


class FakeModel:
    """Writes ``reply`` (repeated up to ``max_tokens`` words), ``seconds_per_token`` apart."""

    context_length = 4096
    has_chat_template = True

    def __init__(self, reply: str = REPLY, seconds_per_token: float = 0.01) -> None:
        self.reply = reply
        self.seconds_per_token = seconds_per_token
        self.prompts: list[str] = []  # what the writer sent, in order
        self.prefilled: list[str] = []  # prompts evaluated ahead of their request, in order

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def render(self, user: str, system: str | None = None,
               history: Sequence[tuple[str, str]] = ()) -> tuple[str, tuple[str, ...]]:
        turns = [f"system: {system}"] if system else []
        for asked, answered in history:
            turns += [f"user: {asked}", f"assistant: {answered}{END}"]
        turns += [f"user: {user}", "assistant:"]
        return "\n".join(turns), (END,)

    def prefill(self, prompt: str, adapter: ActiveAdapter | None = None,
                cancel: CancelToken | None = None, head: str = "") -> None:
        if cancel is None or not cancel.cancelled:
            self.prefilled.append(prompt)

    def stream(self, prompt: str, params: GenerationParams, adapter: ActiveAdapter | None = None,
               cancel: CancelToken | None = None, head: str = "") -> Iterator[str]:
        self.prompts.append(prompt)
        words = self.reply.split()
        if params.temperature > 0:
            random.Random(params.seed).shuffle(words)
        written = ""
        for word in itertools.islice(itertools.cycle(words), params.max_tokens):
            if cancel is not None and cancel.cancelled:
                return
            piece = f" {word}" if written else word
            if any(stop in written + piece for stop in params.stop):
                return
            time.sleep(self.seconds_per_token)
            written += piece
            yield piece


    def score(self, prompt: str, continuations: Sequence[str],
              adapter: ActiveAdapter | None = None, head: str = "") -> list[float]:
        """Shorter continuations score higher (a real model's mean log-probability differs)."""
        return [-len(text) / 100 for text in continuations]
