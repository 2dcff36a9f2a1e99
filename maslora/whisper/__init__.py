"""Whisper itself, offline: the CTranslate2 reader and converter, loading from anywhere, the encoder window,
greedy decoding, transcription, training targets and loss, and pooled encoder states. Knows nothing of
accents or experts."""
