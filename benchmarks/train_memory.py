"""Benchmark: the training memory estimate against the measured peak RSS.

Each model is trained for a few steps (batch 4, 160 tokens: the defaults) in its own child
process, which reports its peak RSS and what ``core.adapters.memory`` estimated before it
started.  By default the bundled models; ``--gguf`` adds GGUF files (e.g. the tiny models of
the architecture matrix).

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


def _train(model_ref: str, steps: int) -> dict[str, Any]:
    from core.adapters.config import TrainConfig
    from core.adapters.data import examples_from_lamp_file
    from core.adapters.job import TrainJob
    from core.adapters.memory import model_shape, training_estimate
    from core.models import ModelRegistry
    from core.paths import Home

    home = Home.resolve(tempfile.mkdtemp(prefix="inkwell-mem-")).ensure()
    registry = ModelRegistry(home)
    model = registry.add(model_ref) if model_ref.endswith(".gguf") else registry.get(model_ref)
    examples, _user, _task = examples_from_lamp_file(QUESTIONS)
    config = replace(TrainConfig(), steps=steps)
    estimate = training_estimate(model_shape(model), config)
    TrainJob(home.profile("bench").ensure(), model, examples, config, name="mem").execute()
    return {
        "model": model.name,
        "architecture": model.architecture,
        "batch_size": config.batch_size,
        "max_len": config.max_len,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "estimate_mb": round(estimate.total / 1e6),
        "estimate_parts_mb": {k: round(v / 1e6) for k, v in vars(estimate).items()},
    }


def main() -> int:
    install_network_guard(allow_programs=[sys.executable])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", nargs="*", default=[], help="more GGUF model files")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "train_memory.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_train(args.one, args.steps)))
        return 0
    from core.models import GEMMA, SMOLLM2

    runs = []
    for ref in (SMOLLM2, GEMMA, *args.gguf):
        cmd = [sys.executable, __file__, "--one", ref, "--steps", str(args.steps)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        run["error_pct"] = round(100 * (run["estimate_mb"] / run["peak_rss_mb"] - 1), 1)
        runs.append(run)
        print(f"{run['model']:28} peak RSS {run['peak_rss_mb']:6} MB  estimate "
              f"{run['estimate_mb']:6} MB  ({run['error_pct']:+.1f} %)", flush=True)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
