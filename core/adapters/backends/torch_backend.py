"""peft LoRA training with torch: CPU (float32) or CUDA (bf16), chosen automatically.

Inkwell's own loop (:meth:`Backend.train`) rather than ``transformers.Trainer``:
the loop must follow the plan's batches exactly (determinism, resume), check for
cancellation between steps, checkpoint only the LoRA weights and optimizer state
(a few MB), and report progress in Inkwell's terms.  This module supplies one
optimizer step and the state to checkpoint.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from core.adapters.backends import Backend, TrainPlan
from core.adapters.base import borrow_base
from core.adapters.config import TrainConfig
from core.adapters.lora import LoraWeights, module_targets
from core.adapters.tokens import Encoded
from core.models import ModelInfo

_PEFT_PREFIX = "base_model.model."


def collate(batch: list[Encoded], device: str) -> dict[str, Any]:
    """Right-padded ids, attention mask, and labels that cover the target tokens only.

    The padding id is irrelevant (masked out, and never a label), so it is 0.
    """
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, e.n_prompt : n] = ids[row, e.n_prompt : n]
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "labels": labels.to(device),
    }


class TorchBackend(Backend):
    name = "torch"

    @classmethod
    def available(cls) -> bool:
        return True  # torch and peft are core dependencies

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.model: Any = None
        self.config = TrainConfig()
        self.device = "cpu"
        self._params: dict[str, Any] = {}
        self._optimizer: Any = None

    def prepare(self, model: ModelInfo, cache_dir: Path, config: TrainConfig) -> None:
        import torch
        from peft import LoraConfig, get_peft_model

        self.config = config
        base = self._stack.enter_context(borrow_base(model, cache_dir))
        self.device = str(base.device.type)
        torch.manual_seed(config.seed)  # LoRA A is initialised randomly; B starts at zero
        lora = LoraConfig(
            r=config.r,
            lora_alpha=config.alpha,
            target_modules=module_targets(model.architecture, config.target_modules),
            lora_dropout=0.0,  # no dropout: a resumed run then repeats the uninterrupted one
            bias="none",
            task_type="CAUSAL_LM",
        )
        self.model = get_peft_model(base, lora)
        self._stack.callback(self._unload)

    def _unload(self) -> None:
        self.model.unload()  # restores the shared base's original linear modules
        self.model = None

    def evaluate(self, examples: list[Encoded]) -> float | None:
        """Token-weighted mean loss on the target tokens of ``examples``."""
        import torch

        if not examples:
            return None
        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(examples), self.config.batch_size):
                batch = collate(examples[i : i + self.config.batch_size], self.device)
                n = int((batch["labels"][:, 1:] != -100).sum())
                total += float(self.model(**batch).loss) * n
                count += n
        return total / max(count, 1)

    def start_training(self, plan: TrainPlan) -> None:
        import torch

        self._params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self._optimizer = torch.optim.AdamW(
            self._params.values(), lr=plan.config.lr, weight_decay=0.0
        )

    def step(self, batch: list[Encoded], lr: float) -> float:
        self.model.train()
        for group in self._optimizer.param_groups:
            group["lr"] = lr
        loss = self.model(**collate(batch, self.device)).loss
        loss.backward()
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def state(self) -> dict[str, np.ndarray]:
        # float32 on the CPU: exact for bf16 (CUDA) as well, and numpy has no bf16.
        arrays = {f"lora.{n}": p.detach().float().cpu().numpy() for n, p in self._params.items()}
        for index, values in self._optimizer.state_dict()["state"].items():
            for key, value in values.items():
                arrays[f"optim.{index}.{key}"] = value.detach().float().cpu().numpy()
        return arrays

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        optim: dict[int, dict[str, Any]] = {}
        with torch.no_grad():
            for key, value in arrays.items():
                kind, _, rest = key.partition(".")
                if kind == "lora":
                    self._params[rest].copy_(torch.tensor(value))
                elif kind == "optim":
                    index, _, name = rest.partition(".")
                    optim.setdefault(int(index), {})[name] = torch.tensor(value)
        groups = self._optimizer.state_dict()["param_groups"]
        # load_state_dict moves each state tensor to its parameter's device and dtype.
        self._optimizer.load_state_dict({"state": optim, "param_groups": groups})

    def export(self) -> LoraWeights:
        from peft.tuners.lora import LoraLayer

        modules = {}
        for name, module in self.model.named_modules():
            if isinstance(module, LoraLayer):
                layer: Any = module
                a = layer.lora_A["default"].weight.detach().float().cpu().numpy()
                b = layer.lora_B["default"].weight.detach().float().cpu().numpy()
                modules[name.removeprefix(_PEFT_PREFIX)] = (a, b)
        return LoraWeights(self.config.r, self.config.alpha, modules)

    def close(self) -> None:
        self._stack.close()
