"""Render packaging/linux/inkwell.svg into the PNG, ICO and ICNS icons the installers use.

Run once after changing the SVG (the outputs are committed, so the Windows and macOS
builds need neither Qt's SVG renderer nor Pillow):  python packaging/make-icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QSvgRenderer(str(svg)).render(painter)
    painter.end()
    if not image.save(str(out)):
        raise SystemExit(f"could not write {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])  # noqa: F841 (QImage/QPainter need an application)
    svg = HERE / "linux" / "inkwell.svg"
    png = HERE / "linux" / "inkwell.png"
    render(svg, 512, png)
    image = Image.open(png)
    image.resize((256, 256), Image.Resampling.LANCZOS).save(HERE / "linux" / "inkwell-256.png")
    image.save(HERE / "windows" / "inkwell.ico",
               sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    image.save(HERE / "macos" / "inkwell.icns")
    for p in ("linux/inkwell.png", "linux/inkwell-256.png", "windows/inkwell.ico",
              "macos/inkwell.icns"):
        print(f"{p}: {(HERE / p).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
