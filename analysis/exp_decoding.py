"""Decoding on development speakers: greedy against the guards, system by system, and the default it chose.

    python -m analysis.exp_decoding [--results assets/results]

Rows: rows/decoding.jsonl, written by train.decoding_dev (the demo's bundled systems on three development
sets, under each decoding of DECODINGS). A transcript loops when it has more words than
twice its reference's, plus 5. The rule, chosen on these rows only: among the guarded decodings that are
not worse than greedy for any system (pooled over the sets) and keep none of greedy's loops, the one with
the lowest pooled WER; maslora.whisper.guards' default should be it.
"""

import pandas as pd

from analysis.report_tools import load_rows, pooled_wer, results_argument, save_table
from maslora.wer import normalize
from maslora.whisper.guards import DecodingGuards
from maslora.whisper.transcribe import GREEDY, GUARDED, DecodingOptions

SYSTEMS = {
    "base": "Whisper (30 s window)",
    "lora": "regular LoRA",
    "mas-uniform": "MAS-LoRA uniform",
    "mas-beta2": "MAS-LoRA beta 2",
}
DECODINGS = {  # what the section compares (train.decoding_dev decodes the rows)
    "greedy": GREEDY,  # the paper's decoding, and every experiment's
    "guarded": GUARDED,  # re-sample loops only
    "guarded+logprob": DecodingOptions(guards=DecodingGuards(resample_below_logprob=-1.0)),  # openai/whisper's
}
LOOP_WORDS = (2, 5)  # a hypothesis of more than 2 x reference words + 5 loops


def loops(hypothesis: str, reference_words: int) -> bool:
    """More (normalized) words than 2 x the reference's + 5: a transcript that ran on past what was said."""
    times, plus = LOOP_WORDS
    return len(normalize(hypothesis).split()) > times * reference_words + plus


def looping(rows: pd.DataFrame) -> pd.Series:
    """Whether each row's hypothesis loops (see loops)."""
    return pd.Series(map(loops, rows.hypothesis, rows.reference_words), index=rows.index, dtype=bool)


def default_decoding() -> str:
    """The name, in DECODINGS, of the decoding a listener gets by default (maslora.whisper.transcribe.GUARDED)."""
    return next(name for name, options in DECODINGS.items() if options == GUARDED)


def decoding_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (set, system), then each system pooled over the sets: WER and loops of every decoding."""
    rows = rows.assign(loops=looping(rows))
    pooled = rows.assign(set="all sets")
    cells = {}
    for (set_name, system), group in pd.concat([rows, pooled]).groupby(["set", "system"], sort=False):
        line = {}
        for decoding in DECODINGS:
            decoded = group[group.decoding == decoding]
            line[f"{decoding} WER"] = pooled_wer(decoded) if len(decoded) else float("nan")
            line[f"{decoding} loops"] = str(int(decoded.loops.sum())) if len(decoded) else ""
        cells[set_name, SYSTEMS[system]] = line
    table = pd.DataFrame(cells).T
    table.index = [f"{set_name}, {system}" for set_name, system in table.index]
    return table.rename_axis("set, system")


def verdicts(rows: pd.DataFrame) -> dict[str, dict]:
    """Per guarded decoding: its pooled WER, the systems it makes worse than greedy (pooled over the sets),
    greedy's looping clips it still loops on, and the loops it adds."""
    rows = rows.assign(loops=looping(rows))
    key = ["set", "system", "path"]
    greedy = rows[rows.decoding == "greedy"].set_index(key)
    found = {}
    for decoding in (name for name in DECODINGS if name != "greedy"):
        guarded = rows[rows.decoding == decoding].set_index(key)
        both = greedy.join(guarded, suffixes=("_greedy", "_guarded"), how="inner")
        worse = [
            system
            for system, group in both.groupby(level="system")
            if group.errors_guarded.sum() > group.errors_greedy.sum()
        ]
        found[decoding] = {
            "wer": 100 * both.errors_guarded.sum() / both.reference_words_guarded.sum(),
            "greedy_wer": 100 * both.errors_greedy.sum() / both.reference_words_greedy.sum(),
            "worse": worse,
            "loops_kept": int((both.loops_greedy & both.loops_guarded).sum()),
            "greedy_loops": int(both.loops_greedy.sum()),
            "loops_added": int((~both.loops_greedy & both.loops_guarded).sum()),
        }
    return found


def chosen(found: dict[str, dict]) -> str | None:
    """The decoding the rule picks (see the module's docstring), or None if no guarded decoding passes."""
    passing = [name for name, v in found.items() if not v["worse"] and not v["loops_kept"] and not v["loops_added"]]
    return min(passing, key=lambda name: found[name]["wer"]) if passing else None


def report(results) -> str:
    title = "## Decoding: greedy or guarded, chosen on development speakers\n\n"
    rows = load_rows(results, "decoding")
    if rows.empty:
        return title + "Not run yet (`python -m train.decoding_dev --real ../shared/data/speechocean762-train`).\n"
    table = decoding_table(rows)
    found = verdicts(rows)
    pick, default = chosen(found), default_decoding()
    clips = rows.groupby("set").path.nunique()
    lines = [
        f"- {name}: {v['wer']:.1f}% pooled over every system and set (greedy {v['greedy_wer']:.1f}%); "
        + (f"worse than greedy for {', '.join(SYSTEMS[s] for s in v['worse'])}" if v["worse"] else "no system worse")
        + f"; loops on {v['loops_kept']} of greedy's {v['greedy_loops']} looping transcripts, and on "
        f"{v['loops_added']} where greedy does not"
        for name, v in found.items()
    ]
    return (
        title
        + "The demo's bundled systems (Whisper in its own 30 s window, the others in their 10 s) on "
        + ", ".join(f"{n} clips of {s}" for s, n in clips.items())
        + ": speakers that no reported figure is measured on (`train/decoding_dev.py` says which; the native clips "
        "read prompts the adapters trained on, so they measure the decoding, not forgetting). Decodings: greedy, "
        "the paper's and every experiment's; `guarded`, the guards re-sampling only transcripts that loop (text "
        "that gzips more than 2.4x, still being written at the clip's token budget), then cutting a loop that is "
        "left at its first repetition; `guarded+logprob`, the same plus openai/whisper's re-sampling of unlikely "
        "text (mean log-probability below -1). Both keep an attempt that does not loop over one that does, and "
        f"empty silence. WER (%) and looping transcripts (more words than {LOOP_WORDS[0]} x the reference's + "
        f"{LOOP_WORDS[1]}):\n\n"
        + save_table(table, results, "decoding")
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        + (
            f"The rule (not worse than greedy for any system, no loop kept or added, then the lowest WER) chooses "
            f"**{pick}**; the guards' default (`DecodingGuards()`) is **{default}**"
            + (" (the same)." if pick == default else ": they differ, and the default should follow the rows.")
            if pick
            else f"No guarded decoding passes the rule; the guards' default (`DecodingGuards()`) is **{default}**."
        )
        + "\n"
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
