"""Base Whisper, a regular LoRA and MAS-LoRA as rows of batches through one model; the demo's
comparison; the evaluation runner that writes rows; the bundled experts."""
