"""Training backends: one training loop (:meth:`Backend.train`), the arithmetic per backend.

A backend gets a :class:`TrainPlan` that is already fully decided — tokenized
examples, the exact batch of every step, the learning-rate schedule — so two
backends (or a run and its resumption) differ only in arithmetic, and a resumed
run continues the same sequence of batches it was interrupted in.

The memory plan (:class:`core.adapters.memory.MemoryPlan`: device, dtype, gradient
checkpointing, examples per pass) is given to :meth:`Backend.prepare`; it changes how
a step is computed, never the plan's batches or learning rates.

* ``torch``: peft LoRA on the CPU or a CUDA GPU.
* ``mlx``: mlx-lm LoRA, for Apple Silicon (it also runs, slowly, on Linux CPUs).
"""

from __future__ import annotations

import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.adapters import checkpoint
from core.adapters.config import TrainConfig
from core.adapters.lora import LoraWeights
from core.adapters.memory import MemoryPlan
from core.adapters.tokens import Encoded
from core.errors import InkwellError, JobCancelled
from core.models import ModelInfo


@dataclass(frozen=True)
class TrainPlan:
    config: TrainConfig
    train: list[Encoded]
    val: list[Encoded]
    schedule: list[list[int]]  # for every step, the indices into ``train`` of its batch

    @property
    def total_steps(self) -> int:
        return len(self.schedule)

    def lr(self, step: int, base_lr: float) -> float:
        """Linear warm-up, then linear decay to a tenth: a pure function of the step, for resume."""
        warmup = min(self.config.warmup_steps, max(0, self.total_steps - 1))
        if step < warmup:
            return base_lr * (step + 1) / (warmup + 1)
        return base_lr * max(0.1, 1.0 - (step - warmup) / max(1, self.total_steps - warmup))


# Batches sorted by length together (see ``make_schedule``): enough to find similar lengths,
# few enough that a batch's company still changes from epoch to epoch.
GROUP_BATCHES = 8


def make_schedule(
    train: Sequence[Encoded], steps: int, batch_size: int, seed: int
) -> list[list[int]]:
    """Batches for ``steps`` steps: shuffled epochs back to back, grouped by length.

    A batch is padded to its longest example, and padding is computed like real
    tokens, so examples of similar length go together: each epoch's shuffled
    order is sorted by length within windows of ``GROUP_BATCHES`` batches, and the
    batches of each such stretch are shuffled again, so training does not run from
    short to long.  Every example is still seen once per epoch.  Deterministic in
    ``seed``, so a resumed run continues the same sequence of batches.
    """
    rng = np.random.default_rng(seed)
    size = min(batch_size, len(train))
    window = size * GROUP_BATCHES
    order: list[int] = []
    while len(order) < steps * batch_size:
        epoch = [int(i) for i in rng.permutation(len(train))]
        for start in range(0, len(epoch), window):
            order.extend(sorted(epoch[start : start + window],
                                key=lambda i: len(train[i].input_ids)))
    batches = [order[s * size : (s + 1) * size] for s in range(steps)]
    for start in range(0, steps, GROUP_BATCHES):
        stretch = batches[start : start + GROUP_BATCHES]
        batches[start : start + GROUP_BATCHES] = [stretch[int(i)] for i in
                                                  rng.permutation(len(stretch))]
    return batches


@dataclass(frozen=True)
class StepReport:
    step: int  # steps done
    total: int
    loss: float
    examples_per_s: float


StepCallback = Callable[[StepReport], None]


@dataclass(frozen=True)
class TrainOutcome:
    train_loss: float  # mean loss of the last few steps
    val_loss: float | None
    val_loss_base: float | None  # the untrained base on the same validation examples
    steps: int
    resumed_from: int  # 0 for a fresh run


