"""Parity check: llama.cpp + GGUF adapter against torch + PEFT adapter.

The adapter is trained in torch on the dequantized base and used in llama.cpp
on the quantized GGUF; an export bug (a missing q/k permutation, a wrong
scale, transposed factors) still loads without complaint and silently computes
something else.  So both runtimes score the same token ids and their
next-token logits are compared: correlation >= 0.99 and the same top-5 tokens
pass.  The correlation of the adapter's *effect* (adapter logits minus base
logits, on each side) is reported too, because the base's logits alone can
keep the plain correlation high while the adapter's contribution is wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.adapters.base import borrow_base
from core.adapters.store import AdapterRecord
from core.adapters.tokens import vocab_for
from core.errors import InkwellError
from core.models import ModelInfo

MIN_CORRELATION = 0.99
TOP_K = 5
PROMPTS = (
    "Write the subject line for this commit message body: The parser crashed when the "
    "configuration file was empty, because it assumed at least one section.\n",
    "Generate a title for the following abstract of a proposal: We propose a way for packages "
    "to declare optional features, so installers can resolve them without running code.\n",
    "Dear team, after the review last week I went through the open questions and",
)


@dataclass(frozen=True)
class PromptParity:
    prompt: str
    correlation: float
    effect_correlation: float  # of (adapter - base) logits, llama.cpp vs torch
    effect_size: float  # max |adapter - base| in llama.cpp: does the adapter change anything?
    top_llama: list[int]
    top_torch: list[int]

    @property
    def same_top(self) -> bool:
        return set(self.top_llama) == set(self.top_torch)

    @property
    def passed(self) -> bool:
        return self.correlation >= MIN_CORRELATION and self.same_top


@dataclass(frozen=True)
class ParityReport:
    adapter_id: str
    model: str
    prompts: list[PromptParity]

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.prompts)

    @property
    def min_correlation(self) -> float:
        return min(p.correlation for p in self.prompts)

    def to_json(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter_id,
            "model": self.model,
            "passed": self.passed,
            "min_correlation": self.min_correlation,
            "threshold": MIN_CORRELATION,
            "prompts": [
                {**asdict(p), "same_top5": p.same_top, "passed": p.passed} for p in self.prompts
            ],
        }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


def _top(logits: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-logits)[:TOP_K]]


def torch_logits(
    record: AdapterRecord, model: ModelInfo, cache_dir: Path, token_ids: list[list[int]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(adapter, base) next-token logits from torch + the PEFT folder, for each id sequence."""
    import torch
    from peft import PeftModel

    out = []
    with borrow_base(model, cache_dir) as base:
        peft_model = PeftModel.from_pretrained(base, str(record.peft_dir))
        try:
            peft_model.eval()
            with torch.no_grad():
                for ids in token_ids:
                    x = torch.tensor([ids], device=base.device)
                    adapted = peft_model(input_ids=x).logits[0, -1].float().cpu().numpy()
                    with peft_model.disable_adapter():
                        plain = peft_model(input_ids=x).logits[0, -1].float().cpu().numpy()
                    out.append((adapted, plain))
        finally:
            peft_model.unload()
    return out


def verify_adapter(
    record: AdapterRecord, model: ModelInfo, cache_dir: Path, prompts: tuple[str, ...] = PROMPTS
) -> ParityReport:
    """Compare llama.cpp and torch next-token logits with the adapter on ``prompts``."""
    from core.runtime import ActiveAdapter, get_runtime

    if model.sha256 != record.base_sha256:
        raise InkwellError(
            f"adapter {record.id!r} was made for a base model with SHA-256 "
            f"{record.base_sha256[:12]}…, but {model.name!r} ({model.path}) has "
            f"{model.sha256[:12]}…"
        )
    vocab = vocab_for(model)
    texts = [vocab.render(p) for p in prompts]
    runtime = get_runtime(model, logits_all=True)
    adapter = ActiveAdapter(record.gguf_path)
    llama = [
        (runtime.next_token_logits(t, adapter), runtime.next_token_logits(t, None)) for t in texts
    ]
    reference = torch_logits(record, model, cache_dir, [vocab.prompt_ids(p) for p in prompts])
    results = []
    for prompt, (l_ad, l_base), (t_ad, t_base) in zip(prompts, llama, reference, strict=True):
        n = min(len(l_ad), len(t_ad))  # torch may pad the vocabulary
        l_ad, l_base, t_ad, t_base = l_ad[:n], l_base[:n], t_ad[:n], t_base[:n]
        results.append(
            PromptParity(
                prompt=prompt,
                correlation=_corr(l_ad, t_ad),
                effect_correlation=_corr(l_ad - l_base, t_ad - t_base),
                effect_size=float(np.abs(l_ad - l_base).max()),
                top_llama=_top(l_ad),
                top_torch=_top(t_ad),
            )
        )
    return ParityReport(record.id, model.name, results)
