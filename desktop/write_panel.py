"""The Write panel: pick a task and a method, write, watch the answer stream, see the sources."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from core.choices import keep_choice, kept_choices
from core.models import DEFAULT_MODEL
from core.prompts import WRITING_TASKS, spec_for, user_content
from core.runtime import GenerationParams
from core.writer import SUGGEST_TEMPERATURE, Method, PreparedWrite, Suggestion, Writer, WriteRequest
from desktop.session import Session
from desktop.widgets import button, panel_layout, set_status, status_label
from desktop.workers import Worker, Workers

TASK_LABELS = {
    "free": "Free writing",
    "rewrite": "Rewrite in my voice",
    "title": "Title for a text",
    "email_subject": "E-mail subject",
    "commit_subject": "Commit subject",
    "headline": "Headline",
}
TASK_HINTS = {
    "free": "What should I write? e.g. “A short note thanking the team for the release”",
    "rewrite": "Paste a text to rewrite in your own voice",
    "title": "Paste the text that needs a title",
    "email_subject": "Paste the e-mail that needs a subject line",
    "commit_subject": "Paste the diff summary or commit body that needs a subject line",
    "headline": "Paste the article that needs a headline",
}
METHOD_LABELS = {
    Method.NONE: "None",
    Method.RAG: "RAG (my library)",
    Method.PEFT: "My adapter",
    Method.RAG_PEFT: "RAG + My adapter",
}
SUGGESTIONS = 3  # offered by default for one-line tasks: a few to choose from, quickly written
# A pause in typing this long starts evaluating the prompt (Writer.prefill): short enough to
# finish a pasted text's prompt before the hand reaches Write, long enough to skip keystrokes.
PREFILL_DELAY_MS = 300


@dataclass(frozen=True)
class Written:
    prepared: PreparedWrite
    suggestions: list[Suggestion]  # ranked; empty when the answer was streamed


def keep_work(session: Session, request: WriteRequest, answer: str) -> int:
    """Keep the copied answer for the request; return how many choices are kept."""
    library = session.library()
    keep_choice(library, request.task, user_content(spec_for(request.task), request.text), answer)
    return kept_choices(library)


def _writer(session: Session, request: WriteRequest) -> Writer:
    library = session.library() if request.method.retrieves else None
    model = session.model()
    return Writer(session.home, session.profile, model, library=library,
                  runtime=session.load_model(model))


def prefill_work(session: Session, request: WriteRequest, worker: Worker) -> None:
    """Evaluate the request's prompt while the user is still at the keyboard."""
    _writer(session, request).prefill(request, worker.cancel_token)


def write_work(session: Session, request: WriteRequest, n: int, worker: Worker) -> Written:
    """The whole binding to ``core``: the same ``Writer`` calls as ``inkwell write``."""
    writer = _writer(session, request)
    prepared = writer.prepare(request)
    worker.publish(prepared)
    if n > 1:
        return Written(prepared, writer.suggest(prepared, n, worker.cancel_token))
    for piece in writer.stream(prepared, worker.cancel_token):
        worker.write(piece)
    return Written(prepared, [])


