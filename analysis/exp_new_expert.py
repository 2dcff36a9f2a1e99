"""Experiment 10, a new speaker's own expert: trained on k of their clips and added to the bundled experts,
scored on their other clips, against the bundled systems (issue #15).

    python -m analysis.exp_new_expert [--results assets/results]

Rows: rows/new_expert.jsonl, written by train.new_expert_experiment (base and the bundled MAS-LoRA tagged
clips 0, the systems with the new expert tagged with k). Real speakers' ages come from the committed split.
"""

import pandas as pd
import plotly.graph_objects as go

from analysis.report_tools import load_rows, pooled_wer, results_argument, save_figure, save_table
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT
from maslora.data.speechocean import age_group

NEW = "newcomer"  # the new expert's name in the rows (train.new_expert_experiment.NEWCOMER)
SYSTEMS = {
    (0, "base"): "Whisper",
    (0, "mas-uniform"): "bundled MAS-LoRA (uniform)",
    (1, "mas-beta2"): "+ own expert, beta 2",
    (1, f"expert-{NEW}"): "own expert alone",
    (1, "mas-uniform"): "all 7 experts, uniform",
}  # (whether the system has the new expert, system) -> its name here
TARGET = ("mas-beta2", f"expert-{NEW}")  # issue #15: the speaker's own expert against the bundled mixture


def named(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with `group` (synthetic accents, real adults, real children) and `name` (SYSTEMS)."""
    ages = pd.read_csv(SPEECHOCEAN_SPLIT, dtype={"speaker": str}).set_index("speaker").age
    groups = pd.Series("synthetic accents", index=rows.index)
    real = rows.source == "real"
    if real.any():
        groups[real] = "real " + age_group(rows.speaker[real].map(ages))
    names = [SYSTEMS.get((int(k > 0), s), s) for k, s in zip(rows.clips, rows.system)]
    return rows.assign(group=groups, name=names)


def wer_by_clips(rows: pd.DataFrame) -> pd.DataFrame:
    """Pooled WER (%) per group and k (0: the bundled systems), one column per system."""
    table = rows.groupby(["group", "clips", "name"]).apply(pooled_wer, include_groups=False).unstack("name")
    table = table[[name for name in SYSTEMS.values() if name in table.columns]]
    speakers = rows.groupby("group").speaker.nunique()
    table.index = [f"{group} ({speakers[group]} speakers), {k or 'no'} own clips" for group, k in table.index]
    return table.round(1).rename_axis("WER (%) on each speaker's other clips")


def per_speaker_gains(rows: pd.DataFrame) -> pd.DataFrame:
    """Per speaker, at their group's largest k: WER of each TARGET system minus the bundled mixture's."""
    gains = []
    for (group, speaker), mine in rows.groupby(["group", "speaker"]):
        bundled = mine[(mine.clips == 0) & (mine.system == "mas-uniform")]
        largest = mine.clips.max()
        for system in TARGET:
            own = mine[(mine.clips == largest) & (mine.system == system)]
            if largest and not own.empty and not bundled.empty:
                change = pooled_wer(own) - pooled_wer(bundled)
                gains.append({"group": group, "speaker": speaker, "clips": largest, "system": system, "change": change})
    return pd.DataFrame(gains)


def gains_summary(gains: pd.DataFrame) -> str:
    lines = []
    for (group, system, clips), part in gains.groupby(["group", "system", "clips"], sort=False):
        losers = part[part.change >= 0].sort_values("change", ascending=False)
        lines.append(
            f"- {group}, {SYSTEMS[(1, system)]} with {clips} clips vs the bundled mixture: {part.change.mean():+.1f} "
            f"points on average (standard deviation {part.change.std(ddof=1) if len(part) > 1 else 0:.1f} over "
            f"{len(part)} speakers); better for {int((part.change < 0).sum())} of {len(part)}"
            + (
                f"; not better for {', '.join(f'{s} ({c:+.1f})' for s, c in zip(losers.speaker, losers.change))}"
                if len(losers)
                else ""
            )
        )
    return "\n".join(lines) + "\n"


def clips_figure(rows: pd.DataFrame) -> go.Figure:
    """WER against k per group: the bundled mixture as a flat line, the systems with the new expert as curves."""
    figure = go.Figure()
    for group, part in rows.groupby("group"):
        bundled = pooled_wer(part[(part.clips == 0) & (part.system == "mas-uniform")])
        ks = sorted(k for k in part.clips.unique() if k)
        figure.add_trace(go.Scatter(x=ks, y=[bundled] * len(ks), mode="lines", name=f"{group}: bundled MAS-LoRA"))
        for system in TARGET:
            values = [pooled_wer(part[(part.clips == k) & (part.system == system)]) for k in ks]
            figure.add_trace(go.Scatter(x=ks, y=values, mode="lines+markers", name=f"{group}: {SYSTEMS[(1, system)]}"))
    figure.update_layout(
        title="A new speaker's own expert: WER on their other clips vs clips trained on",
        xaxis_title="own clips trained on",
        yaxis_title="WER (%)",
    )
    return figure


def report(results) -> str:
    title = "## 10. A new speaker's own expert, from a few clips\n\n"
    rows = load_rows(results, "new_expert")
    if rows.empty:
        return (
            title
            + "Not run yet (`python -m train.new_expert_experiment --real ../shared/data/speechocean762-train`).\n"
        )
    rows = named(rows)
    return (
        title
        + "Speakers the bundled experts never heard: fold 1's held-out synthetic test speakers and the real split's\n"
        "held-out speechocean762 speakers. For each, an expert trained on k of their clips (the app's recipe) joins\n"
        "the bundled six as expert 7; every system decodes the same other clips of that speaker. Pooled WER; seeds: "
        f"{sorted(set(rows.seed))}.\n\n"
        + save_table(wer_by_clips(rows), results, "new_expert")
        + "\n\nIssue #15's target (the speaker's own expert beats the bundled mixture on their other clips), "
        "per speaker:\n\n"
        + gains_summary(per_speaker_gains(rows))
        + "\n"
        + save_figure(clips_figure(rows), results, "new_expert_clips")
        + "\n"
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
