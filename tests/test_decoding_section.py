"""The report's decoding section: loops counted, the rule's choice, and the guards' default following the rows."""

import pandas as pd

from analysis.exp_decoding import chosen, default_decoding, loops, verdicts
from analysis.report_tools import load_rows
from tests.conftest import ROOT


def _row(decoding: str, system: str, path: str, hypothesis: str, errors: int, words: int = 5) -> dict:
    return {
        "set": "dev",
        "decoding": decoding,
        "system": system,
        "path": path,
        "hypothesis": hypothesis,
        "errors": errors,
        "reference_words": words,
    }


def test_a_loop_is_more_than_twice_the_reference_plus_five_words():
    assert loops("Sandi has a bid for shorts. " * 3, 5)  # 18 words > 15
    assert not loops("Sandy has a bit for shorts.", 5)
    assert not loops("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen", 5)


def test_the_rule_picks_the_guarded_decoding_that_never_does_worse_and_leaves_no_loop():
    loop = "Sandi has a bid for shorts. " * 4
    rows = pd.DataFrame(
        [
            _row("greedy", "base", "a", loop, 19),
            _row("greedy", "base", "b", "fine", 1),
            _row("greedy", "lora", "a", "good", 1),
            _row("guarded", "base", "a", "Sandi has a bid for shorts.", 2),  # the loop cut: fixed
            _row("guarded", "base", "b", "fine", 1),
            _row("guarded", "lora", "a", "good", 1),
            _row("guarded+logprob", "base", "a", "Sandi has a bit for shorts.", 1),
            _row("guarded+logprob", "base", "b", "fine", 1),
            _row("guarded+logprob", "lora", "a", "a sampled guess", 3),  # re-sampling unlikely text: worse
        ]
    )
    found = verdicts(rows)
    assert found["guarded"] == {
        "wer": 100 * 4 / 15,
        "greedy_wer": 100 * 21 / 15,
        "worse": [],
        "loops_kept": 0,
        "greedy_loops": 1,
        "loops_added": 0,
    }
    assert found["guarded+logprob"]["worse"] == ["lora"]
    assert chosen(found) == "guarded"
    found["guarded"]["loops_kept"] = 1
    assert chosen(found) is None


def test_the_committed_rows_choose_the_guards_default():
    rows = load_rows(ROOT / "assets" / "results", "decoding")
    assert set(rows.set) == {"speechocean762-validation", "synthetic-validation", "cc0-native-dev"}
    assert chosen(verdicts(rows)) == default_decoding()
