"""Look and feel: the shipped font, light and dark palettes, and a small style sheet.

The font ships with the app (DejaVu Sans, see ``assets/LICENSE-DejaVu.txt``)
and Qt's Fusion style is used everywhere, so the window - and the screenshots
the tests render - look the same on every machine.
"""

from __future__ import annotations

from importlib.resources import files

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

FONT_FAMILY = "DejaVu Sans"
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
THEMES = {"system": "Follow system", "light": "Light", "dark": "Dark"}

_COLORS = {
    "light": {
        "window": "#f5f6f8", "base": "#ffffff", "alt": "#f0f2f5", "text": "#1f2328",
        "muted": "#5c6470", "button": "#eceef2", "accent": "#3461c1", "accent_text": "#ffffff",
        "border": "#d5d9e0", "nav": "#e9ecf1", "danger": "#b3261e",
    },
    "dark": {
        "window": "#1d2025", "base": "#25282e", "alt": "#2b2f36", "text": "#e4e6ea",
        "muted": "#9aa2ad", "button": "#30343b", "accent": "#6f9cf5", "accent_text": "#10141a",
        "border": "#3a3f47", "nav": "#181b1f", "danger": "#f2867d",
    },
}


def load_fonts() -> str:
    """Register the shipped font with Qt and return its family name."""
    assets = files("desktop") / "assets"
    for name in FONT_FILES:
        data = (assets / name).read_bytes()
        if QFontDatabase.addApplicationFontFromData(data) < 0:
            raise RuntimeError(f"Qt could not load the shipped font {name}")
    return FONT_FAMILY


def resolve_theme(theme: str) -> str:
    """``system`` becomes ``light`` or ``dark`` from the desktop's colour scheme."""
    if theme in ("light", "dark"):
        return theme
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def apply_theme(app: QApplication, theme: str) -> None:
    """Style the whole application; safe to call again when the user switches theme."""
    c = _COLORS[resolve_theme(theme)]
    app.setStyle("Fusion")
    font = QFont(FONT_FAMILY, 10)
    app.setFont(font)
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: c["window"],
        QPalette.ColorRole.WindowText: c["text"],
        QPalette.ColorRole.Base: c["base"],
        QPalette.ColorRole.AlternateBase: c["alt"],
        QPalette.ColorRole.Text: c["text"],
        QPalette.ColorRole.Button: c["button"],
        QPalette.ColorRole.ButtonText: c["text"],
        QPalette.ColorRole.Highlight: c["accent"],
        QPalette.ColorRole.HighlightedText: c["accent_text"],
        QPalette.ColorRole.ToolTipBase: c["base"],
        QPalette.ColorRole.ToolTipText: c["text"],
        QPalette.ColorRole.PlaceholderText: c["muted"],
        QPalette.ColorRole.Link: c["accent"],
        QPalette.ColorRole.Mid: c["border"],
    }
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(c["muted"]))
    app.setPalette(pal)
    app.setStyleSheet(_STYLE.format(**c))


_STYLE = """
QWidget#side {{ background: {nav}; }}
QListWidget#nav {{
    background: {nav}; border: none; padding: 6px 6px; font-size: 11pt; outline: 0;
}}
QListWidget#nav::item {{ padding: 9px 14px; border-radius: 6px; margin: 1px 0; }}
QListWidget#nav::item:selected {{ background: {accent}; color: {accent_text}; }}
QListWidget#nav::item:hover:!selected {{ background: {button}; }}
QLabel#heading {{ font-size: 15pt; font-weight: bold; }}
QLabel#subtle {{ color: {muted}; }}
QLabel#error {{ color: {danger}; }}
QLabel#brand {{ font-size: 13pt; font-weight: bold; padding: 14px 18px 4px 18px; }}
QPushButton {{
    padding: 5px 14px; border: 1px solid {border}; border-radius: 5px; background: {button};
}}
QPushButton:hover {{ border-color: {accent}; }}
QPushButton:disabled {{ color: {muted}; }}
QPushButton#primary {{
    background: {accent}; color: {accent_text}; border-color: {accent}; font-weight: bold;
}}
QPushButton#primary:disabled {{ background: {button}; color: {muted}; border-color: {border}; }}
QPushButton#danger {{ color: {danger}; }}
QPlainTextEdit, QTextEdit, QLineEdit, QTableView, QTreeWidget, QListWidget {{
    border: 1px solid {border}; border-radius: 5px; background: {base};
}}
QPlainTextEdit, QTextEdit {{ padding: 6px; }}
QLineEdit {{ padding: 3px 6px; }}
QTreeView::item, QTableView::item {{ padding: 3px 4px; }}
QGroupBox {{
    border: 1px solid {border}; border-radius: 6px; margin-top: 14px; padding: 10px 8px 8px 8px;
}}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; font-weight: bold; }}
QHeaderView::section {{
    background: {alt}; border: none; border-bottom: 1px solid {border}; padding: 4px 6px;
}}
QProgressBar {{
    border: 1px solid {border}; border-radius: 5px; background: {base}; text-align: center;
    min-height: 18px;
}}
QProgressBar::chunk {{ background: {accent}; border-radius: 4px; }}
QStatusBar {{ color: {muted}; }}
"""
