"""Benchmark: the training memory estimate against the measured peak RSS.

Each model is trained for a few steps (batch 4, 160 tokens: the defaults) in its own child
process, which reports its peak RSS and what ``core.adapters.memory`` estimated before it
started — twice: with the memory plan of a roomy machine (as requested: no gradient
checkpointing) and with the plan of a machine just too small for that (the planner then
turns gradient checkpointing on).  By default the bundled models; ``--gguf`` adds GGUF files
(e.g. the tiny models of the architecture matrix).

    .venv/bin/python benchmarks/train_memory.py [--gguf FILE ...]

Results go to benchmarks/results/train_memory.json, with the load average (peak RSS does
not depend on it; time would).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.privacy import install_network_guard  # noqa: E402

QUESTIONS = REPO / "tests" / "data" / "commit_subject" / "sample_questions.json"


def _train(model_ref: str, steps: int, tight: bool) -> dict[str, Any]:
    from core.adapters.config import TrainConfig
    from core.adapters.data import examples_from_lamp_file
    from core.adapters.job import TrainJob
    from core.adapters.memory import FIT_FRACTION, fit_training
    from core.models import ModelRegistry
    from core.paths import Home

    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-mem-")).ensure()
    registry = ModelRegistry(home)
    model = registry.add(model_ref) if model_ref.endswith(".gguf") else registry.get(model_ref)
    examples, _user, _task = examples_from_lamp_file(QUESTIONS)
    config = replace(TrainConfig(), steps=steps)
    available = 10**12  # roomy: the training as requested
    if tight:  # just too little for that: the planner turns gradient checkpointing on
        available = int(fit_training(model, config, "torch", available).needed / FIT_FRACTION) - 1
    job = TrainJob(home.profile("bench").ensure(), model, examples, config, name="mem",
                   available=available)
    record = job.execute()
    return {
        "model": model.name,
        "architecture": model.architecture,
        "plan": record.memory,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "estimate_mb": round(record.memory["needed"] / 1e6),
    }


def main() -> int:
    install_network_guard(allow_programs=[sys.executable])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", nargs="*", default=[], help="more GGUF model files")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "train_memory.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--tight", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_train(args.one, args.steps, args.tight)))
        return 0
    from core.models import GEMMA, SMOLLM2

    runs: list[dict[str, Any]] = []
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }

    def save() -> None:  # after every run, so a run cut short still leaves its numbers
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    for ref in (SMOLLM2, GEMMA, *args.gguf):
        for tight in (False, True):
            cmd = [sys.executable, __file__, "--one", ref, "--steps", str(args.steps),
                   *(["--tight"] if tight else [])]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
            run = json.loads(out.stdout.strip().splitlines()[-1])
            run["error_pct"] = round(100 * (run["estimate_mb"] / run["peak_rss_mb"] - 1), 1)
            runs.append(run)
            mode = "checkpointing" if run["plan"]["checkpointing"] else "as requested"
            print(f"{run['model']:24} {mode:14} peak RSS {run['peak_rss_mb']:6} MB  estimate "
                  f"{run['estimate_mb']:6} MB  ({run['error_pct']:+.1f} %)", flush=True)
            save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
