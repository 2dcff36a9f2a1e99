"""Training recipes: named sets of TrainConfig values, shared by train/train.py and the experiments.

    paper     the paper's settings (the TrainConfig defaults): for a GPU and whisper-small on L2-ARCTIC,
              validated as the paper does, on held-out prompts of the training speakers
    cpu-tiny  tiny.en on the embedded corpus, trained to convergence on a 2-core CPU
    cpu-base  the same for Whisper base (multilingual, decoding English): only the model changes

The CPU recipe crops the encoder window to 10 s, which makes a step about 4x cheaper (see
maslora/whisper/encoder_window.py), and takes the speed options that `python -m analysis.bench_training`
measured to pay together: each batch padded only to its longest clip, and batches of similar lengths
(one forward pass of 16 and prefetching each paid alone, but not on top of these). On 2 cores, run
it in 2 one-thread processes (train/train.py's train_in_processes; the cpu experiment profile does).
It trains on 200 of the fold's training
prompts (2 speakers x 6 accents x 200 = 2,400 clips an epoch), validates on the held-out validation
speakers once an epoch, and stops when 2 evaluations in a row did not beat the best (at most 12
epochs). A higher learning rate than the paper's 5e-5 lets a CPU budget of steps move the adapters,
while full fine-tuning, which moves every weight, keeps a small one.

cpu-base keeps every other value of cpu-tiny, so that the two sizes differ by the model alone: the same
10 s window (the clips are as long whatever the model), the same batch of 16 (a step sees the same data, so
curves compare step for step), the same learning rate (the one tiny.en's runs converged with; base's
validation curve says if it is too high: a best at the first evaluation, as the rank-64 LoRA had on
tiny.en), the same stopping rule on validation speakers. A step costs about 2-3x tiny.en's.
"""

from pathlib import Path

from maslora.training.config import TrainConfig

RECIPES = {
    "paper": {"validation": "prompts"},
    "cpu-tiny": {
        "model": "tiny.en",
        "encoder_seconds": 10,
        "fit_window": True,
        "group_by_length": True,
        "train_prompts": 200,
        "epochs": 12,
        "eval_every": None,
        "patience": 2,
        "learning_rate": 1e-3,
    },
}
RECIPES["cpu-base"] = {**RECIPES["cpu-tiny"], "model": "base"}
FULL_FT_CPU_LEARNING_RATE = 1e-5  # whole-model updates need a far smaller step than adapters


def recipe_config(recipe: str, method: str, out: Path, **overrides) -> TrainConfig:
    """The TrainConfig of `recipe` for `method`, with `overrides` (None values ignored) on top."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    settings = dict(RECIPES[recipe])
    if recipe.startswith("cpu-") and method == "full":
        settings["learning_rate"] = FULL_FT_CPU_LEARNING_RATE
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return TrainConfig(out=out, method=method, **settings)
