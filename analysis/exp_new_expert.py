"""Experiment 10, a new speaker's own expert: trained on k of their clips and added to the bundled experts,
scored on their other clips, against the bundled systems.

    python -m analysis.exp_new_expert [--results assets/results]

Rows: rows/new_expert.jsonl, written by train.new_expert_experiment (base and the bundled MAS-LoRA tagged
clips 0, the systems with the new expert tagged with k). Real speakers' ages come from the committed split.
"""

import pandas as pd
import plotly.graph_objects as go

from analysis.report_tools import load_rows, pooled_wer, results_argument, save_figure, save_table
from maslora.data.corpora import ASSETS
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT
from maslora.data.speechocean import age_group
from maslora.systems.bundle import BUNDLED_EXPERTS, bundled_real_speech

NAMES = [
    "Whisper",
    "bundled MAS-LoRA (uniform)",
    "bundled MAS-LoRA, beta 2",
    "its expert, trained with the others, alone",
    "MAS-LoRA without it (uniform)",
    "+ own expert, beta 2",
    "own expert alone",
    "all experts, uniform",
]  # the table's columns, in order
ADD_BACK = "add-back"  # rows of an accent added back to experts trained without it
SOURCES = {"synthetic": "the synthetic speakers", "real": "the real speakers", ADD_BACK: "the added-back accent"}
TARGET = (NAMES[5], NAMES[6])  # the target: the speaker's own expert against the bundled mixture
SHIPPED = f"{BUNDLED_EXPERTS.name}/tiny.en"  # the demo's bundle, as rows tag it (train.new_expert_experiment.row_tags)


def system_name(source: str, clips: int, system: str, weighting: str | None) -> str:
    """What a row's system is, given its k: -1 the bundled systems of an added-back accent, 0 the systems
    before any own clip, k > 0 the systems holding the expert trained on k clips."""
    alone = weighting == "expert"
    if clips < 0:
        return NAMES[3] if alone else {"base": NAMES[0], "mas-uniform": NAMES[1], "mas-beta2": NAMES[2]}[system]
    if clips == 0:
        return {"base": NAMES[0], "mas-uniform": NAMES[4] if source == ADD_BACK else NAMES[1]}[system]
    return NAMES[6] if alone else {"mas-beta2": NAMES[5], "mas-uniform": NAMES[7]}[system]


