"""Adapter panel: train in a child process with live progress, cancel, resume; forget -> stale."""

from __future__ import annotations

import numpy as np
import pytest

from core.adapters.config import TrainConfig
from core.adapters.lora import LoraWeights
from core.adapters.store import AdapterRecord, AdapterStore
from desktop.adapter_panel import COLUMNS


def _index(window, folder, wait_idle):
    library = window.show_panel("Library")
    library.add_paths([str(folder)])
    wait_idle(library)
    return library


def _states(panel) -> dict[str, str]:
    col = COLUMNS.index("State")
    return {panel.table.item(r, 0).text(): panel.table.item(r, col).text()
            for r in range(panel.table.rowCount())}


@pytest.mark.slow  # two runs of the training process: minutes on two cores
def test_train_with_progress_cancel_and_resume(window, session, letters, qtbot, wait_idle):
    _index(window, letters, wait_idle)
    panel = window.show_panel("Adapter")
    panel.train_config = TrainConfig(steps=4, checkpoint_every=1)
    progress: list = []
    panel.process.progress.connect(progress.append)

    panel.train()
    assert panel.busy and panel.progress_row.isVisible() and not panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: any(p.done >= 1 for p in progress), timeout=300_000)
    panel.progress_row.cancel_button.click()
    wait_idle(panel, timeout_s=60)
    assert "Stopped" in panel.status.text(), panel.status.text()
    assert AdapterStore(session.profile).list() == []
    assert "resume" in panel.resume_note.text()

    progress.clear()
    panel.train()  # the same data: resumes from the checkpoint
    wait_idle(panel, timeout_s=300)
    assert "Trained" in panel.status.text(), panel.status.text()
    steps = [p.done for p in progress if p.done]
    assert steps and steps[0] > 1, "training resumed after the saved step"
    assert steps[-1] == 4
    assert len(panel.curve.points()) == len(steps)
    assert all("loss" in p.metrics for p in progress if p.done)
    [record] = AdapterStore(session.profile).list()
    assert _states(panel) == {record.id: "Active"}
    assert session.profile_settings().active_adapter == record.id
    assert panel.resume_note.text() == ""
    write = window.show_panel("Write")
    model = write.method.model()
    assert all(model.item(i).isEnabled() for i in range(model.rowCount()))


def _publish_adapter(session, model, doc_ids) -> AdapterRecord:
    """A small adapter on the library's documents, published the way training publishes one.

    Training itself is covered by the slow test above; this one checks what the
    window does with an adapter when its data is forgotten.
    """
    rng = np.random.default_rng(0)
    width = 576  # SmolLM2-135M's hidden size
    a = rng.standard_normal((2, width)).astype(np.float32) * 0.01
    b = rng.standard_normal((width, 2)).astype(np.float32) * 0.01
    weights = LoraWeights(2, 4.0, {"model.layers.0.self_attn.q_proj": (a, b)})
    record = AdapterRecord(
        id="default-test", name="default", model=model.name, architecture=model.architecture,
        base_sha256=model.sha256, created="2026-01-01T00:00:00Z", source="trained:torch",
        r=2, alpha=4.0, target_modules=("q_proj",), fingerprint="test", n_train=12, n_val=1,
        steps=1, val_loss=2.5, doc_ids=tuple(doc_ids),
    )
    return AdapterStore(session.profile).publish(record, weights, model)


def test_forget_marks_the_adapter_stale(window, session, smollm2, letters, wait_idle):
    library = _index(window, letters, wait_idle)
    record = _publish_adapter(session, smollm2, [d.doc_id for d in session.library().documents()])
    panel = window.show_panel("Adapter")
    panel.table.selectRow(0)
    panel.activate_button.click()
    assert _states(panel) == {record.id: "Active"}

    library.forget_paths([str(letters / "letter-3.eml")])
    wait_idle(library)
    assert AdapterStore(session.profile).get(record.id).stale
    window.show_panel("Adapter")
    assert _states(panel) == {record.id: "Stale — retrain"}
    assert "stale" in library.status.text()


def test_too_little_data_is_a_readable_error(window):
    panel = window.show_panel("Adapter")
    panel.train()
    assert not panel.busy
    assert "nothing to train on" in panel.status.text()


def test_without_the_trainer_the_panel_says_what_training_needs(qtbot, fonts, session,
                                                                  monkeypatch):
    from core import trainer
    from desktop.window import MainWindow

    monkeypatch.setattr(trainer, "missing", lambda: ["torch", "peft"])
    w = MainWindow(session)
    qtbot.addWidget(w)
    try:
        text = w.show_panel("Adapter").status.text()
        assert "PyTorch and peft" in text and "./inkwell-setup trainer" in text, text
    finally:
        w.shutdown()
