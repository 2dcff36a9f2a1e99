"""Audio in and tables of utterances out: audio files and the microphone, corpora (L2-ARCTIC style,
manifests, LibriSpeech) as one table, the paper's speaker and prompt folds, training augmentation."""
