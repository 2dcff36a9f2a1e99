"""Training recipes: named sets of TrainConfig values, shared by train/train.py and the experiments.

    paper     the paper's settings (the TrainConfig defaults): for a GPU and whisper-small on L2-ARCTIC
    cpu-tiny  tiny.en on the embedded corpus in minutes on a 2-core CPU

The CPU recipe crops the encoder window to 10 s, which makes a step about 4x cheaper (see
maslora/whisper/encoder_window.py); half an epoch (~48 steps of 16) keeps a run to a few minutes; a higher
learning rate than the paper's 5e-5 lets a few dozen steps move the adapters, while full fine-tuning,
which moves every weight, keeps a small one.
"""

from pathlib import Path

from maslora.training.config import TrainConfig

RECIPES = {
    "paper": {},
    "cpu-tiny": {
        "model": "tiny.en",
        "encoder_seconds": 10,
        "epochs": 0.5,
        "eval_every": 16,
        "validation_limit": 48,
        "learning_rate": 1e-3,
    },
}
FULL_FT_CPU_LEARNING_RATE = 1e-5  # whole-model updates need a far smaller step than adapters


def recipe_config(recipe: str, method: str, out: Path, **overrides) -> TrainConfig:
    """The TrainConfig of `recipe` for `method`, with `overrides` (None values ignored) on top."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    settings = dict(RECIPES[recipe])
    if recipe == "cpu-tiny" and method == "full":
        settings["learning_rate"] = FULL_FT_CPU_LEARNING_RATE
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return TrainConfig(out=out, method=method, **settings)
