"""Write panel: the answer streams in batches and the sources used are listed."""

from __future__ import annotations

from PySide6.QtCore import Qt

from core.writer import Method
from desktop.write_panel import PREFILL_DELAY_MS


def _rag_panel(window, notes, wait_idle):
    """The Write panel set to RAG over a library of the notes."""
    library = window.show_panel("Library")
    library.add_paths([str(notes)])
    wait_idle(library)
    panel = window.show_panel("Write")
    panel.method.setCurrentIndex(panel.method.findData(Method.RAG.value))
    return panel


def test_write_streams_text_and_shows_sources(window, notes, qtbot, wait_idle, fake_model):
    panel = _rag_panel(window, notes, wait_idle)
    panel.input.setPlainText("A Sunday walk along the harbour breakwater")
    batches: list[str] = []
    panel.streamed.connect(batches.append)
    panel.input.setFocus()
    qtbot.keyClick(panel.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert panel.busy, "Ctrl+Enter starts writing"
    assert panel.stop_button.isEnabled() and not panel.write_button.isEnabled()
    wait_idle(panel)

    assert batches, "text arrives while the model writes"
    assert panel.output.toPlainText().strip()
    assert panel.status.text().startswith("Done"), panel.status.text()
    rows = [panel.sources.topLevelItem(i) for i in range(panel.sources.topLevelItemCount())]
    titles = [row.text(0) for row in rows]
    paths = [row.text(2) for row in rows]
    assert "Harbour walk" in titles
    assert "diesel" in fake_model.prompts[-1], "the source listed is in what the model read"
    assert all(p.startswith(str(notes)) for p in paths)
    assert panel.regen_button.isEnabled()


def test_escape_stops_writing(window, qtbot, wait_idle, session):
    settings = session.app_settings()
    settings.max_tokens = 400
    settings.save(session.home)
    panel = window.show_panel("Write")
    panel.input.setPlainText("A long story about a lighthouse keeper")
    panel.write()
    qtbot.waitUntil(lambda: bool(panel.output.toPlainText()), timeout=120_000)
    qtbot.keyClick(panel.output, Qt.Key.Key_Escape)
    wait_idle(panel, timeout_s=30)
    assert panel.status.text() == "Stopped."


def test_adapter_methods_need_an_adapter(window):
    panel = window.show_panel("Write")
    model = panel.method.model()
    enabled = {panel.method.itemData(i): model.item(i).isEnabled() for i in range(model.rowCount())}
    assert enabled == {"none": True, "rag": True, "peft": False, "rag+peft": False}


def test_empty_input_is_not_sent(window):
    panel = window.show_panel("Write")
    panel.write()
    assert not panel.busy
    assert "first" in panel.status.text()


def test_one_line_task_offers_suggestions_picked_by_key(window, qtbot, wait_idle):
    panel = window.show_panel("Write")
    panel.task.setCurrentIndex(panel.task.findData("commit_subject"))
    panel.count.setValue(2)
    assert panel.suggestions.isVisibleTo(panel) and not panel.note.isVisibleTo(panel)
    panel.input.setPlainText("The parser now reports the line of a syntax error instead of the "
                             "offset, so editors can jump to it.")
    panel.write()
    wait_idle(panel)
    assert panel.status.text().startswith("Done · 2 suggestions"), panel.status.text()
    texts = [panel.suggestions.item(i).data(Qt.ItemDataRole.UserRole) for i in range(2)]
    assert len(set(texts)) == 2 and all(t and "\n" not in t for t in texts)
    assert panel.output.toPlainText() == texts[0], "the best one is picked first"
    qtbot.keyClick(panel.suggestions, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert panel.output.toPlainText() == texts[1]
    assert not panel.output.isReadOnly(), "a picked suggestion can be edited before copying"
    panel.output.setPlainText(texts[1] + " (edited)")
    panel.copy_button.click()
    qtbot.waitUntil(lambda: "kept" in panel.status.text(), timeout=60_000)
    assert panel.kept.text().startswith("1 of your choices will be used in the next training")
    window.show_panel("Privacy")
    assert "Answers you kept: 1" in window.privacy.choices.text()


def test_drafts_say_which_model_writes_them(window):
    panel = window.show_panel("Write")
    panel.task.setCurrentIndex(panel.task.findData("free"))
    assert panel.note.isVisibleTo(panel) and not panel.suggestions.isVisibleTo(panel)
    assert "larger model" in panel.note.text()
    panel.note.linkActivated.emit("settings")
    assert window.stack.currentWidget() is window.panels["Settings"]


def test_a_pause_in_typing_evaluates_the_prompt_that_write_then_sends(
        window, notes, qtbot, wait_idle, fake_model):
    panel = _rag_panel(window, notes, wait_idle)
    panel.input.setPlainText("A Sunday walk along the harbour")
    panel.input.setPlainText("A Sunday walk along the harbour breakwater")
    qtbot.waitUntil(lambda: bool(fake_model.prefilled), timeout=60_000)
    qtbot.wait(2 * PREFILL_DELAY_MS)
    assert len(fake_model.prefilled) == 1, "only the text the user paused on is evaluated"
    assert "diesel" in fake_model.prefilled[0], "the retrieved examples are in it"
    panel.write()
    wait_idle(panel)
    assert fake_model.prompts == fake_model.prefilled, "Write sends the prompt evaluated"


def test_no_prefill_when_the_user_turned_it_off(window, qtbot, session, fake_model):
    settings = session.app_settings()
    settings.prefill = False
    settings.save(session.home)
    panel = window.show_panel("Write")
    panel.input.setPlainText("A Sunday walk along the harbour breakwater")
    qtbot.wait(3 * PREFILL_DELAY_MS)
    assert not fake_model.prefilled