class WritePanel(QWidget):
    settings_requested = Signal()  # the user follows the note's link to choose a model
    streamed = Signal(str)  # a batch of the answer, as it is written

    def __init__(self, session: Session, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.workers = workers
        self._worker: Worker | None = None
        self._last: WriteRequest | None = None
        self._prefill: Worker | None = None
        self._prefill_timer = QTimer(self)
        self._prefill_timer.setSingleShot(True)
        self._prefill_timer.setInterval(PREFILL_DELAY_MS)
        self._prefill_timer.timeout.connect(self._start_prefill)
        layout = panel_layout(self, "Write", "Your local model writes; nothing leaves this "
                              "machine. Ctrl+Enter writes, Esc stops.")

        self.task = QComboBox()
        self.task.setAccessibleName("Task")
        for task in WRITING_TASKS:
            self.task.addItem(TASK_LABELS[task], task)
        self.task.currentIndexChanged.connect(self._task_changed)
        self.method = QComboBox()
        self.method.setAccessibleName("Personalization method")
        self.method.setToolTip("How your own writing is used: retrieved into the prompt (RAG), "
                               "through your trained adapter, both, or not at all")
        for method, label in METHOD_LABELS.items():
            self.method.addItem(label, method.value)
        self.write_button = button("&Write", "Write (Ctrl+Enter)", role="primary")
        self.stop_button = button("Stop", "Stop writing (Esc)")
        self.regen_button = button("Regenerate", "Write another answer to the same input")
        self.copy_button = button("Copy", "Copy the answer to the clipboard")
        self.count = QSpinBox()
        self.count.setAccessibleName("Suggestions")
        self.count.setRange(1, 5)
        self.count.setValue(SUGGESTIONS)
        self.count.setToolTip("How many titles or subjects to offer, best first")
        self.write_button.clicked.connect(self.write)
        self.stop_button.clicked.connect(self.stop)
        self.regen_button.clicked.connect(self.regenerate)
        self.copy_button.clicked.connect(self.copy)

        controls = QHBoxLayout()
        self.count_caption = QLabel("Suggestions")
        self.count_caption.setBuddy(self.count)
        for label, widget in (("Task", self.task), ("Method", self.method)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            controls.addWidget(caption)
            controls.addWidget(widget)
        controls.addWidget(self.count_caption)
        controls.addWidget(self.count)
        controls.addStretch(1)
        for b in (self.write_button, self.stop_button, self.regen_button, self.copy_button):
            controls.addWidget(b)
        layout.addLayout(controls)

        self.input = QPlainTextEdit()
        self.input.setAccessibleName("Input")
        self.input.textChanged.connect(self._input_changed)
        self.method.currentIndexChanged.connect(self._input_changed)
        self.suggestions = QListWidget()
        self.suggestions.setAccessibleName("Suggestions")
        self.suggestions.setToolTip("Pick one: click it or press Ctrl+1, Ctrl+2, …; "
                                    "Enter or a double-click copies it")
        self.suggestions.currentRowChanged.connect(self._pick)
        self.suggestions.itemActivated.connect(lambda _item: self.copy())
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setAccessibleName("Answer")
        self.output.setPlaceholderText("The answer appears here as it is written.")
        self.kept = QLabel()
        self.kept.setObjectName("subtle")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.linkActivated.connect(lambda _link: self.settings_requested.emit())
        self.sources = QTreeWidget()
        self.sources.setAccessibleName("Sources used")
        self.sources.setHeaderLabels(["Source used", "Date", "Path"])
        self.sources.setRootIsDecorated(False)
        self.sources.setToolTip("Items of your library put into the prompt; double-click to open")
        self.sources.itemActivated.connect(self._open_source)
        self.status = status_label()

        splitter = QSplitter(Qt.Orientation.Vertical)
        for part in (self.input, self.suggestions, self.output, self.sources):
            splitter.addWidget(part)
        splitter.setSizes([150, 110, 110, 110])
        layout.addWidget(splitter, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.kept)
        layout.addWidget(self.status)

        QWidget.setTabOrder(self.task, self.method)
        QWidget.setTabOrder(self.method, self.input)
        QWidget.setTabOrder(self.input, self.write_button)
        QWidget.setTabOrder(self.write_button, self.stop_button)
        QWidget.setTabOrder(self.stop_button, self.regen_button)
        QWidget.setTabOrder(self.regen_button, self.copy_button)
        QWidget.setTabOrder(self.copy_button, self.suggestions)
        QWidget.setTabOrder(self.suggestions, self.output)
        QWidget.setTabOrder(self.output, self.sources)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self.write,
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        QShortcut(QKeySequence("Esc"), self, self.stop,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        for row in range(self.count.maximum()):
            QShortcut(QKeySequence(f"Ctrl+{row + 1}"), self,
                      lambda row=row: self.suggestions.setCurrentRow(row),
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._task_changed()
        self.refresh()
        self._set_running(False)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def refresh(self) -> None:
        """Re-read the profile: which methods are possible, and which one is recommended."""
        library_exists = self.session.profile.library_dir.exists()
        self._show_kept(kept_choices(self.session.library()) if library_exists else 0)
        settings = self.session.profile_settings()
        has_adapter = bool(settings.active_adapter)
        model = self.method.model()
        for i in range(self.method.count()):
            method = Method(self.method.itemData(i))
            item = model.item(i)  # type: ignore[attr-defined]
            item.setEnabled(has_adapter or not method.adapts)
            item.setToolTip("" if item.isEnabled() else
                            "Train an adapter first (Adapter panel), or activate one")
        current = Method(self.method.currentData())
        if self._last is None or (current.adapts and not has_adapter):
            wanted = Method(settings.recommended_method or Method.NONE)
            if wanted.adapts and not has_adapter:
                wanted = Method.RAG if wanted.retrieves else Method.NONE
            self.method.setCurrentIndex(self.method.findData(wanted.value))

    def _input_changed(self) -> None:
        """What Write would send changed: the prompt evaluated so far is no longer its own."""
        if self._prefill is not None:
            self._prefill.cancel()  # it stops after the pass it is in (ModelRuntime._evaluate)
            self._prefill = None
        self._prefill_timer.start()

    def _start_prefill(self) -> None:
        request = self._request()
        if self._worker is not None or not request.text.strip():
            return
        if not self.session.app_settings().prefill:
            return
        # A failure is left for Write to report: the user has not asked for anything yet.
        worker = Worker(lambda w: prefill_work(self.session, request, w))
        self._prefill = worker
        self.workers.start(worker)

    def _task_changed(self) -> None:
        self._input_changed()
        task = self.task.currentData()
        self.input.setPlaceholderText(TASK_HINTS[task])
        one_line = spec_for(task).single_line
        for widget in (self.count_caption, self.count, self.suggestions, self.kept):
            widget.setVisible(one_line)
        model = self.session.app_settings().model or DEFAULT_MODEL
        self.note.setVisible(not one_line)
        self.note.setText(
            f"Drafts come from {model}, a small model that runs on any computer: it keeps to "
            "your voice but may invent names and numbers. A larger model writes better drafts: "
            '<a href="settings">Settings → Models</a>.'
        )

    def _suggestion_count(self) -> int:
        return self.count.value() if spec_for(self.task.currentData()).single_line else 1

    def _request(self) -> WriteRequest:
        app = self.session.app_settings()
        return WriteRequest(
            text=self.input.toPlainText(),
            task=self.task.currentData(),
            method=Method(self.method.currentData()),
            params=GenerationParams(max_tokens=app.max_tokens, temperature=app.temperature),
        )

    def write(self) -> None:
        if self._worker is not None:
            return
        request = self._request()
        if not request.text.strip():
            self.status.setText("Type or paste something to work on first.")
            self.input.setFocus()
            return
        self._start(request)

    def regenerate(self) -> None:
        if self._worker is not None or self._last is None:
            return
        params = self._last.params
        temperature = params.temperature or SUGGEST_TEMPERATURE
        self._start(replace(self._last, params=replace(params, seed=params.seed + 1,
                                                       temperature=temperature)))

    def _start(self, request: WriteRequest) -> None:
        # A prefill still running is for this very text (an edit would have cancelled it):
        # Write waits for the model it holds and then finds the prompt evaluated.
        self._prefill_timer.stop()
        self._last = request
        self.output.clear()
        self.output.setReadOnly(True)
        self.suggestions.clear()
        self.sources.clear()
        self._say("Loading the model…")
        n = self._suggestion_count()
        worker = Worker(lambda w: write_work(self.session, request, n, w))
        worker.signals.info.connect(self._show_sources)
        worker.signals.text.connect(self._append)
        worker.signals.result.connect(self._finished)
        worker.signals.cancelled.connect(lambda: self._say("Stopped."))
        worker.signals.failed.connect(lambda message: self._say(message, error=True))
        worker.signals.finished.connect(lambda: self._set_running(False))
        self._worker = worker
        self._set_running(True)
        self.workers.start(worker)

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def copy(self) -> None:
        """Copy the answer; a kept title or subject also becomes an example for the adapter."""
        text = self.output.toPlainText().strip()
        QGuiApplication.clipboard().setText(text)
        request = self._last
        if request is None or not text or not spec_for(request.task).single_line:
            self._say("Copied to the clipboard.")
            return
        worker = Worker(lambda _worker: keep_work(self.session, request, text))
        worker.signals.result.connect(self._kept)
        worker.signals.failed.connect(
            lambda message: self._say(f"Copied, but not kept: {message}", error=True))
        self.workers.start(worker)

    def _kept(self, count: int) -> None:
        self._show_kept(count)
        self._say("Copied, and kept as an example of how you write: it teaches your adapter "
                  "next time you train it.")

    def _show_kept(self, count: int) -> None:
        self.kept.setText(f"{count} of your choices will be used in the next training "
                          "(Privacy lists them; forget them in the Library)." if count else
                          "The titles and subjects you copy are kept to teach your adapter.")

    def _set_running(self, running: bool) -> None:
        if not running:
            self._worker = None
        self.write_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.regen_button.setEnabled(not running and self._last is not None)
        self.copy_button.setEnabled(not running)

    def _show_sources(self, prepared: PreparedWrite) -> None:
        for s in prepared.sources:
            item = QTreeWidgetItem([s.title or "(untitled)", s.date or "", s.source])
            item.setToolTip(2, s.source)
            self.sources.addTopLevelItem(item)
        for column in (0, 1):
            self.sources.resizeColumnToContents(column)
        used = len(prepared.sources)
        self._say("Writing…" + (f" with {used} item(s) of your library" if used else ""))

    def _append(self, text: str) -> None:
        cursor = self.output.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        self.output.ensureCursorVisible()
        self.streamed.emit(text)

    def _finished(self, written: Written) -> None:
        prepared = written.prepared
        for rank, suggestion in enumerate(written.suggestions, 1):
            item = QListWidgetItem(f"{rank}. {suggestion.text}")
            item.setData(Qt.ItemDataRole.UserRole, suggestion.text)
            item.setToolTip(f"Ctrl+{rank} · score {suggestion.score:.2f} "
                            "(mean log-probability under your model)")
            self.suggestions.addItem(item)
        if written.suggestions:
            self.suggestions.setCurrentRow(0)
            self.suggestions.setFocus()
        self.output.setReadOnly(False)  # the answer may be edited before it is copied
        what = (f"{len(written.suggestions)} suggestions" if written.suggestions
                else f"{len(self.output.toPlainText().split())} words")
        self._say(f"Done · {what} · {prepared.model.name} · "
                  f"{METHOD_LABELS[prepared.request.method]}")

    def _pick(self, row: int) -> None:
        item = self.suggestions.item(row)
        if item is not None:
            self.output.setPlainText(item.data(Qt.ItemDataRole.UserRole))

    def _say(self, message: str, error: bool = False) -> None:
        set_status(self.status, message, error)

    def _open_source(self, item: QTreeWidgetItem) -> None:
        path = Path(item.text(2).split("#", 1)[0])
        if path.is_file():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        else:
            self._say(f"{item.text(2)} is not a file on this disk (a commit or an imported item).")
