"""Expert weights from the audio (beyond the paper): the accent classifier on the frozen encoder, the
rules that turn its posterior into weights, the learned per-block router, and training both."""
