"""Benchmark: Inkwell's LoRA training throughput against the machine's matmul peak and a plain loop.

In one process, on the bundled SmolLM2 and the same examples (one real user's profile):

1. the machine's peak: a torch float32 matmul microbenchmark (square and model-shaped
   products, the same thread count as training);
2. Inkwell's trainer, the real :meth:`Backend.train` path with its own plan (batches from
   ``make_schedule``);
3. the anchor a user would write: transformers + peft, the same LoRA config and seed,
   the same batch size and learning rates, float32, shuffled batches padded to the
   longest example of each batch (a ``DataLoader`` with ``shuffle=True``), the same token ids.

The two trainers alternate step by step (the plain loop takes its step inside Inkwell's
per-step callback), so load from other processes hits both alike.  Reported per trainer:
tokens/s (real tokens, and padded tokens computed), examples/s, GFLOP/s, the fraction of the
measured peak, and the loss curves (every step, and validation loss before and after).

FLOPs per token for LoRA training (frozen base, adapters on every linear projection):
forward 2·N, backward 2·N for the activation gradients (frozen weights need no weight
gradient), so 4·N with N the weights used as matmuls per token (the decoder's linear
layers and the output projection, which SmolLM2 ties to the embedding); plus attention,
forward 2·L·T·d per token on average over a causal sequence of T tokens (scores and
weighted values), backward twice that; the adapters' own cost (r = 8) is under 1 % and left
out.  "Useful" FLOPs count real tokens only; padding is computed but useless.

    nice -n 10 .venv/bin/python benchmarks/train_throughput.py --data ../shared/data

Results go to benchmarks/results/train_throughput.json, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from library_data import commit_questions, user_examples  # noqa: E402

from core.privacy import install_network_guard  # noqa: E402


def matmul_peak(seconds: float = 2.0) -> dict[str, float]:
    """GFLOP/s of float32 matmuls: square (the peak) and the model's own shapes."""
    import torch

    shapes = {
        "square_2048": (2048, 2048, 2048),
        "mlp_640x576x1536": (640, 576, 1536),  # a batch of 4 x 160 tokens through up_proj
        "lm_head_640x576x49152": (640, 576, 49152),
    }
    out = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        out[name] = round(2 * m * k * n / best / 1e9, 1)
    return out


def model_flops(hf: Any) -> tuple[int, int, int]:
    """(N, layers, hidden): the weights used as matmuls per token, from the loaded model."""
    import torch

    linear = sum(
        m.weight.numel()
        for name, m in hf.named_modules()
        if isinstance(m, torch.nn.Linear) and "lora_" not in name
    )
    return linear, hf.config.num_hidden_layers, hf.config.hidden_size


def flops_per_token(n: int, layers: int, hidden: int, seq: float) -> float:
    """LoRA training FLOPs per token (module docstring): 4·N + 3 · 2·L·T·d."""
    return 4 * n + 3 * 2 * layers * seq * hidden


