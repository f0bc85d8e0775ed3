"""Two small charts painted with QPainter: PySide6-Essentials ships no QtCharts.

Both take their colours from the widget's palette, so they follow the theme.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

_MARGIN = 12.0


class _Chart(QWidget):
    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._empty_text = empty_text
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(180)

    def sizeHint(self) -> QSize:
        return QSize(480, 240)

    def _color(self, role: QPalette.ColorRole, alpha: int = 255) -> QColor:
        color = QColor(self.palette().color(role))
        color.setAlpha(alpha)
        return color

    def _paint_empty(self, painter: QPainter) -> None:
        painter.setPen(self._color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, self._empty_text)


class BarChart(_Chart):
    """Vertical bars with their values above them; one bar may be highlighted.

    A bar without a value (``None``) is drawn as "not measured" rather than as a
    zero, which would read as a measured failure.
    """

    def __init__(self, empty_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(empty_text, parent)
        self._bars: list[tuple[str, float | None]] = []
        self._highlight: str | None = None

    def set_bars(self, bars: Sequence[tuple[str, float | None]],
                 highlight: str | None = None) -> None:
        self._bars = list(bars)
        self._highlight = highlight
        self.setAccessibleDescription("; ".join(
            f"{label}: {'not measured' if value is None else f'{value:.3f}'}"
            for label, value in self._bars))
        self.update()

    def bars(self) -> list[tuple[str, float | None]]:
        return list(self._bars)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self._bars:
            self._paint_empty(painter)
            return
        fm = painter.fontMetrics()
        line = fm.height()
        area = QRectF(self.rect()).adjusted(_MARGIN, _MARGIN + line,
                                            -_MARGIN, -_MARGIN - line * 1.6)
        top = max((value for _, value in self._bars if value is not None), default=0.0) or 1.0
        slot = area.width() / len(self._bars)
        bar_w = min(slot * 0.55, 90.0)
        painter.setPen(QPen(self._color(QPalette.ColorRole.Mid), 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        for i, (label, value) in enumerate(self._bars):
            height = 0.0 if value is None else area.height() * (value / top) * 0.92
            x = area.left() + slot * i + (slot - bar_w) / 2
            bar = QRectF(x, area.bottom() - height, bar_w, height)
            chosen = label == self._highlight
            fill = self._color(QPalette.ColorRole.Highlight, 255 if chosen else 110)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(bar, 3, 3)
            painter.setPen(self._color(QPalette.ColorRole.Text if value is not None
                                       else QPalette.ColorRole.PlaceholderText))
            value_box = QRectF(x - slot, bar.top() - line - 2, bar_w + 2 * slot, line)
            painter.drawText(value_box, Qt.AlignmentFlag.AlignCenter,
                             "not measured" if value is None else f"{value:.3f}")
            painter.setPen(self._color(QPalette.ColorRole.Text))
            font = painter.font()
            font.setBold(chosen)
            painter.setFont(font)
            label_box = QRectF(area.left() + slot * i, area.bottom() + 4, slot, line * 1.4)
            painter.drawText(label_box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             fm.elidedText(label, Qt.TextElideMode.ElideRight, int(slot)))
            font.setBold(False)
            painter.setFont(font)


class LineChart(_Chart):
    """A polyline of (x, y) points with the y range labelled: the training loss curve."""

    def __init__(self, empty_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(empty_text, parent)
        self._points: list[tuple[float, float]] = []

    def set_points(self, points: Sequence[tuple[float, float]]) -> None:
        self._points = list(points)
        self.update()

    def add_point(self, x: float, y: float) -> None:
        self._points.append((x, y))
        self.update()

    def points(self) -> list[tuple[float, float]]:
        return list(self._points)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if not self._points:
            self._paint_empty(painter)
            return
        fm = painter.fontMetrics()
        label_w = fm.horizontalAdvance("00.000") + 6
        area = QRectF(self.rect()).adjusted(_MARGIN + label_w, _MARGIN,
                                            -_MARGIN, -_MARGIN - fm.height())
        xs = [p[0] for p in self._points]
        ys = [p[1] for p in self._points]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y0, y1 = y0 - 0.5, y1 + 0.5
        painter.setPen(QPen(self._color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(area)
        painter.setPen(self._color(QPalette.ColorRole.PlaceholderText))
        left = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for value, y in ((y1, area.top()), (y0, area.bottom())):
            box = QRectF(_MARGIN, y - fm.height() / 2, label_w - 6, fm.height())
            painter.drawText(box, left, f"{value:.3f}")
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), fm.height()),
                         Qt.AlignmentFlag.AlignRight, f"step {int(max(xs))}")
        poly = QPolygonF([
            QPointF(area.left() + (x - x0) / (x1 - x0) * area.width(),
                    area.bottom() - (y - y0) / (y1 - y0) * area.height())
            for x, y in self._points
        ])
        painter.setPen(QPen(self._color(QPalette.ColorRole.Highlight), 2))
        painter.drawPolyline(poly)
