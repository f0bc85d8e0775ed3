"""Tokenizing training examples with the model's own llama.cpp vocabulary.

Training and inference must agree token for token: a Hugging Face tokenizer
rebuilt from GGUF metadata may split text or add BOS differently from llama.cpp.
So the examples are tokenized by llama.cpp itself (vocabulary only: no weights,
no context) and rendered with the chat template stored in the GGUF, the same
way :class:`core.runtime.ModelRuntime` renders a user turn.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from typing import Any

from core.adapters.data import Example
from core.models import ModelInfo


@dataclass(frozen=True)
class Encoded:
    """Token ids of prompt + target; the loss covers ``input_ids[n_prompt:]`` only."""

    input_ids: tuple[int, ...]
    n_prompt: int

    @property
    def n_target(self) -> int:
        return len(self.input_ids) - self.n_prompt


class Vocab:
    """llama.cpp's tokenizer for one GGUF, and its chat template (if it has one)."""

    def __init__(self, model: ModelInfo) -> None:
        import llama_cpp

        from core.runtime import ensure_llama_backends

        ensure_llama_backends()
        self.llama: Any = llama_cpp.Llama(
            model_path=str(model.path), vocab_only=True, verbose=False
        )
        template = (
            self.llama.metadata.get("tokenizer.chat_template") if model.chat_template else None
        )
        self._formatter: Any = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._formatter = Jinja2ChatFormatter(
                template,
                eos_token=self.piece(self.llama.token_eos()),
                bos_token=self.piece(self.llama.token_bos()),
            )
        self.eos = int(self.llama.token_eos())

    def piece(self, token: int) -> str:
        return bytes(self.llama.detokenize([token], special=True)).decode("utf-8", "ignore")

    def tokenize(self, text: str, bos: bool = False, special: bool = False) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=bos, special=special))

    def detokenize(self, ids: list[int], special: bool = False) -> str:
        return bytes(self.llama.detokenize(ids, special=special)).decode("utf-8", "ignore")

    def render(self, prompt: str) -> str:
        """The model's input for one user turn: the chat template's, or the prompt as it is."""
        if self._formatter is None:
            return prompt
        return str(self._formatter(messages=[{"role": "user", "content": prompt}]).prompt)

    def prompt_ids(self, prompt: str, rendered: bool = False) -> list[int]:
        """Tokens of a rendered prompt exactly as ``ModelRuntime.next_token_logits`` makes them."""
        return self.tokenize(prompt if rendered else self.render(prompt), bos=True, special=True)

    def encode(self, example: Example, max_len: int) -> Encoded:
        """Prompt tokens + target tokens + EOS, cutting the user's content to fit ``max_len``.

        The target keeps at most half the budget; the content is cut at a token
        boundary (and re-tokenized, since cutting can change the split).
        """
        target = [*self.tokenize(example.target)[: max(1, max_len // 2) - 1], self.eos]
        content = example.content
        prompt = self.prompt_ids(example.prefix + content + example.suffix, example.rendered)
        while len(prompt) + len(target) > max_len and content:
            content_ids = self.tokenize(content)
            overflow = len(prompt) + len(target) - max_len
            content = self.detokenize(content_ids[: max(0, len(content_ids) - overflow - 1)])
            prompt = self.prompt_ids(example.prefix + content + example.suffix, example.rendered)
        ids = (prompt + target)[-max_len:]
        return Encoded(tuple(ids), max(0, len(ids) - len(target)))


_VOCABS: dict[str, Vocab] = {}
_LOCK = threading.Lock()


def vocab_for(model: ModelInfo) -> Vocab:
    """The process-wide vocabulary of ``model`` (cheap to keep: no weights are loaded)."""
    with _LOCK:
        vocab = _VOCABS.get(model.sha256)
        if vocab is None:
            vocab = _VOCABS[model.sha256] = Vocab(model)
        return vocab


@atexit.register
def _close_vocabs() -> None:
    """Free them before interpreter shutdown (see ``core.runtime.unload_all`` for why)."""
    with _LOCK:
        for vocab in _VOCABS.values():
            vocab.llama.close()
        _VOCABS.clear()
