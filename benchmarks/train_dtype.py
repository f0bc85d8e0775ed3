"""Benchmark: LoRA training in bfloat16 against float32 on this machine's CPU (or GPU).

Two torch backends train the same adapter side by side — the base loaded once in float32
and once in bfloat16 (LoRA weights and AdamW stay float32 in both), the same batches, the
same learning rates — alternating step by step, so both sides see the same machine load.
Reported: seconds per step of each and their paired ratio, the training losses, and the
validation loss of both adapters measured on the float32 base (the bfloat16 one loaded
into it), i.e. whether bfloat16 learns the same thing.  ``core.adapters.memory.CPU_BF16``
follows this measurement.

    .venv/bin/python benchmarks/train_dtype.py [--model NAME] [--steps N]

Results go to benchmarks/results/train_dtype.json, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.privacy import install_network_guard  # noqa: E402

QUESTIONS = REPO / "tests" / "data" / "commit_subject" / "sample_questions.json"


def main() -> int:
    install_network_guard()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "train_dtype.json")
    args = parser.parse_args()

    import torch

    from core.adapters.backends import TrainPlan, make_schedule
    from core.adapters.backends.torch_backend import TorchBackend
    from core.adapters.config import TrainConfig
    from core.adapters.data import examples_from_lamp_file
    from core.adapters.memory import fit_training
    from core.adapters.tokens import vocab_for
    from core.models import ModelRegistry
    from core.paths import Home

    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-dtype-")).ensure()
    model = ModelRegistry(home).get(args.model)
    examples, _user, _task = examples_from_lamp_file(QUESTIONS)
    config = replace(TrainConfig(), steps=args.steps)
    vocab = vocab_for(model)
    encoded = [vocab.encode(e, config.max_len) for e in examples]
    train, val = encoded[:-8], encoded[-8:]
    plan = TrainPlan(config, train, val,
                     make_schedule(train, args.steps, config.batch_size, config.seed))
    memory = fit_training(model, config, "torch", available=10**12)  # as requested
    sides = {}
    for dtype in ("float32", "bfloat16"):
        backend = TorchBackend()
        backend.prepare(model, home.cache_dir, config, replace(memory, dtype=dtype))
        backend.start_training(plan)
        sides[dtype] = backend
    val_base = sides["float32"].evaluate(val)
    times: dict[str, list[float]] = {d: [] for d in sides}
    losses: dict[str, list[float]] = {d: [] for d in sides}
    for step in range(args.steps):
        batch = [train[i] for i in plan.schedule[step]]
        order = list(sides) if step % 2 == 0 else list(sides)[::-1]
        for dtype in order:
            t0 = time.perf_counter()
            losses[dtype].append(sides[dtype].step(batch, plan.lr(step, config.lr)))
            times[dtype].append(time.perf_counter() - t0)
    fp32 = sides["float32"]
    val_fp32 = fp32.evaluate(val)
    fp32.load_state(sides["bfloat16"].state())  # the bfloat16-trained adapter, float32 base
    val_bf16 = fp32.evaluate(val)
    for backend in sides.values():
        backend.close()
    ratios = [b / f for b, f in zip(times["bfloat16"][1:], times["float32"][1:], strict=True)]
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
                    "torch": torch.__version__},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "model": args.model, "steps": args.steps, "batch_size": config.batch_size,
        "max_len": config.max_len,
        "s_per_step": {d: [round(t, 2) for t in ts] for d, ts in times.items()},
        "median_s_per_step": {d: round(statistics.median(ts[1:]), 2) for d, ts in times.items()},
        "bf16_over_fp32_time_median_ratio": round(statistics.median(ratios), 3),
        "train_loss": {d: [round(x, 4) for x in ls] for d, ls in losses.items()},
        "val_loss_on_fp32_base": {"untrained": round(val_base or 0, 4),
                                  "float32": round(val_fp32 or 0, 4),
                                  "bfloat16": round(val_bf16 or 0, 4)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{args.model}: float32 {result['median_s_per_step']['float32']} s/step, bfloat16 "
          f"{result['median_s_per_step']['bfloat16']} s/step (paired ratio "
          f"{result['bf16_over_fp32_time_median_ratio']}); validation loss after "
          f"{args.steps} steps on the float32 base: untrained {val_base:.4f}, float32 "
          f"{val_fp32:.4f}, bfloat16 {val_bf16:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
