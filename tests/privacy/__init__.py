"""Proofs of the privacy promise: zero egress, forgotten means gone, private files."""