def named(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows with `group` (synthetic accents, real adults, real children, add-back: <accent>) and `name`."""
    ages = pd.read_csv(SPEECHOCEAN_SPLIT, dtype={"speaker": str}).set_index("speaker").age
    groups = pd.Series("synthetic accents", index=rows.index)
    real, added = rows.source == "real", rows.source == ADD_BACK
    if real.any():
        groups[real] = "real " + age_group(rows.speaker[real].map(ages))
    groups[added] = ADD_BACK + ": " + rows.accent[added]
    names = [system_name(*values) for values in zip(rows.source, rows.clips, rows.system, rows.weighting)]
    return rows.assign(group=groups, name=names)


def one_bundle_per_source(rows: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The rows of one bundle per source (synthetic, real, add-back), and {source: bundle}: the demo's bundle
    where it was measured, else the first measured. Rows of a replaced bundle stay (`--bundles` reproduces
    them) but never mix with the new one's in one source; a source not yet rerun keeps the old bundle's."""
    chosen = {
        source: SHIPPED if (part.bundle == SHIPPED).any() else sorted(set(part.bundle))[0]
        for source, part in rows.groupby("source")
    }
    return rows[rows.bundle == rows.source.map(chosen)], chosen


def mandarin_heard(bundle: str) -> str:
    """What a bundle's Mandarin expert heard (the real speakers' L1)."""
    folder, size = bundle.split("/")
    heard = bundled_real_speech(size, ASSETS / folder)["mas-lora"]
    if heard is None:
        return "knows only from synthetic voices"
    placement = "beside" if heard["placement"] == "beside" else "instead of"
    return f"knows from {heard['speakers']} real training speakers (none of these) {placement} synthetic voices"


def bundle_lines(chosen: dict[str, str]) -> str:
    """A line per bundle read ({source: bundle}, one_bundle_per_source's): its speakers, whose experts they are."""
    lines = []
    for bundle in sorted(set(chosen.values()), key=lambda b: b != SHIPPED):  # the demo's first
        folder = bundle.split("/")[0]
        which = "the demo's" if bundle == SHIPPED else f"not the demo's: `--bundles assets/{folder}` measures them"
        sources = ", ".join(name for source, name in SOURCES.items() if chosen.get(source) == bundle)
        lines.append(
            f"- {sources}: the experts of assets/{bundle} ({which}); the real speakers' accent (Mandarin L1) "
            f"it {mandarin_heard(bundle)}\n"
        )
    return "".join(lines)


def row_label(group: str, clips: int, speakers: int) -> str:
    if group.startswith(ADD_BACK):
        what = {-1: "trained with the others", 0: "left out"}.get(clips, f"added from {clips} clips")
        return f"{group}, {what}"
    return f"{group} ({speakers} speakers), {clips or 'no'} own clips"


def wer_by_clips(rows: pd.DataFrame) -> pd.DataFrame:
    """Pooled WER (%) per group and k (0: the bundled systems), one column per system."""
    table = rows.groupby(["group", "clips", "name"]).apply(pooled_wer, include_groups=False).unstack("name")
    table = table[[name for name in NAMES if name in table.columns]]
    speakers = rows.groupby(["group", "clips"]).speaker.nunique()  # a speaker may lack clips for the largest k
    table.index = [row_label(group, k, speakers[group, k]) for group, k in table.index]
    return table.round(1).rename_axis("WER (%) on each speaker's other clips")


def per_speaker_gains(rows: pd.DataFrame, against: str = NAMES[1]) -> pd.DataFrame:
    """Per new speaker, at their largest k: WER of their own expert (beta 2 and alone) minus that of the
    system `against` (the bundled mixture, or Whisper untrained), on their other clips."""
    gains = []
    for (group, speaker), mine in rows[rows.source != ADD_BACK].groupby(["group", "speaker"]):
        before = mine[(mine.clips == 0) & (mine.name == against)]
        largest = mine.clips.max()
        for name in TARGET:
            own = mine[(mine.clips == largest) & (mine.name == name)]
            if largest > 0 and not own.empty and not before.empty:
                change = pooled_wer(own) - pooled_wer(before)
                gains.append({"group": group, "speaker": speaker, "clips": largest, "name": name, "change": change})
    return pd.DataFrame(gains, columns=["group", "speaker", "clips", "name", "change"])


def clips_used(part: pd.DataFrame) -> str:
    """The k the speakers were compared at: the usual one, and the speakers who lacked it (their readings over
    the clip limit left too few to draw from) with theirs."""
    usual = int(part.clips.mode().max())
    fewer = part[part.clips != usual]
    if fewer.empty:
        return f"{usual} clips"
    return f"{usual} clips ({', '.join(f'{s}: {k}' for s, k in zip(fewer.speaker, fewer.clips))}, lacking {usual})"


def gains_summary(gains: pd.DataFrame, against: str = "the bundled mixture") -> str:
    """One line per group and system: the mean change over speakers, each at their largest k, and who does not
    gain (a tie is not a gain: the issue asks the own expert to beat the mixture)."""
    lines = []
    for (group, name), part in gains.groupby(["group", "name"], sort=False):
        tied = part[part.change.abs() < 1e-9]
        worse = part[part.change >= 1e-9].sort_values("change", ascending=False)
        spread = part.change.std(ddof=1) if len(part) > 1 else 0.0
        lines.append(
            f"- {group}, {name} with {clips_used(part)} vs {against}: {part.change.mean():+.1f} points on average "
            f"(standard deviation {spread:.1f} over {len(part)} speakers); better for "
            f"{int((part.change <= -1e-9).sum())} of {len(part)}"
            + (f"; tied for {', '.join(tied.speaker)}" if len(tied) else "")
            + (
                f"; worse for {', '.join(f'{s} ({c:+.1f})' for s, c in zip(worse.speaker, worse.change))}"
                if len(worse)
                else ""
            )
        )
    return "\n".join(lines) + "\n" if lines else "- no speaker with an own expert yet\n"


def add_back_summary(rows: pd.DataFrame) -> str:
    """Per added-back accent and k: the added expert against the one that trained with the others."""
    lines = []
    for group, part in rows[rows.source == ADD_BACK].groupby("group"):
        reference = {name: pooled_wer(part[(part.clips == -1) & (part.name == name)]) for name in NAMES[2:4]}
        for k in sorted(k for k in part.clips.unique() if k > 0):
            added = part[part.clips == k]
            alone, beta2 = pooled_wer(added[added.name == NAMES[6]]), pooled_wer(added[added.name == NAMES[5]])
            lines.append(
                f"- {group}, added from {k} clips: alone {alone:.1f}% vs {reference[NAMES[3]]:.1f}% for its expert "
                f"trained with the others ({alone - reference[NAMES[3]]:+.1f}); beta 2 {beta2:.1f}% vs "
                f"{reference[NAMES[2]]:.1f}% ({beta2 - reference[NAMES[2]]:+.1f})"
            )
    return "\n".join(lines) + "\n" if lines else ""


def clips_figure(rows: pd.DataFrame) -> go.Figure:
    """WER against k per group of new speakers: the bundled mixture flat, their own expert as curves."""
    figure = go.Figure()
    for group, part in rows[rows.source != ADD_BACK].groupby("group"):
        bundled = pooled_wer(part[(part.clips == 0) & (part.name == NAMES[1])])
        ks = sorted(k for k in part.clips.unique() if k > 0)
        figure.add_trace(go.Scatter(x=ks, y=[bundled] * len(ks), mode="lines", name=f"{group}: {NAMES[1]}"))
        for name in TARGET:
            values = [pooled_wer(part[(part.clips == k) & (part.name == name)]) for k in ks]
            figure.add_trace(go.Scatter(x=ks, y=values, mode="lines+markers", name=f"{group}: {name}"))
    figure.update_layout(
        title="A new speaker's own expert: WER on their other clips vs clips trained on",
        xaxis_title="own clips trained on",
        yaxis_title="WER (%)",
    )
    return figure


def report(results) -> str:
    title = "## A new speaker's own expert, from a few clips\n\n"
    rows = load_rows(results, "new_expert")
    if rows.empty:
        return (
            title
            + "Not run yet (`python -m train.new_expert_experiment --real ../shared/data/speechocean762-train`).\n"
        )
    rows, bundles = one_bundle_per_source(rows)
    rows = named(rows)
    return (
        title
        + "Speakers the bundled experts never heard: fold 1's held-out synthetic test speakers and the real split's "
        "held-out speechocean762 speakers. For each, an expert trained on k of their clips (the app's recipe) joins "
        "the bundled six as expert 7; every system decodes the same other clips of that speaker. The synthetic "
        "speakers' accents each have a bundled expert already (trained on other voices of that accent), so their own "
        f"expert competes with it. Pooled WER; seeds: {sorted(set(rows.seed))}. The bundle each part was measured "
        "with:\n\n"
        + bundle_lines(bundles)
        + "\n"
        + save_table(wer_by_clips(rows), results, "new_expert")
        + "\n\nThe target (the speaker's own expert beats the bundled mixture on their other clips), "
        "per speaker, each at their largest k. The target names 20 clips; a speechocean762 speaker reads 20 "
        "sentences, so 15 is the most that leaves clips to score (5 each), and the real speakers are read at 15:\n\n"
        + gains_summary(per_speaker_gains(rows))
        + "\nThe same against Whisper as released (where the bundled mixture itself may be worse than no experts):\n\n"
        + gains_summary(per_speaker_gains(rows, NAMES[0]), "Whisper")
        + (
            "\nAn accent added back to experts trained without it, against its expert that trained with the others "
            "(the bundle's), on its held-out test speaker:\n\n" + add_back_summary(rows)
            if (rows.source == ADD_BACK).any()
            else ""
        )
        + "\n"
        + save_figure(clips_figure(rows), results, "new_expert_clips")
        + "\n"
    )


if __name__ == "__main__":
    print(report(results_argument(__doc__)))
