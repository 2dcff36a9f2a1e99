"""The MAS-LoRA maths and where it lives in Whisper: LoRA and mixture formulas as pure functions, the
mixture layer with its routing and merging, the weight rules (uniform, beta, manual: one place that
normalizes), and experts on disk as PEFT adapters."""
