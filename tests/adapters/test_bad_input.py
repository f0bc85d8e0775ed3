"""Bad input and failures: no data, too little data, an untrainable model, a full disk."""

from __future__ import annotations

import errno
import resource
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from core.adapters.base import UnsupportedArchitecture
from core.adapters.data import TooFewExamples
from core.adapters.job import TrainJob
from core.adapters.lora import read_peft
from core.adapters.store import AdapterStore
from core.cli import main
from core.errors import InkwellError
from tests.adapters.conftest import DATA, FAST
from tests.gguf_fixtures import write_tiny_model


def test_no_documents(profile, smollm2, capsys):
    with pytest.raises(TooFewExamples, match="nothing to train on"):
        TrainJob(profile, smollm2, [], FAST).prepare()
    # The CLI's default source is the profile's (here empty) library.
    args = ["--home", str(profile.home.root), "adapter", "train", "--model", smollm2.name]
    assert main(args) == 2
    assert "nothing to train on" in capsys.readouterr().err


def test_too_few_examples_names_the_minimum(profile, smollm2, commit_examples):
    with pytest.raises(TooFewExamples, match=r"only 2 training example.*at least 4 are needed"):
        TrainJob(profile, smollm2, commit_examples[:2], FAST).prepare()


def _fake_model(tmp_path: Path, registry) -> object:
    """A valid GGUF of an architecture transformers cannot load (RWKV-6)."""
    return registry.add(write_tiny_model(tmp_path / "tiny-rwkv.gguf", "rwkv6"), name="tiny-rwkv")


def test_unsupported_architecture_is_named(tmp_path, home, profile, commit_examples, capsys):
    from core.models import ModelRegistry

    model = _fake_model(tmp_path, ModelRegistry(home))
    with pytest.raises(UnsupportedArchitecture, match=r"'rwkv6'.*cannot load from GGUF"):
        TrainJob(profile, model, commit_examples, FAST).prepare()  # type: ignore[arg-type]
    lamp = str(DATA / "commit_subject" / "sample_questions.json")
    assert (
        main(["--home", str(home.root), "adapter", "train", "--model", "tiny-rwkv", "--lamp", lamp])
        == 2
    )
    assert "architecture 'rwkv6'" in capsys.readouterr().err


def test_disk_full_while_saving_lists_nothing_and_leaves_nothing(smollm2_adapter, smollm2, profile):
    """A real failing write: the file-size limit makes the kernel refuse it (EFBIG), like ENOSPC."""
    store = AdapterStore(profile)
    weights = read_peft(smollm2_adapter.peft_dir)
    record = replace(smollm2_adapter, id="full-disk")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, don't kill us
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))  # the adapter needs ~20 MB
    try:
        with pytest.raises(InkwellError, match=r"disk is full.*nothing was added") as caught:
            store.publish(record, weights, smollm2)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert caught.value.__cause__.errno == errno.EFBIG  # type: ignore[union-attr]
    assert store.list() == []
    assert list(store.root.iterdir()) == []  # no staging folder left behind
    assert store.publish(record, weights, smollm2).gguf_path.is_file()  # space freed: it works


def test_forgetting_a_document_marks_its_adapters_stale(smollm2_adapter, smollm2, profile, capsys):
    store = AdapterStore(profile)
    weights = read_peft(smollm2_adapter.peft_dir)
    record = store.publish(replace(smollm2_adapter, id="mine"), weights, smollm2)
    other = store.publish(replace(smollm2_adapter, id="other", doc_ids=("x",)), weights, smollm2)
    unfinished = profile.training_dir / "unfinished"
    unfinished.mkdir(parents=True)
    (unfinished / "spec.json").write_text(f'{{"doc_ids": ["{record.doc_ids[0]}"]}}')

    assert store.mark_stale([record.doc_ids[0]]) == ["mine"]
    assert store.get("mine").stale and store.get("mine").stale_doc_ids == (record.doc_ids[0],)
    assert not store.get(other.id).stale
    assert not unfinished.exists()  # its stored text of the document is gone too
    assert main(["--home", str(profile.home.root), "adapter", "list"]) == 0
    assert "STALE: trained on 1 forgotten document" in capsys.readouterr().out


def test_delete_and_unknown_ids(smollm2_adapter, smollm2, profile, capsys):
    store = AdapterStore(profile)
    store.publish(replace(smollm2_adapter, id="gone"), read_peft(smollm2_adapter.peft_dir), smollm2)
    assert main(["--home", str(profile.home.root), "adapter", "delete", "gone"]) == 0
    assert store.list() == []
    assert main(["--home", str(profile.home.root), "adapter", "verify", "gone"]) == 2
    assert "no adapter 'gone'" in capsys.readouterr().err
