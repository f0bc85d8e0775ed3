"""`inkwell eval` plain vs `--ray` (local, 2 workers) on the same sample, and Ray's own overhead.

    python benchmarks/eval_ray.py [--data tests/data/commit_subject] [--users 2]

Both runs in one invocation, each in a fresh output folder, the plain one first; then
Ray's start-up and the round trip of a no-op task on a local Ray.  Writes
benchmarks/results/eval_ray.json.  Needs the `cluster` extra (Ray).
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
from pathlib import Path

from core.privacy import install_network_guard

install_network_guard()

REPO = Path(__file__).resolve().parent.parent


def _eval(home: Path, out: Path, data: Path, users: int, *extra: str) -> float:
    from core.cli import main

    started = time.perf_counter()
    code = main(
        ["--home", str(home), "eval", "--data", str(data), "--model", "smollm2-135m-instruct",
         "--users", str(users), "--max-queries", "1", "--methods", "none,rag,peft",
         "--steps", "2", "--out", str(out), "--json", *extra]
    )  # fmt: skip
    assert code == 0
    return time.perf_counter() - started


def _ray_overhead(tasks: int = 20) -> dict[str, float]:
    from core.evaluation.distributed import RAY_ENV, _import_ray

    ray = _import_ray()
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
             runtime_env={"env_vars": RAY_ENV})  # fmt: skip
    init_s = time.perf_counter() - started

    @ray.remote(num_cpus=1)
    def noop() -> None:
        return None

    ray.get(noop.remote())  # a worker up
    latencies = []
    for _ in range(tasks):
        t = time.perf_counter()
        ray.get(noop.remote())
        latencies.append(time.perf_counter() - t)
    ray.shutdown()
    return {"ray_init_s": init_s, "noop_task_median_ms": 1000 * statistics.median(latencies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "data" / "commit_subject")
    ap.add_argument("--users", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("INKWELL_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain = _eval(root / "home", root / "plain", args.data, args.users)
        on_ray = _eval(root / "home", root / "ray", args.data, args.users,
                       "--ray", "--ray-workers", "2")  # fmt: skip
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "users": args.users,
        "plain_wall_s": plain,
        "ray_wall_s": on_ray,
        "ray_over_plain": on_ray / plain,
        **_ray_overhead(),
    }
    print(json.dumps(result, indent=2))
    out = REPO / "benchmarks" / "results" / "eval_ray.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
