"""Inkwell's desktop window: a thin PySide6 shell over ``core``.

Every action here calls the same ``core`` function as the matching ``inkwell``
command, so the window can never do something the CLI cannot (and the tests of
``core`` cover what the window does).  Qt stays inside this package: ``core``
must import without it.
"""
