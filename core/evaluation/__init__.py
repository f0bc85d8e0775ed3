"""Measuring the four methods: on LaMP-format data (``inkwell eval``) and on the user's own
held-out writing (``inkwell advise``), through one per-user runner."""
