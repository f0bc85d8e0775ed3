"""Parity check: llama.cpp + GGUF adapter against torch + PEFT adapter.

The adapter is trained in torch on the dequantized base and used in llama.cpp
on the quantized GGUF; an export bug (a missing q/k permutation, a wrong
scale, transposed factors) still loads without complaint and silently computes
something else.  So both runtimes score the same token ids and their
next-token logits are compared.  A prompt passes when

* the logits correlate at >= 0.99,
* the top-5 tokens are the same, up to ties: llama.cpp runs the quantized
  weights with quantized activations, so its logits differ from the float
  reference by noise (even without an adapter, two tokens 0.01 apart at rank
  5/6 swap places).  A token in one side's top 5 that is missing from the
  other's still counts when, on that other side, it is within three standard
  deviations of the *base model's* llama.cpp-vs-torch difference of the 5th
  logit — a noise floor measured on the same prompt without the adapter;
* the adapter adds no error of its own: the spread of llama.cpp - torch
  logits with the adapter is at most 1.5x the spread without it.  The base's
  logits dominate the plain correlation, which can stay near 0.99 with a
  broken adapter.  Measured on SmolLM2 with a q/k-only LoRA: without the q/k
  permutation the ratio is ~4 (correct export: 0.98-1.1), and the plain
  correlation still 0.986-0.991.  A ratio rather than a correlation of the
  adapter's effect, because a weak (few-step) adapter's effect is the size of
  the quantization noise, and so is its effect correlation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.adapters.base import borrow_base, torch_device
from core.adapters.store import AdapterRecord
from core.adapters.tokens import vocab_for
from core.errors import InkwellError
from core.models import ModelInfo

MIN_CORRELATION = 0.99
MAX_ERROR_RATIO = 1.5
TOP_K = 5
NOISE_SIGMAS = 3.0
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
    error_ratio: float  # std(llama - torch) with the adapter / the same without it
    effect_correlation: float  # of (adapter - base) logits, llama.cpp vs torch (reported)
    effect_size: float  # max |adapter - base| in llama.cpp: does the adapter change anything?
    top_llama: list[int]
    top_torch: list[int]
    same_top: bool  # top-5 sets equal up to ties within the noise floor
    same_top_strict: bool  # top-5 sets equal exactly
    noise: float  # the tie tolerance: NOISE_SIGMAS x std of the base's llama.cpp - torch logits

    @property
    def passed(self) -> bool:
        return (
            self.correlation >= MIN_CORRELATION
            and self.error_ratio <= MAX_ERROR_RATIO
            and self.same_top
        )


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
            "thresholds": {"correlation": MIN_CORRELATION, "error_ratio": MAX_ERROR_RATIO},
            "prompts": [{**asdict(p), "passed": p.passed} for p in self.prompts],
        }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


def _top(logits: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-logits)[:TOP_K]]


def _covered(top: list[int], other: np.ndarray, tolerance: float) -> bool:
    """Whether each of ``top`` is in ``other``'s top-k or tied with its k-th logit."""
    kth = float(np.sort(other)[-TOP_K])
    return all(other[t] >= kth - tolerance for t in top)


def torch_logits(
    record: AdapterRecord, model: ModelInfo, cache_dir: Path, token_ids: list[list[int]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(adapter, base) next-token logits from torch + the PEFT folder, for each id sequence."""
    import torch
    from peft import PeftModel

    out = []
    # float32 on any device: the reference for llama.cpp, whatever dtype trained the adapter
    with borrow_base(model, cache_dir, device=torch_device(), dtype="float32") as base:
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
    from core import trainer
    from core.runtime import ActiveAdapter, get_runtime

    trainer.require()

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
        base_noise = float(np.std(l_base - t_base))
        noise = NOISE_SIGMAS * base_noise
        top_l, top_t = _top(l_ad), _top(t_ad)
        results.append(
            PromptParity(
                prompt=prompt,
                correlation=_corr(l_ad, t_ad),
                error_ratio=float(np.std(l_ad - t_ad)) / max(base_noise, 1e-9),
                effect_correlation=_corr(l_ad - l_base, t_ad - t_base),
                effect_size=float(np.abs(l_ad - l_base).max()),
                top_llama=top_l,
                top_torch=top_t,
                same_top=_covered(top_l, t_ad, noise) and _covered(top_t, l_ad, noise),
                same_top_strict=set(top_l) == set(top_t),
                noise=noise,
            )
        )
    return ParityReport(record.id, model.name, results)
