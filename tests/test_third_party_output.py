"""Libraries' progress bars and warnings stay off the terminal; they go to the data dir's logs/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# What `inkwell eval` printed between its own progress lines: transformers' GGUF progress bar
# and a FutureWarning, both emitted here the way those libraries emit them.
SCRIPT = """
import sys, warnings
from core.cli import main
rc = main(["--home", sys.argv[1], "library", "status"])
warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning)
from tqdm.auto import tqdm
for _ in tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):
    pass
sys.exit(rc)
"""


def test_library_output_goes_to_the_log_not_the_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "PYTHONWARNINGS")}
    out = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "is_gradient_checkpointing" not in out.stderr, out.stderr
    assert "de-quantizing" not in out.stderr, out.stderr
    log = (tmp_path / "logs" / "libraries.log").read_text(encoding="utf-8")
    assert "FutureWarning" in log and "is_gradient_checkpointing" in log
