"""The Settings panel: model, retrieval, generation length/temperature, theme.

Changes are saved as they are made, to the same files ``inkwell`` reads
(``AppSettings`` for the whole app, ``ProfileSettings`` for this profile).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLayout,
    QSpinBox,
    QWidget,
)

from core.models import DEFAULT_MODEL, ModelInfo, ModelRegistry
from desktop.model_catalog import ModelCatalogBox
from desktop.serve_box import EditorAccessBox
from desktop.session import Session
from desktop.theme import THEMES
from desktop.widgets import button, panel_layout, set_status, status_label
from desktop.workers import Worker, Workers

RETRIEVERS = {"bm25": "BM25 (keywords)", "dense": "Dense (meaning)", "hybrid": "Hybrid (both)"}


def list_models(session: Session) -> list[ModelInfo]:
    return ModelRegistry(session.home).list()


def add_model(session: Session, path: str) -> ModelInfo:
    """Validate and register a GGUF file, exactly as ``inkwell models add`` does."""
    return ModelRegistry(session.home).add(path)


def form_box(title: str, rows: list[tuple[str, QWidget | QLayout]]) -> QGroupBox:
    box = QGroupBox(title)
    box.setMaximumWidth(760)  # a form stretched over a wide window is hard to read
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
    for label, field in rows:
        form.addRow(label, field)
    return box


class SettingsPanel(QWidget):
    theme_changed = Signal(str)
    settings_changed = Signal()

    def __init__(self, session: Session, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.workers = workers
        layout = panel_layout(self, "Settings", "Saved as you change them. The command line "
                              "(inkwell) uses the same settings.")

        self.model = QComboBox()
        self.model.setAccessibleName("Model")
        self.model.setMinimumContentsLength(40)
        self.model.activated.connect(self._save_app)
        self.add_model_button = button("Add a GGUF file…", "Use a GGUF model file of your own "
                                       "(it is checked, and used where it is, not copied)")
        self.add_model_button.clicked.connect(self._pick_model_file)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.add_model_button)

        self.retriever = QComboBox()
        self.retriever.setAccessibleName("Retriever")
        for key, label in RETRIEVERS.items():
            self.retriever.addItem(label, key)
        self.k = QSpinBox()
        self.k.setAccessibleName("Retrieved items")
        self.k.setRange(0, 20)
        self.k.setToolTip("How many items of your library RAG puts into the prompt")

        self.max_tokens = QSpinBox()
        self.max_tokens.setAccessibleName("Longest answer in tokens")
        self.max_tokens.setRange(8, 2048)
        self.max_tokens.setSingleStep(16)
        self.temperature = QDoubleSpinBox()
        self.temperature.setAccessibleName("Temperature")
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setToolTip("0 always gives the most likely answer; higher is more varied")
        self.prefill = QCheckBox("Prepare the answer while I type")
        self.prefill.setToolTip("Write answers sooner: the model reads your text and the "
                                "retrieved examples before you press Write. Uses the processor "
                                "while you type; nothing leaves this machine either way.")

        self.theme = QComboBox()
        self.theme.setAccessibleName("Theme")
        for key, label in THEMES.items():
            self.theme.addItem(label, key)

        self.catalog = ModelCatalogBox(session, workers)
        self.catalog.setMaximumWidth(960)
        self.catalog.model_added.connect(lambda _info: self.refresh())

        layout.addWidget(form_box("Model", [("Writing model", model_row)]))
        layout.addWidget(self.catalog)
        layout.addWidget(form_box(f"Retrieval (profile “{session.profile.name}”)", [
            ("Retriever", self.retriever), ("Items per prompt (k)", self.k)]))
        layout.addWidget(form_box("Generation", [
            ("Longest answer (tokens)", self.max_tokens), ("Temperature", self.temperature),
            ("Speed", self.prefill)]))
        layout.addWidget(form_box("Appearance", [("Theme", self.theme)]))
        self.editor_access = EditorAccessBox(session)
        self.editor_access.setMaximumWidth(760)
        layout.addWidget(self.editor_access)
        self.status = status_label()
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.retriever.currentIndexChanged.connect(self._save_profile)
        self.k.valueChanged.connect(self._save_profile)
        self.max_tokens.valueChanged.connect(self._save_app)
        self.temperature.valueChanged.connect(self._save_app)
        self.prefill.toggled.connect(self._save_app)
        self.theme.currentIndexChanged.connect(self._theme_chosen)
        self._show_values()

    def _show_values(self) -> None:
        """Show the saved values (the CLI may have changed them) without saving them back."""
        app = self.session.app_settings()
        prof = self.session.profile_settings()
        fields = (self.retriever, self.k, self.max_tokens, self.temperature, self.prefill,
                  self.theme)
        for field in fields:
            field.blockSignals(True)
        self.retriever.setCurrentIndex(max(0, self.retriever.findData(prof.retriever)))
        self.k.setValue(prof.k)
        self.max_tokens.setValue(app.max_tokens)
        self.temperature.setValue(app.temperature)
        self.prefill.setChecked(app.prefill)
        self.theme.setCurrentIndex(max(0, self.theme.findData(app.theme)))
        for field in fields:
            field.blockSignals(False)

    def refresh(self) -> None:
        """List the models off the GUI thread, when the panel is shown.

        Listing hashes each model file once per data dir (and assembles the
        bundled Gemma on first use): seconds of work no other panel should wait for.
        """
        self._show_values()
        self.catalog.refresh()
        self.model.setEnabled(False)
        worker = Worker(lambda _w: list_models(self.session))
        worker.signals.result.connect(self._show_models)
        worker.signals.failed.connect(lambda message: set_status(self.status, message, True))
        self.workers.start(worker)

    def _show_models(self, models: list[ModelInfo]) -> None:
        active = self.session.app_settings().model or DEFAULT_MODEL
        self.model.clear()
        for m in models:
            kind = "bundled" if m.source == "bundled" else "added"
            self.model.addItem(f"{m.name}  ({kind}, {m.size / 1e6:.0f} MB)", m.name)
            self.model.setItemData(self.model.count() - 1, m.description or str(m.path),
                                   Qt.ItemDataRole.ToolTipRole)
        self.model.setCurrentIndex(max(0, self.model.findData(active)))
        self.model.setEnabled(True)

    def _save_app(self) -> None:
        settings = self.session.app_settings()
        if self.model.isEnabled() and self.model.currentData():
            settings.model = self.model.currentData()
        settings.max_tokens = self.max_tokens.value()
        settings.temperature = round(self.temperature.value(), 2)
        settings.prefill = self.prefill.isChecked()
        settings.theme = self.theme.currentData()
        settings.save(self.session.home)
        set_status(self.status, "Saved.")
        self.settings_changed.emit()

    def _save_profile(self) -> None:
        settings = self.session.profile_settings()
        settings.retriever = self.retriever.currentData()
        settings.k = self.k.value()
        settings.save(self.session.profile)
        set_status(self.status, "Saved.")
        self.settings_changed.emit()

    def _theme_chosen(self) -> None:
        self._save_app()
        self.theme_changed.emit(self.theme.currentData())

    def _pick_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a GGUF model", "", "GGUF models (*.gguf)")
        if path:
            self.add_model_file(path)

    def add_model_file(self, path: str) -> None:
        set_status(self.status, "Checking the model file…")
        worker = Worker(lambda _w: add_model(self.session, path))
        worker.signals.result.connect(self._model_added)
        worker.signals.failed.connect(lambda message: set_status(self.status, message, True))
        self.workers.start(worker)

    def _model_added(self, info: ModelInfo) -> None:
        set_status(self.status, f"Added {info.name} ({info.architecture}, "
                   f"context {info.context_length}).")
        self.refresh()
