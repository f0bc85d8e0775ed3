"""The advice trains its adapter in the training worker process, not in its caller.

Issue 19: ``inkwell advise`` and the desktop's Evaluate panel trained inside the
GUI process, where a crash in torch takes the window down and Cancel could not stop
a training step.  ``EvalJob(train_in_worker=True)`` (what the advice uses) runs the
training in ``python -m core.adapters.worker``: here the caller never even imports torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
from pathlib import Path
from core.privacy import install_network_guard
install_network_guard()
from core.evaluation.cases import Sampling, cases_from_lamp
from core.evaluation.runner import EvalConfig, EvalJob
from core.lamp import load_dataset
from core.models import ModelRegistry, SMOLLM2
from core.paths import Home

data = Path(sys.argv[1])
dataset = load_dataset(data / "sample_questions.json", data / "sample_outputs.json")
cases, _ = cases_from_lamp(dataset, Sampling(users=1, max_queries=1))
model = ModelRegistry(Home.resolve(sys.argv[2]).ensure()).get(SMOLLM2)
config = EvalConfig(methods=("peft",), max_tokens=4, train_steps=1)
(result,) = EvalJob(cases, model, config, Path(sys.argv[3]), train_in_worker=True).run()
print(json.dumps({"torch": "torch" in sys.modules, "adapter": result.adapter}))
"""


@pytest.mark.slow  # a real training and a llama.cpp answer: about 2 minutes on 2 busy cores
@pytest.mark.timeout(600)
def test_the_advice_trains_in_the_worker_process(tmp_path: Path, sample_data: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(sample_data / "commit_subject"),
         str(tmp_path / "home"), str(tmp_path / "eval")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["adapter"]["steps"] == 1 and Path(report["adapter"]["gguf_path"]).is_file()
    assert report["torch"] is False  # trained elsewhere: this process never loaded torch
