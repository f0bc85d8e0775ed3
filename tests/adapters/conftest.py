"""Fixtures for the adapter tests: real data, real models, one trained adapter per session.

Training is the expensive part on a 2-core machine, so the SmolLM2 adapter most
tests inspect is trained once per session (a few steps, short sequences); tests
that need their own run use the same cheap settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.adapters.config import TrainConfig
from core.adapters.data import Example, examples_from_lamp_file

DATA = Path(__file__).resolve().parent.parent / "data"
# A few steps at a high learning rate: cheap, yet the adapter visibly moves the logits.
FAST = TrainConfig(steps=3, lr=2e-3, batch_size=2, max_len=96, checkpoint_every=1)


@pytest.fixture(scope="session")
def commit_examples() -> list[Example]:
    examples, _user, _task = examples_from_lamp_file(
        DATA / "commit_subject" / "sample_questions.json"
    )
    return examples


@pytest.fixture(scope="session")
def session_profile(tmp_path_factory: pytest.TempPathFactory):
    from core.paths import Home

    return (
        Home.resolve(tmp_path_factory.mktemp("adapters-home")).ensure().profile("default").ensure()
    )


@pytest.fixture(scope="session")
def arch_models(tmp_path_factory: pytest.TempPathFactory, smollm2) -> dict[str, tuple[Path, Path]]:
    """name -> (Hugging Face folder, GGUF file) of the architecture matrix's tiny random
    models (``tests/adapters/arch_models.py``), all converted in one converter process."""
    from tests.adapters.arch_models import (
        ARCHS,
        build_hf,
        convert,
        sentencepiece_model,
        smollm2_tokenizer,
    )

    root = tmp_path_factory.mktemp("archs")
    bpe = smollm2_tokenizer(smollm2, root / "smollm2-tokenizer")
    spm = sentencepiece_model(root / "tokenizer.model")
    models = {name: (root / f"hf-{name}", root / f"{name}.gguf") for name in ARCHS}
    for name, (hf, _gguf) in models.items():
        build_hf(name, hf, bpe, spm)
    convert(list(models.values()))
    return models


@pytest.fixture(scope="session")
def smollm2_adapter(session_profile, smollm2, commit_examples):
    """A SmolLM2 adapter trained in-process on the first commit_subject user (3 steps)."""
    from core.adapters.job import TrainJob

    return TrainJob(session_profile, smollm2, commit_examples, FAST, name="smol").execute()
