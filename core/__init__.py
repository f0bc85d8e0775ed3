"""Inkwell's core: everything that is not UI.

The GUI (``desktop``) and the CLI (``core.cli``) are thin shells over the
functions in this package; ``core`` never imports Qt.
"""

__version__ = "0.1.0"