def plain_collate(batch: list[Any], pad_id: int) -> dict[str, Any]:
    """What a user writes: right-pad to the longest, mask the prompt and the padding in labels."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, e.n_prompt : n] = ids[row, e.n_prompt : n]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class PlainLoop:
    """A plain transformers + peft training loop, one step at a time."""

    def __init__(self, folder: Path, lora: Any, plan: Any, pad_id: int) -> None:
        import torch
        from peft import get_peft_model
        from torch.utils.data import DataLoader
        from transformers import AutoModelForCausalLM

        base = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
        torch.manual_seed(plan.config.seed)  # right before get_peft_model, as Inkwell seeds
        self.model = get_peft_model(base, lora)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=plan.config.lr, weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: plan.lr(step, plan.config.lr) / plan.config.lr
        )
        self.loader = DataLoader(
            plan.train,
            batch_size=plan.config.batch_size,
            shuffle=True,
            collate_fn=lambda b: plain_collate(b, pad_id),
            generator=torch.Generator().manual_seed(plan.config.seed),
        )
        self._batches = iter(self.loader)
        self.val = plan.val
        self.batch_size = plan.config.batch_size

    def next_batch(self) -> dict[str, Any]:
        try:
            return next(self._batches)
        except StopIteration:  # next epoch
            self._batches = iter(self.loader)
            return next(self._batches)

    def step(self, batch: dict[str, Any]) -> float:
        self.model.train()
        loss = self.model(**batch).loss
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def evaluate(self) -> float:
        import torch

        self.model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(self.val), self.batch_size):
                batch = plain_collate(self.val[i : i + self.batch_size], 0)
                n = int((batch["labels"][:, 1:] != -100).sum())
                total += float(self.model(**batch).loss) * n
                count += n
        return total / max(count, 1)


def _summary(times: list[float], tokens: list[int], padded: list[int], examples: list[int],
             per_token: float, peak: float) -> dict[str, float]:
    """Steady-state rates: the first step (warm-up) is left out."""
    t, real, pad, ex = sum(times[1:]), sum(tokens[1:]), sum(padded[1:]), sum(examples[1:])
    useful = real * per_token / t / 1e9
    return {
        "steps_timed": len(times) - 1,
        "s_per_step": round(t / (len(times) - 1), 3),
        "examples_per_s": round(ex / t, 3),
        "tokens_per_s": round(real / t, 1),
        "padded_tokens_per_s": round(pad / t, 1),
        "padding_fraction": round(1 - real / pad, 3),
        "useful_gflops": round(useful, 2),
        "computed_gflops": round(pad * per_token / t / 1e9, 2),
        "fraction_of_peak": round(useful / peak, 3),
    }


def main() -> int:
    install_network_guard()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="data dir or commit_subject questions.json")
    parser.add_argument("--items", type=int, default=200, help="profile items of the user")
    parser.add_argument("--steps", type=int, default=12, help="steps of each trainer")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice); on a machine whose "
                             "cores other jobs keep busy, 1 avoids threads waiting for each other")
    parser.add_argument("--group-batches", type=int, default=None,
                        help="override make_schedule's GROUP_BATCHES (1: no length grouping, "
                             "the schedule before it)")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "train_throughput.json")
    args = parser.parse_args()

    import torch
    from peft import LoraConfig

    if args.threads:
        torch.set_num_threads(args.threads)

    from core.adapters import backends
    from core.adapters.backends import TrainPlan, choose_backend, make_schedule
    from core.adapters.base import base_dir
    from core.adapters.config import TrainConfig
    from core.adapters.data import split_train_val
    from core.adapters.lora import module_targets
    from core.adapters.memory import fit_training
    from core.adapters.tokens import vocab_for
    from core.models import SMOLLM2, ModelRegistry
    from core.paths import Home

    if args.group_batches:
        backends.GROUP_BATCHES = args.group_batches
    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-bench-")).ensure()
    model = ModelRegistry(home).get(SMOLLM2)
    user, examples = user_examples(commit_questions(args.data), args.items)
    config = replace(TrainConfig(backend="torch"), steps=args.steps)
    train_ex, val_ex = split_train_val(examples, config.val_fraction, config.max_val,
                                       config.min_examples)
    vocab = vocab_for(model)
    train = [vocab.encode(e, config.max_len) for e in train_ex]
    val = [vocab.encode(e, config.max_len) for e in val_ex]
    plan = TrainPlan(config, train, val, make_schedule(
        train, config.steps or 1, config.batch_size, config.seed))

    peak = matmul_peak()
    peak_gflops = max(peak.values())
    print(f"matmul peak (float32, {torch.get_num_threads()} threads): {peak} GFLOP/s", flush=True)

    backend = choose_backend("torch")
    # as requested: float32, no checkpointing, the whole batch in one pass
    backend.prepare(model, home.cache_dir, config,
                    fit_training(model, config, "torch", available=10**12))
    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=0.0, bias="none",
                      target_modules=module_targets(model.architecture, config.target_modules),
                      task_type="CAUSAL_LM")
    plain = PlainLoop(base_dir(model, home.cache_dir), lora, plan, vocab.eos)
    n, layers, hidden = model_flops(plain.model.get_base_model())
    mean_len = sum(len(e.input_ids) for e in train) / len(train)
    per_token = flops_per_token(n, layers, hidden, mean_len)
    plain_val_before = plain.evaluate()

    inkwell: dict[str, list[Any]] = {"time": [], "tokens": [], "padded": [], "examples": [],
                                     "loss": []}
    other: dict[str, list[Any]] = {k: [] for k in inkwell}
    clock = [time.perf_counter()]

    def on_step(report: Any) -> None:
        t_inkwell = time.perf_counter() - clock[0]
        batch = [plan.train[i] for i in plan.schedule[report.step - 1]]
        lengths = [len(e.input_ids) for e in batch]
        for name, value in (("time", t_inkwell), ("tokens", sum(lengths)),
                            ("padded", max(lengths) * len(lengths)),
                            ("examples", len(lengths)), ("loss", report.loss)):
            inkwell[name].append(value)
        plain_batch = plain.next_batch()
        t0 = time.perf_counter()
        loss = plain.step(plain_batch)
        other["time"].append(time.perf_counter() - t0)
        other["tokens"].append(int(plain_batch["attention_mask"].sum()))
        other["padded"].append(plain_batch["input_ids"].numel())
        other["examples"].append(len(plain_batch["input_ids"]))
        other["loss"].append(loss)
        print(f"step {report.step}/{report.total}: inkwell {t_inkwell:.2f} s loss "
              f"{report.loss:.3f} | plain {other['time'][-1]:.2f} s loss {loss:.3f}", flush=True)
        clock[0] = time.perf_counter()

    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as ckpt:
        outcome = backend.train(plan, Path(ckpt), on_step, lambda: None)
    backend.close()
    plain_val_after = plain.evaluate()

    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "model": model.name,
        "user": user,
        "n_train": len(train),
        "n_val": len(val),
        "mean_tokens_per_example": round(mean_len, 1),
        "group_batches": backends.GROUP_BATCHES,
        "config": {"batch_size": config.batch_size, "max_len": config.max_len, "r": config.r,
                   "steps": config.steps, "lr": config.lr},
        "flops": {"matmul_weights_N": n, "layers": layers, "hidden": hidden,
                  "per_token": round(per_token),
                  "formula": "4*N + 3*2*L*T*d (LoRA: forward 2N, backward 2N through frozen "
                             "weights; attention over the mean sequence length T)"},
        "matmul_peak_gflops": peak,
        "inkwell": {**_summary(inkwell["time"], inkwell["tokens"], inkwell["padded"],
                               inkwell["examples"], per_token, peak_gflops),
                    "val_loss_before": round(outcome.val_loss_base or 0.0, 4),
                    "val_loss_after": round(outcome.val_loss or 0.0, 4),
                    "losses": [round(x, 4) for x in inkwell["loss"]]},
        "plain_transformers_peft": {**_summary(other["time"], other["tokens"], other["padded"],
                                               other["examples"], per_token, peak_gflops),
                                    "val_loss_before": round(plain_val_before, 4),
                                    "val_loss_after": round(plain_val_after, 4),
                                    "losses": [round(x, 4) for x in other["loss"]]},
    }
    ratio = result["inkwell"]["examples_per_s"] / result["plain_transformers_peft"][
        "examples_per_s"]
    result["inkwell_over_plain_examples_per_s"] = round(ratio, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name in ("inkwell", "plain_transformers_peft"):
        r = result[name]
        print(f"{name:24} {r['examples_per_s']:.3f} ex/s  {r['tokens_per_s']:.0f} tok/s  "
              f"{r['useful_gflops']:.1f} GFLOP/s ({100 * r['fraction_of_peak']:.0f} % of peak)  "
              f"padding {100 * r['padding_fraction']:.0f} %  "
              f"val loss {r['val_loss_before']:.3f} -> {r['val_loss_after']:.3f}")
    print(f"inkwell / plain examples/s: {ratio:.2f}  (peak {peak_gflops} GFLOP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
