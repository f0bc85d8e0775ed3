"""mlx-lm LoRA training, for Apple Silicon (mlx also runs, slowly, on Linux CPUs).

It trains from the same dequantized Hugging Face folder as the torch backend
(mlx cannot read K-quant GGUFs).  mlx-lm's LoRA computes ``scale * x A' B'``
with ``A' = A^T`` (in, r) and ``B' = B^T`` (r, out); using ``scale = alpha / r``
makes that exactly PEFT's parametrisation (mlx-lm also initialises A uniformly
in +-1/sqrt(in) and B at zero), so the learning rate means the same in both
backends and the export is a transpose.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from core.adapters.backends import Backend, TrainPlan
from core.adapters.base import base_dir
from core.adapters.config import TrainConfig
from core.adapters.lora import LoraWeights
from core.adapters.memory import MemoryPlan
from core.adapters.tokens import Encoded
from core.models import ModelInfo

_ATTENTION = {"q_proj", "k_proj", "v_proj", "o_proj"}


def _batch(batch: list[Encoded]) -> tuple[Any, Any, Any]:
    """Inputs, next-token targets, and a mask that is 1 on target tokens only."""
    import mlx.core as mx

    width = max(len(e.input_ids) for e in batch)
    ids = np.zeros((len(batch), width), dtype=np.int32)
    mask = np.zeros((len(batch), width - 1), dtype=np.float32)
    for row, e in enumerate(batch):
        ids[row, : len(e.input_ids)] = e.input_ids
        mask[row, max(0, e.n_prompt - 1) : len(e.input_ids) - 1] = 1.0
    return mx.array(ids[:, :-1]), mx.array(ids[:, 1:]), mx.array(mask)


class MlxBackend(Backend):
    name = "mlx"

    @classmethod
    def available(cls) -> bool:
        # mlx-lm pulls in mlx only on macOS; Linux needs the separate ``mlx[cpu]`` wheel.
        return all(importlib.util.find_spec(m) is not None for m in ("mlx", "mlx_lm"))

    def __init__(self) -> None:
        self.model: Any = None
        self.config = TrainConfig()
        self.micro_batch = 1
        self._optimizer: Any = None
        self._loss_and_grad: Any = None

    def prepare(
        self, model: ModelInfo, cache_dir: Path, config: TrainConfig, memory: MemoryPlan
    ) -> None:
        import mlx.core as mx
        from mlx_lm import load
        from mlx_lm.tuner.utils import linear_to_lora_layers

        self.config, self.micro_batch = config, memory.micro_batch
        self.model = load(str(base_dir(model, cache_dir)))[0]
        self.model.freeze()
        mx.random.seed(config.seed)
        keys = [f"{'self_attn' if m in _ATTENTION else 'mlp'}.{m}" for m in config.target_modules]
        linear_to_lora_layers(
            self.model,
            len(self.model.layers),
            {"rank": config.r, "scale": config.alpha / config.r, "dropout": 0.0, "keys": keys},
        )

    def _loss(self, model: Any, inputs: Any, targets: Any, mask: Any) -> Any:
        import mlx.nn as nn

        ce = nn.losses.cross_entropy(model(inputs), targets) * mask
        return ce.sum() / mask.sum()

    def evaluate(self, examples: list[Encoded]) -> float | None:
        if not examples:
            return None
        self.model.eval()
        total, count = 0.0, 0.0
        for i in range(0, len(examples), self.micro_batch):
            inputs, targets, mask = _batch(examples[i : i + self.micro_batch])
            n = float(mask.sum().item())
            total += float(self._loss(self.model, inputs, targets, mask).item()) * n
            count += n
        return total / max(count, 1.0)

    def start_training(self, plan: TrainPlan) -> None:
        import mlx.nn as nn
        import mlx.optimizers as optim

        self._optimizer = optim.AdamW(learning_rate=plan.config.lr, weight_decay=0.0)
        self._optimizer.init(self.model.trainable_parameters())
        self._loss_and_grad = nn.value_and_grad(self.model, self._loss)

    def step(self, batch: list[Encoded], lr: float) -> float:
        """One optimizer step over the memory plan's passes, gradients weighted by target tokens."""
        import mlx.core as mx
        from mlx.utils import tree_map

        self.model.train()
        self._optimizer.learning_rate = mx.array(lr)
        m = self.micro_batch
        passes = [_batch(batch[i : i + m]) for i in range(0, len(batch), m)]
        counts = [float(mask.sum().item()) for _inputs, _targets, mask in passes]
        total, loss_sum, grads = sum(counts), 0.0, None
        for (inputs, targets, mask), n in zip(passes, counts, strict=True):
            if n == 0:
                continue
            loss, part = self._loss_and_grad(self.model, inputs, targets, mask)
            part = tree_map(lambda g, w=n / total: g * w, part)
            grads = part if grads is None else tree_map(lambda a, b: a + b, grads, part)
            loss_sum += float(loss.item()) * n
        self._optimizer.update(self.model, grads)
        mx.eval(self.model.parameters(), self._optimizer.state)
        return loss_sum / max(total, 1.0)

    def state(self) -> dict[str, np.ndarray]:
        from mlx.utils import tree_flatten

        lora: Any = tree_flatten(self.model.trainable_parameters())
        optim: Any = tree_flatten(self._optimizer.state)
        return {**{f"lora.{k}": np.array(v) for k, v in lora},
                **{f"optim.{k}": np.array(v) for k, v in optim}}

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        import mlx.core as mx
        from mlx.utils import tree_unflatten

        def part(prefix: str) -> Any:
            return tree_unflatten([(k.removeprefix(prefix), mx.array(v))
                                   for k, v in arrays.items() if k.startswith(prefix)])

        self.model.update(part("lora."))
        self._optimizer.state = part("optim.")

    def export(self) -> LoraWeights:
        from mlx.utils import tree_flatten

        flat = dict(tree_flatten(self.model.trainable_parameters()))
        modules = {}
        for key, a in flat.items():
            if key.endswith(".lora_a"):
                module = key.removesuffix(".lora_a")
                b = flat[module + ".lora_b"]
                modules[module] = (
                    np.array(a, dtype=np.float32).T.copy(),
                    np.array(b, dtype=np.float32).T.copy(),
                )
        return LoraWeights(self.config.r, self.config.alpha, modules)
