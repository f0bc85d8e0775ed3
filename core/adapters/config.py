"""Training hyper-parameters and the step budget they imply.

Defaults follow the paper/OPPU recipe (r=8, alpha 16, attention and MLP
projections, a few epochs) adjusted for CPU: with a 135M-270M model on two cores
a step costs seconds, so the number of epochs shrinks as the profile grows and
the total number of steps is capped.  A per-user adapter for the evaluation has
to finish in a minute or two, and the paper's finding is that PEFT's gain comes
from users with much data, where one pass already sees every item.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.errors import InkwellError

# Every linear projection of a decoder block.  Never lm_head or the embeddings:
# both bundled models tie them, and llama.cpp's LoRA format has no place for them.
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class TrainConfig:
    """What to train and for how long.  ``steps`` (if set) overrides the epoch policy."""

    r: int = 8
    alpha: int = 16
    target_modules: tuple[str, ...] = ALL_LINEAR
    lr: float = 3e-4  # the same for both backends: mlx is run with scale = alpha / r
    epochs: float | None = None  # None: scaled to the amount of data (see ``planned_steps``)
    steps: int | None = None
    max_steps: int = 60  # cap of the automatic policy; an explicit ``steps`` is not capped
    batch_size: int = 4
    max_len: int = 160  # tokens per example; the input is cut, never the target
    seed: int = 0
    warmup_steps: int = 2
    min_examples: int = 4
    val_fraction: float = 0.1
    max_val: int = 16
    checkpoint_every: int = 5
    backend: str = "auto"  # "auto", "torch" or "mlx"
    extra: dict[str, Any] = field(default_factory=dict)  # recorded, not interpreted

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0:
            raise InkwellError(
                f"LoRA rank must be >= 1 and alpha > 0 (got r={self.r}, alpha={self.alpha})"
            )
        if self.epochs is not None and self.steps is not None:
            raise InkwellError("give either epochs or steps, not both")
        if self.epochs is not None and self.epochs <= 0:
            raise InkwellError(f"epochs must be positive (got {self.epochs})")
        if self.steps is not None and self.steps < 1:
            raise InkwellError(f"steps must be at least 1 (got {self.steps})")
        bad = [m for m in self.target_modules if m not in ALL_LINEAR]
        if bad:
            raise InkwellError(
                f"cannot train LoRA on {', '.join(bad)}: only the decoder's linear projections "
                f"({', '.join(ALL_LINEAR)}) can be exported to llama.cpp"
            )
        if self.backend not in ("auto", "torch", "mlx"):
            raise InkwellError(f"unknown backend {self.backend!r}; choose auto, torch or mlx")

    def default_epochs(self, n_train: int) -> float:
        """Epochs scaled to the data: small profiles get several passes, large ones one."""
        return float(min(4, max(1, round(120 / max(n_train, 1)))))

    def planned_steps(self, n_train: int) -> int:
        if self.steps is not None:
            return self.steps
        steps_per_epoch = math.ceil(n_train / self.batch_size)
        epochs = self.epochs if self.epochs is not None else self.default_epochs(n_train)
        total = max(1, math.ceil(epochs * steps_per_epoch))
        return total if self.epochs is not None else min(total, self.max_steps)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "target_modules" in kwargs:
            kwargs["target_modules"] = tuple(kwargs["target_modules"])
        return cls(**kwargs)
