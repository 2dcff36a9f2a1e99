"""The real-speech section's targets, on rows made by hand: a missed target says by how much and in which
direction, and a uniform mixture that misses shows why (WER by the Mandarin expert's weight)."""

import pandas as pd

from analysis.exp_real_speech import labelled, placement_lines, summary, targets

WORDS = 10


def _rows(errors: dict[str, int], speaker: str, set_name: str) -> pd.DataFrame:
    """Four utterances of `speaker` per "trained_on/system", each with `errors` of WORDS words."""
    rows = []
    for label, count in errors.items():
        trained_on, system = label.split("/")
        for utterance in range(4):
            rows.append(
                {
                    "fold": 1,
                    "seed": 0,
                    "set": set_name,
                    "trained_on": trained_on,
                    "system": system,
                    "speaker": speaker,
                    "utterance_id": f"{speaker}-{utterance}",
                    "path": f"{speaker}/{utterance}.opus",
                    "errors": count,
                    "reference_words": WORDS,
                }
            )
    return labelled(pd.DataFrame(rows))


def _targets(errors: dict[str, int], run: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Test rows of an adult of the committed split ("0739"), native rows level with Whisper, and the targets."""
    test = _rows(errors, "0739", "speechocean762-test")
    native = _rows({"none/base": 1, f"{run}/mas-uniform": 1}, "native", "cc0-native")
    return test, native, targets(test, native, run)


def test_a_uniform_mixture_above_whisper_is_reported_as_higher_with_the_mandarin_weight_curve():
    run = "mas-lora-beside"
    errors = {"none/base": 4, "synthetic/mas-uniform": 6, f"{run}/mas-uniform": 5, f"{run}/mas-beta2": 3}
    test, native, text = _targets(errors | {f"{run}/mas-matched": 2}, run)
    assert "adults: 30.0% vs Whisper 40.0%, 25.0% lower (target >= 20%: met)" in text
    assert "adults: 50.0% vs Whisper 40.0%, 25.0% higher (target: below Whisper: missed)" in text
    assert "Mandarin expert's weight in the mixture: 1/6 50.0%, 1/2 30.0%, 1 20.0%" in text
    assert "synthetic accents alone, mixed uniformly, get 60.0%" in text
    assert "forgetting, real native recordings: +0.0 points against Whisper (target: at most +1.0: met)" in text

    better = test.assign(errors=test.errors.where(test.label != f"{run}/mas-uniform", 3))
    assert "why:" not in targets(better, native, run)  # a met target needs no explanation


def test_the_summary_compares_the_validation_winner_with_the_lora_trained_on_the_same_speakers(tmp_path):
    validation = {
        "none/base": 4,
        "synthetic/mas-uniform": 5,
        "mas-lora-beside/mas-uniform": 3,
        "mas-lora-instead/mas-uniform": 2,  # the winner on validation, whatever test says
        "lora-beside/lora": 1,  # shown beside the candidates, never one of them
    }
    test = {
        "none/base": 4,
        "lora-beside/lora": 3,
        "mas-lora-beside/mas-uniform": 1,
        "mas-lora-instead/mas-uniform": 5,
        "mas-lora-instead/mas-beta2": 2,
    }
    rows = pd.concat(
        [_rows(validation, "2168", "speechocean762-validation"), _rows(test, "0739", "speechocean762-test")]
    )
    (tmp_path / "rows").mkdir()
    rows.drop(columns=["label", "age_group", "order"]).to_json(
        tmp_path / "rows" / "real.jsonl", orient="records", lines=True
    )
    lines = summary(tmp_path).splitlines()
    assert "MAS-LoRA + real speakers instead of the synthetic Mandarin ones" in lines[0]
    assert lines[1:] == [
        "  MAS-LoRA uniform (accent unknown) 50.0% vs regular LoRA 30.0%: +20.0 points (95% interval +20.0 to +20.0)",
        "  MAS-LoRA beta 2 (accent known) 20.0% vs regular LoRA 30.0%: -10.0 points (95% interval -10.0 to -10.0)",
        "  MAS-LoRA beta 2 (accent known) 20.0% vs MAS-LoRA uniform (accent unknown) 50.0%: "
        "-30.0 points (95% interval -30.0 to -30.0)",
        "  MAS-LoRA uniform (accent unknown) 50.0% vs Whisper 40.0%: +10.0 points (95% interval +10.0 to +10.0)",
        "  regular LoRA 30.0% vs Whisper 40.0%: -10.0 points (95% interval -10.0 to -10.0)",
    ]
    assert summary(tmp_path / "nothing") == ""


def test_both_placements_of_the_real_speakers_are_compared_system_by_system():
    errors = {
        "mas-lora-beside/mas-uniform": 5,
        "mas-lora-instead/mas-uniform": 3,
        "mas-lora-beside/mas-beta2": 2,
        "mas-lora-instead/mas-beta2": 2,
        "mas-lora-instead/mas-matched": 1,  # beside's matched expert not decoded: no line, never a half comparison
    }
    lines = placement_lines(_rows(errors, "0739", "speechocean762-test")).splitlines()
    assert lines == [
        "- MAS-LoRA uniform (accent unknown): 30.0% instead vs 50.0% beside, -20.0 points (95% interval -20.0 to "
        "-20.0); adults -20.0 points (95% interval -20.0 to -20.0)",
        "- MAS-LoRA beta 2 (accent known): 20.0% instead vs 20.0% beside, +0.0 points (95% interval +0.0 to +0.0); "
        "adults +0.0 points (95% interval +0.0 to +0.0)",
    ]
    assert placement_lines(_rows({"mas-lora-beside/mas-uniform": 5}, "0739", "speechocean762-test")) == ""


def test_a_shared_design_run_is_measured_against_both_regular_loras():
    run = "shared-decoder-mas-beside"
    loras = {"lora-beside/lora": 5, "lora-r32-beside/lora": 3}
    _, _, text = _targets({"none/base": 6, **loras, f"{run}/mas-beta2": 3, f"{run}/mas-uniform": 4}, run)
    assert "minus regular LoRA, + real speakers, every held-out speaker: -20.0 points" in text
    assert "(target: below it, the interval excluding zero: met)" in text
    assert "minus regular LoRA, rank 32, + real speakers, every held-out speaker: +0.0 points" in text
    assert "(target: below it, the interval excluding zero: missed)" in text


def test_a_beta_2_that_loses_to_the_lora_shows_the_mandarin_weight_curve_and_its_worst_utterance():
    run = "shared-decoder-mas-beside"
    errors = {"none/base": 4, "lora-beside/lora": 2, f"{run}/mas-uniform": 5, f"{run}/mas-beta2": 3}
    errors |= {f"{run}/mas-matched": 2}
    test = _rows(errors, "0739", "speechocean762-test").assign(hypothesis="ten words")
    native = _rows({"none/base": 1, f"{run}/mas-uniform": 1}, "native", "cc0-native")
    loop = (test.label == f"{run}/mas-beta2") & (test.utterance_id == "0739-2")
    test.loc[loop, ["errors", "hypothesis"]] = [60, " ".join(["again"] * 61)]  # one utterance repeats itself
    text = targets(test, native, run)
    assert "(target: below it, the interval excluding zero: missed)" in text
    assert "Mandarin expert's weight: 1/6 50.0%, 1/2 " in text and ", 1 20.0%" in text
    assert "one utterance makes 58 of the 61 errors" in text and "(61 words heard for 10 said)" in text
    assert "without it: +10.0 points" in text  # the three other utterances: 3 errors against 2 in each 10 words
