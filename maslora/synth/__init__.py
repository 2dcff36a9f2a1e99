"""Synthetic accented English: espeak-ng phonemes, L1 transfer rules per accent, shared voices."""
