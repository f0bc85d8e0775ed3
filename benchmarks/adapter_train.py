"""Benchmark: LoRA training cost per bundled model, and one full per-user adapter.

For each bundled model: seconds per step, examples/s and peak RSS of a short
run (each model in its own child process, so peak RSS is that model's); then
the wall time of a whole adapter with the default settings on 200 real profile
items of one commit_subject user (target: <= 5 min with SmolLM2 on 2 CPU cores).

    .venv/bin/python benchmarks/adapter_train.py --data ../shared/data

The machine's load average is recorded with the numbers: on a shared machine
other processes slow training down, and the numbers say under what load they
were taken.  Results go to benchmarks/results/adapter_train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
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


def _train(model_name: str, questions: Path, n_items: int, steps: int | None) -> dict[str, Any]:
    """Train one adapter in this process; time it; report RSS."""
    from core.adapters.config import TrainConfig
    from core.adapters.job import TrainJob
    from core.models import ModelRegistry
    from core.paths import Home

    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-bench-")).ensure()
    model = ModelRegistry(home).get(model_name)
    user, examples = user_examples(questions, n_items)
    config = TrainConfig() if steps is None else replace(TrainConfig(), steps=steps)
    job = TrainJob(home.profile("bench").ensure(), model, examples, config, name=f"bench-{user}")
    step_times: list[float] = []
    last = [time.monotonic()]

    def on_progress(p: Any) -> None:
        if p.metrics:
            now = time.monotonic()
            step_times.append(now - last[0])
            last[0] = now
        elif p.message.startswith("loading"):
            last[0] = time.monotonic()

    job.on_progress(on_progress)
    t0, cpu0 = time.monotonic(), _cpu_seconds()
    record = job.execute()
    wall = time.monotonic() - t0
    steady = step_times[1:] or step_times  # the first step includes warm-up
    return {
        "model": model_name,
        "user": user,
        "items": n_items,
        "n_train": record.n_train,
        "n_val": record.n_val,
        "steps": record.steps,
        "batch_size": config.batch_size,
        "max_len": config.max_len,
        "s_per_step": round(sum(steady) / len(steady), 2),
        "examples_per_s": round(config.batch_size * len(steady) / sum(steady), 2),
        "wall_s": round(wall, 1),
        # CPU seconds of this process: under load from other processes the wall time
        # grows, the CPU time barely does; cpu_s / torch threads estimates a quiet wall time.
        "cpu_s": round(_cpu_seconds() - cpu0, 1),
        "val_loss_base": record.val_loss_base,
        "val_loss": record.val_loss,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(args: argparse.Namespace, model: str, steps: int | None) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--data",
        str(args.data),
        "--one",
        model,
        "--items",
        str(args.items),
    ] + (["--steps", str(steps)] if steps else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    install_network_guard(allow_programs=[sys.executable])  # its per-model child runs (this file)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="data dir or commit_subject questions.json"
    )
    parser.add_argument(
        "--items", type=int, default=200, help="profile items of the benchmark user"
    )
    parser.add_argument("--probe-steps", type=int, default=6, help="steps of the per-model probe")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "adapter_train.json"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: one run, JSON on stdout
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    questions = commit_questions(args.data)
    if args.one:
        print(json.dumps(_train(args.one, questions, args.items, args.steps)))
        return 0

    import torch

    from core.models import GEMMA, SMOLLM2

    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "probes": [],
    }
    t0 = time.time()

    def save() -> None:  # after every run, so a run cut short still leaves its numbers
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        result["total_s"] = round(time.time() - t0, 1)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    for model in (SMOLLM2, GEMMA):
        result["probes"].append(_child(args, model, args.probe_steps))
        save()
    result["full_adapter_smollm2"] = full = _child(args, SMOLLM2, None)
    save()
    probes = result["probes"]
    for p in probes:
        print(
            f"{p['model']:24} {p['s_per_step']:6.2f} s/step  {p['examples_per_s']:5.2f} ex/s  "
            f"peak RSS {p['peak_rss_mb']} MB"
        )
    print(
        f"full SmolLM2 adapter on {full['items']} items: {full['wall_s']} s wall, "
        f"{full['cpu_s']} s CPU "
        f"({full['steps']} steps, val loss {full['val_loss_base']:.3f} -> {full['val_loss']:.3f})"
    )
    loads = f"{result['load_average_before']} / {result['load_average_after']}"
    print(f"load average before/after: {loads}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
