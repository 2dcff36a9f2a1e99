"""The learning-curve summary: steps, epochs, the best evaluation and the patience spent after it."""

import pandas as pd

from analysis.exp_curves import run_summary


def test_a_run_that_stopped_early_shows_its_best_step_and_the_evaluations_after_it():
    history = pd.DataFrame(
        [
            {"step": 1, "epoch": 0, "loss": 2.0},
            {"step": 2, "epoch": 0, "loss": 1.5, "validation_wer": 0.30, "validation_matched_wer": 0.28},
            {"step": 3, "epoch": 1, "loss": 1.0},
            {"step": 4, "epoch": 1, "loss": 0.9, "validation_wer": 0.20, "validation_matched_wer": 0.25},
            {"step": 6, "epoch": 2, "loss": 0.8, "validation_wer": 0.22, "validation_matched_wer": 0.19},
            {"step": 8, "epoch": 3, "loss": 0.7, "validation_wer": 0.21, "validation_matched_wer": 0.18},
        ]
    )
    summary = run_summary(history)
    assert summary == {
        "steps": 8,
        "epochs": 4,
        "best step": 4,
        "evaluations after the best": 2,
        "validation_wer": 20.0,
        "validation_matched_wer": 25.0,  # where validation_wer was best, not its own minimum
    }


def test_a_run_never_evaluated_has_only_its_length():
    history = pd.DataFrame([{"step": 1, "epoch": 0, "loss": 2.0}])
    assert run_summary(history) == {"steps": 1, "epochs": 1}
