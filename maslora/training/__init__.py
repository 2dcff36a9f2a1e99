"""Training MAS-LoRA experts, a regular LoRA or full fine-tuning (the loop, checkpoints, resume), and the
named recipes that configure it."""
