"""Evaluate panel: the advice job runs off the GUI thread and its scores become the bar chart."""

from __future__ import annotations

import pytest

from core.settings import ProfileSettings
from desktop.write_panel import METHOD_LABELS


@pytest.mark.slow  # each method writes the held-out titles: minutes on two cores
def test_evaluate_shows_the_chart(window, session, letters, wait_idle):
    library = window.show_panel("Library")
    library.add_paths([str(letters)])
    wait_idle(library)

    panel = window.show_panel("Evaluate")
    panel.run()
    assert panel.busy and not panel.run_button.isEnabled()
    wait_idle(panel, timeout_s=600)
    assert panel.status.objectName() != "error", panel.status.text()

    bars = dict(panel.chart.bars())
    assert list(bars) == list(METHOD_LABELS.values())
    measured = {label: v for label, v in bars.items() if v is not None}
    assert {"None", "RAG (my library)"} <= set(measured)  # a cold-start user: 8 documents
    assert all(0.0 <= v <= 1.0 for v in measured.values())
    recommended = ProfileSettings.load(session.profile).recommended_method
    assert panel.recommendation.text() == f"Recommended: {METHOD_LABELS[recommended]}"
    assert "cold-start" in panel.explanation.text()

    # The advice is kept: a new window shows it without running again.
    panel.chart.set_bars([])
    panel.refresh()
    assert dict(panel.chart.bars()) == bars
