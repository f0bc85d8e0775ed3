"""Why PySide6's pin differs per Python version: run it under each (see pyproject.toml).

PySide6 6.12.0 drops a reference to ``True`` on every emit of a ``Signal(bool)``.  On
CPython 3.11 the count reaches zero and the interpreter aborts ("bool_dealloc: deallocating
True or False"); from 3.12 on ``True`` is immortal (PEP 683) and its count never moves.
    python packaging/pyside-bool-refcount.py 100000
"""

import sys

from PySide6.QtCore import QCoreApplication, QObject, Signal


class Box(QObject):
    changed = Signal(bool)


app = QCoreApplication([])
box = Box()
box.changed.connect(lambda _value: None)
before = sys.getrefcount(True)
emits = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
for _ in range(emits):
    box.changed.emit(True)
print(f"Python {sys.version.split()[0]}, PySide6 {__import__('PySide6').__version__}: "
      f"True's refcount {before} -> {sys.getrefcount(True)} after {emits} emits")
