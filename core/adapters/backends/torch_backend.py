"""peft LoRA training with torch, on the device, in the dtype and with the gradient
checkpointing and passes per step the memory plan chose (:mod:`core.adapters.memory`).

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
from core.adapters.memory import MemoryPlan
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


def _targets(batch: dict[str, Any]) -> int:
    """How many tokens the loss of a collated batch covers (labels are shifted by one)."""
    return int((batch["labels"][:, 1:] != -100).sum())


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
        self.micro_batch = 1
        self._params: dict[str, Any] = {}
        self._optimizer: Any = None

    def prepare(
        self, model: ModelInfo, cache_dir: Path, config: TrainConfig, memory: MemoryPlan
    ) -> None:
        import torch
        from peft import LoraConfig, get_peft_model

        self.config = config
        self.device, self.micro_batch = memory.device, memory.micro_batch
        base = self._stack.enter_context(
            borrow_base(model, cache_dir, device=memory.device, dtype=memory.dtype)
        )
        torch.manual_seed(config.seed)  # LoRA A is initialised randomly; B starts at zero
        lora = LoraConfig(
            r=config.r,
            lora_alpha=config.alpha,
            target_modules=module_targets(model.architecture, config.target_modules),
            lora_dropout=0.0,  # no dropout: a resumed run then repeats the uninterrupted one
            bias="none",
            task_type="CAUSAL_LM",
        )
        # On a bfloat16 base peft keeps the LoRA weights in float32 (autocast_adapter_dtype),
        # so AdamW's updates are not rounded away.
        self.model = get_peft_model(base, lora)
        self._stack.callback(self._unload)
        if memory.checkpointing:
            # Non-reentrant checkpointing needs no gradient on the inputs; the shared base
            # must not keep it for the next borrower.
            base.activation_checkpointing_enable(
                activation_checkpointing_kwargs={"use_reentrant": False}
            )
            self._stack.callback(base.activation_checkpointing_disable)

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
            for part in self._passes(examples):
                n = _targets(part)
                total += float(self.model(**part, use_cache=False).loss) * n
                count += n
        return total / max(count, 1)

    def start_training(self, plan: TrainPlan) -> None:
        import torch

        self._params = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self._optimizer = torch.optim.AdamW(
            self._params.values(), lr=plan.config.lr, weight_decay=0.0
        )

    def _passes(self, batch: list[Encoded]) -> list[dict[str, Any]]:
        """``batch`` in the memory plan's passes of ``micro_batch`` examples."""
        m = self.micro_batch
        return [collate(batch[i : i + m], self.device) for i in range(0, len(batch), m)]

    def step(self, batch: list[Encoded], lr: float) -> float:
        """One optimizer step; the passes' gradients are accumulated weighted by their target
        tokens, so the step is the one a single pass over ``batch`` would take."""
        self.model.train()
        for group in self._optimizer.param_groups:
            group["lr"] = lr
        passes = self._passes(batch)
        counts = [_targets(p) for p in passes]
        total, loss_sum = sum(counts), 0.0
        for part, n in zip(passes, counts, strict=True):
            if n == 0:
                continue
            loss = self.model(**part, use_cache=False).loss
            (loss * (n / total)).backward()
            loss_sum += float(loss.detach()) * n
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)
        return loss_sum / max(total, 1)

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
