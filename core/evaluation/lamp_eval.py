"""``inkwell eval``: the paper's comparison on LaMP-format data, per task."""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.errors import InkwellError
from core.evaluation.cases import Sampling, cases_from_lamp
from core.evaluation.report import summarize, write_outputs
from core.evaluation.runner import EvalConfig, EvalJob, Executor
from core.jobs import ProgressListener
from core.lamp import find_questions_files, load_dataset
from core.models import ModelInfo


def dataset_files(data: Path) -> list[Path]:
    """The questions file of each task under ``data``: the folder itself or its task folders.

    Where a folder has a full file and a ``sample_`` fixture, the full file is used.
    """
    if data.is_file():
        return [data]
    task_dirs = (
        [data]
        if any(data.glob("*questions.json"))
        else sorted(p for p in data.iterdir() if p.is_dir() and any(p.glob("*questions.json")))
        if data.is_dir()
        else []
    )
    if not task_dirs:
        raise InkwellError(f"{data}: no LaMP questions file here or in its sub-folders")
    chosen = []
    for d in task_dirs:
        files = find_questions_files(d)
        full = [f for f in files if not f.name.startswith("sample_")]
        chosen.append((full or files)[0])
    return chosen


def machine() -> str:
    return (
        f"{platform.machine()} {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}"
    )


def evaluate_file(
    questions: Path,
    model: ModelInfo,
    config: EvalConfig,
    sampling: Sampling,
    out_dir: Path,
    listener: ProgressListener | None = None,
    task: str | None = None,
    finished_only: bool = False,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Evaluate one task's questions file; returns the summary (also written under ``out_dir``)."""
    started = time.monotonic()
    dataset = load_dataset(questions, task=task)
    if not dataset.golds:
        raise InkwellError(f"{questions}: no outputs file beside it, so nothing to score against")
    cases, sample_note = cases_from_lamp(dataset, sampling)
    job = EvalJob(cases, model, config, out_dir, finished_only=finished_only, executor=executor)
    if listener:
        job.on_progress(listener)
    results = job.execute()
    if finished_only and not results:
        raise InkwellError(f"{out_dir}: no user of this run has finished yet")
    if finished_only:
        sample_note += f" — interim: {len(results)} of {len(cases)} users finished"
    summary = summarize(results, config.methods)
    header = {
        "task": dataset.task.name,
        "model": model.name,
        "model_sha256": model.sha256,
        "data": str(questions),
        "sample": sample_note,
        "config": asdict(config),
        "command": "inkwell " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "wall_seconds": time.monotonic() - started,
        # A run resumed across sessions: the time its users took, summed.
        "user_seconds_total": sum(r.seconds for r in results),
        "machine": machine(),
    }
    lamp_name = dataset.task.name.replace("LaMP-", "LaMP_")
    paths = write_outputs(out_dir, summary, header, results, lamp_name, config.methods)
    return {**header, **summary, "files": {k: str(v) for k, v in paths.items()}}
