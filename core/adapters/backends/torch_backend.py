"""peft LoRA training with torch: CPU (float32) or CUDA (bf16), chosen automatically.

A plain loop rather than ``transformers.Trainer``: the loop must follow the
plan's batches exactly (determinism, resume), check for cancellation between
steps, checkpoint only the LoRA weights and optimizer state (a few MB), and
report progress in Inkwell's terms.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.adapters.backends import (
    CHECKPOINT_FILE,
    Backend,
    StepCallback,
    StepReport,
    TrainOutcome,
    TrainPlan,
    checkpoint_file,
    mean_tail,
)
from core.adapters.base import borrow_base
from core.adapters.config import TrainConfig
from core.adapters.lora import LoraWeights, module_targets
from core.adapters.tokens import Encoded
from core.errors import JobCancelled
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

    def _lora_params(self) -> dict[str, Any]:
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

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

    def train(
        self,
        plan: TrainPlan,
        checkpoint_dir: Path,
        on_step: StepCallback,
        check_cancelled: Callable[[], None],
    ) -> TrainOutcome:
        import torch

        params = self._lora_params()
        optimizer = torch.optim.AdamW(params.values(), lr=plan.config.lr, weight_decay=0.0)
        ckpt = checkpoint_dir / CHECKPOINT_FILE
        state: dict[str, Any] = {"step": 0, "losses": [], "val_loss_base": None}
        if ckpt.exists():
            state = torch.load(ckpt, map_location=self.device, weights_only=False)
            with torch.no_grad():
                for name, value in state["lora"].items():
                    params[name].copy_(value)
            optimizer.load_state_dict(state["optimizer"])
        else:
            state["val_loss_base"] = self.evaluate(plan.val)
        start = int(state["step"])
        losses: list[float] = list(state["losses"])

        def checkpoint(step: int) -> None:
            buffer = io.BytesIO()  # written by Python, so a full disk is an OSError with errno
            torch.save(
                {
                    "step": step,
                    "losses": losses,
                    "val_loss_base": state["val_loss_base"],
                    "lora": {n: p.detach().cpu() for n, p in params.items()},
                    "optimizer": optimizer.state_dict(),
                },
                buffer,
            )
            with checkpoint_file(ckpt) as tmp:
                tmp.write_bytes(buffer.getvalue())

        self.model.train()
        t0, seen = time.monotonic(), 0
        for step in range(start, plan.total_steps):
            try:
                check_cancelled()
            except JobCancelled:
                checkpoint(step)
                raise
            batch = collate([plan.train[i] for i in plan.schedule[step]], self.device)
            for group in optimizer.param_groups:
                group["lr"] = plan.lr(step, plan.config.lr)
            loss = self.model(**batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            seen += len(plan.schedule[step])
            done = step + 1
            if done % plan.config.checkpoint_every == 0 and done < plan.total_steps:
                checkpoint(done)
            on_step(StepReport(done, plan.total_steps, losses[-1], seen / (time.monotonic() - t0)))
        return TrainOutcome(
            train_loss=mean_tail(losses),
            val_loss=self.evaluate(plan.val),
            val_loss_base=state["val_loss_base"],
            steps=plan.total_steps,
            resumed_from=start,
        )

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