class Backend(ABC):
    """One way to train LoRA weights.  A backend instance trains one adapter.

    The training loop is :meth:`train`, the same for every backend: resume from the
    checkpoint, the plan's batches and learning rates, a checkpoint every
    ``checkpoint_every`` steps and on cancel, a report after every step.  A backend
    supplies the arithmetic (:meth:`start_training`, :meth:`step`, :meth:`evaluate`)
    and its state as named arrays (:meth:`state`, :meth:`load_state`).
    """

    name: str

    @classmethod
    @abstractmethod
    def available(cls) -> bool:
        """Whether this machine can run the backend (its packages are installed)."""

    @abstractmethod
    def prepare(
        self, model: ModelInfo, cache_dir: Path, config: TrainConfig, memory: MemoryPlan
    ) -> None:
        """Load the dequantized base as ``memory`` says and attach fresh LoRA layers (seeded)."""

    @abstractmethod
    def start_training(self, plan: TrainPlan) -> None:
        """Create the optimizer (before :meth:`load_state` restores its state)."""

    @abstractmethod
    def step(self, batch: list[Encoded], lr: float) -> float:
        """One optimizer step on ``batch`` at learning rate ``lr``; returns the batch's loss.

        The batch goes through the model in the memory plan's passes, their gradients
        accumulated: the same step as one pass, up to rounding."""

    @abstractmethod
    def evaluate(self, examples: list[Encoded]) -> float | None:
        """Token-weighted mean loss on the target tokens of ``examples``; None without examples."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The LoRA weights and optimizer state, as named arrays, for a checkpoint."""

    @abstractmethod
    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state` returned."""

    @abstractmethod
    def export(self) -> LoraWeights:
        """The trained LoRA weights, in PEFT's convention."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``prepare`` took (e.g. remove LoRA layers from a shared base)."""

    def train(
        self,
        plan: TrainPlan,
        checkpoint_dir: Path,
        on_step: StepCallback,
        check_cancelled: Callable[[], None],
    ) -> TrainOutcome:
        """Run the plan, resuming from ``checkpoint_dir`` if it holds a checkpoint.

        Checkpoints every ``config.checkpoint_every`` steps; when ``check_cancelled``
        raises, saves a checkpoint first and lets the exception through.
        """
        self.start_training(plan)
        resumed = checkpoint.load(checkpoint_dir, self.name)
        if resumed is not None:
            self.load_state(resumed.arrays)
            start, losses, val_loss_base = resumed.step, resumed.losses, resumed.val_loss_base
        else:
            start, losses, val_loss_base = 0, [], self.evaluate(plan.val)

        def save(step: int) -> None:
            state = checkpoint.Checkpoint(step, losses, val_loss_base, self.state())
            checkpoint.save(checkpoint_dir, self.name, state)

        t0, seen = time.monotonic(), 0
        for step in range(start, plan.total_steps):
            try:
                check_cancelled()
            except JobCancelled:
                save(step)
                raise
            batch = [plan.train[i] for i in plan.schedule[step]]
            losses.append(self.step(batch, plan.lr(step, plan.config.lr)))
            seen += len(batch)
            done = step + 1
            if done % plan.config.checkpoint_every == 0 and done < plan.total_steps:
                save(done)
            on_step(StepReport(done, plan.total_steps, losses[-1], seen / (time.monotonic() - t0)))
        return TrainOutcome(
            train_loss=mean_tail(losses),
            val_loss=self.evaluate(plan.val),
            val_loss_base=val_loss_base,
            steps=plan.total_steps,
            resumed_from=start,
        )


def choose_backend(name: str = "auto") -> Backend:
    """``auto``: mlx on Apple Silicon when mlx-lm is installed, else torch (CPU or CUDA)."""
    from core import trainer
    from core.adapters.backends.mlx_backend import MlxBackend
    from core.adapters.backends.torch_backend import TorchBackend

    trainer.require()  # both backends train from the base that torch dequantizes (base.py)
    if name == "auto":
        apple = platform.system() == "Darwin" and platform.machine() == "arm64"
        name = "mlx" if apple and MlxBackend.available() else "torch"
    backends: dict[str, type[Backend]] = {"torch": TorchBackend, "mlx": MlxBackend}
    cls = backends.get(name)
    if cls is None:
        raise InkwellError(f"unknown training backend {name!r}; choose auto, torch or mlx")
    if not cls.available():
        hint = " (install it with: pip install 'inkwell[mlx]')" if name == "mlx" else ""
        raise InkwellError(f"the {name} training backend is not installed on this machine{hint}")
    return cls()


def mean_tail(losses: list[float], n: int = 5) -> float:
    tail = losses[-n:]
    return float(sum(tail) / len(tail)) if tail else float("nan")
