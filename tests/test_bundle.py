"""The bundle's expert x accent matrix: computed from the experiments' rows of the bundled run, read back for the
demo's explanation, refused when the rows belong to another run; the demo's examples picked on the untrained
model's errors."""

import json
import sys

import pandas as pd
import pytest

import maslora.systems.bundle as bundle
import train.bundle as train_bundle
from maslora.data.corpora import NATIVE_RECORDINGS, load_manifest
from maslora.data.speaker_split import SPEECHOCEAN_SPLIT
from maslora.data.speechocean import age_group
from maslora.errors import AdapterError
from maslora.systems.bundle import BUNDLED_EXAMPLES, read_bundle
from maslora.systems.demo import matrix_caption, page_mixture, training_note
from maslora.systems.figures import matrix_figure
from train.examples import TEST_ROWS, hardest_prompts

ACCENTS = ["arabic", "mandarin", "korean"]


def _rows(path, fold=1, seed=0, experts=ACCENTS) -> None:
    """Each expert makes 1 error in 10 words on its own accent's two clips, 3 in 10 elsewhere; the native column
    is the control no expert trained on."""
    lines = []
    for expert in experts:
        for accent in [*ACCENTS, "native"]:
            for clip in range(2):
                errors = 1 if expert == accent else 3
                lines.append(
                    {
                        "fold": fold,
                        "seed": seed,
                        "system": f"expert-{expert}",
                        "accent": accent,
                        "utterance_id": f"u{clip}",
                    }
                    | {"errors": errors, "reference_words": 10, "path": f"{accent}/{clip}.wav"}
                )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_matrix_pools_each_expert_on_each_accent_and_the_demo_reads_it_back(tmp_path, monkeypatch):
    rows = tmp_path / "matrix.jsonl"
    _rows(rows)
    _rows(tmp_path / "other.jsonl", seed=1)
    rows.write_text(rows.read_text() + (tmp_path / "other.jsonl").read_text().replace('"errors": 1', '"errors": 9'))
    matrix = train_bundle.expert_matrix(rows, fold=1, seed=0, accents=ACCENTS)
    assert (matrix["fold"], matrix["seed"]) == (1, 0)
    assert matrix["wer"]["korean"] == {
        "arabic": 30.0,
        "mandarin": 30.0,
        "korean": 10.0,
        "native": 30.0,
    }  # seed 1 left out

    monkeypatch.setattr(bundle, "BUNDLED_EXPERTS", tmp_path)
    (tmp_path / "tiny.en").mkdir()

    def bundled(record: dict) -> None:
        runs = {"mas-lora": {"config": {}} | record}
        (tmp_path / "tiny.en" / "bundle.json").write_text(json.dumps({"model": "tiny.en", "runs": runs}))

    bundled({"matrix": matrix})
    table = bundle.bundled_matrix("tiny.en")
    assert list(table.index) == sorted(ACCENTS) and set(table.columns) == {*ACCENTS, "native"}
    assert table.loc["arabic", "arabic"] == 10.0 and table.loc["arabic", "mandarin"] == 30.0
    assert "best single expert for 3 of 3 accents" in matrix_caption(table, "accent experts")
    heatmap = matrix_figure(table).data[0]
    assert list(heatmap.x) == [*sorted(ACCENTS), "native"] and list(heatmap.y) == sorted(ACCENTS)

    bundled({})
    assert bundle.bundled_matrix("tiny.en") is None
    with pytest.raises(AdapterError, match="the tiny.en bundle has no mixture 'mas-lora-paper'; it has mas-lora"):
        bundle.bundled_matrix("tiny.en", "mas-lora-paper")
    # a visitor on the paper's placement who switches to a size without it gets that size's default
    assert page_mixture("tiny.en", "mas-lora-paper") == "mas-lora" == page_mixture("tiny.en", "mas-lora")


def test_a_matrix_of_another_run_is_refused(tmp_path):
    rows = tmp_path / "matrix.jsonl"
    _rows(rows, seed=1)
    with pytest.raises(SystemExit, match="no rows of fold 1, seed 0"):
        train_bundle.expert_matrix(rows, fold=1, seed=0, accents=ACCENTS)
    _rows(rows)
    tagged = [json.loads(line) | {"trained_on": "mas-lora-beside"} for line in rows.read_text().splitlines()]
    rows.write_text("".join(json.dumps(row) + "\n" for row in tagged))  # train.real_speech's: rows name their run
    assert (
        train_bundle.expert_matrix(rows, fold=1, seed=0, accents=ACCENTS, run="mas-lora-beside")["wer"]["korean"][
            "korean"
        ]
        == 10
    )
    with pytest.raises(SystemExit, match="no rows of fold 1, seed 0, run mas-lora-instead"):
        train_bundle.expert_matrix(rows, fold=1, seed=0, accents=ACCENTS, run="mas-lora-instead")
    _rows(rows, experts=["arabic", "hindi"])
    with pytest.raises(SystemExit, match=r"scores experts \['arabic', 'hindi'\]"):
        train_bundle.expert_matrix(rows, fold=1, seed=0, accents=ACCENTS)


def _finished_run(folder, method: str, **config) -> None:
    (folder / "best").mkdir(parents=True)
    (folder / "best" / "experts.json").write_text(json.dumps({"accents": ACCENTS}))
    settings = {"method": method, "model": "tiny.en", "encoder_seconds": 10, "fold": 1, "seed": 0} | config
    (folder / "config.json").write_text(json.dumps({"out": str(folder)} | settings))
    history = [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5, "validation_wer": 0.2}]
    (folder / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in history))


def test_bundling_records_the_runs_the_command_and_the_bundled_runs_own_matrix(tmp_path, monkeypatch):
    runs, experts = tmp_path / "runs", tmp_path / "experts"
    _finished_run(runs / "mas-lora-beside", "mas-lora", real_corpus="speechocean762")
    _finished_run(runs / "lora-beside", "lora", real_corpus="speechocean762")
    rows = tmp_path / "real_matrix.jsonl"
    _rows(rows)
    tagged = [json.loads(line) for line in rows.read_text().splitlines()]
    other = [row | {"trained_on": "mas-lora-instead", "errors": 9} for row in tagged]  # another run's experts
    rows.write_text(
        "".join(json.dumps(r) + "\n" for r in [*(r | {"trained_on": "mas-lora-beside"} for r in tagged), *other])
    )
    arguments = [
        "--mas-lora",
        str(runs / "mas-lora-beside"),
        "--lora",
        str(runs / "lora-beside"),
        "--matrix",
        str(rows),
    ]
    monkeypatch.setattr(train_bundle, "BUNDLED_EXPERTS", experts)
    monkeypatch.setattr(sys, "argv", ["train/bundle.py", *arguments])
    train_bundle.main()
    manifest = json.loads((experts / "tiny.en" / "bundle.json").read_text())
    assert manifest["commands"] == ["python train/bundle.py " + " ".join(arguments)]
    assert manifest["runs"]["mas-lora"]["config"]["real_corpus"] == "speechocean762"
    assert "out" not in manifest["runs"]["lora"]["config"] and manifest["runs"]["lora"]["best_step"] == 2
    matrix = manifest["runs"]["mas-lora"]["matrix"]
    assert matrix["wer"]["korean"]["korean"] == 10.0  # mas-lora-beside's rows, not mas-lora-instead's
    assert (experts / "tiny.en" / "mas-lora" / "experts.json").is_file() and (experts / "tiny.en" / "lora").is_dir()

    _finished_run(runs / "lora-30s", "lora", encoder_seconds=30)
    monkeypatch.setattr(sys, "argv", ["train/bundle.py", *arguments[:3], str(runs / "lora-30s")])
    with pytest.raises(SystemExit, match="the runs differ"):
        train_bundle.main()
    assert json.loads((experts / "tiny.en" / "bundle.json").read_text()) == manifest  # the bundle is untouched


def test_a_winner_of_another_design_is_bundled_with_the_paper_placement_beside_it(tmp_path, monkeypatch):
    runs, experts = tmp_path / "runs", tmp_path / "experts"
    _finished_run(runs / "shared", "mas-lora", shared_rank=16)
    _finished_run(runs / "paper", "mas-lora")
    _finished_run(runs / "lora", "lora")
    monkeypatch.setattr(train_bundle, "BUNDLED_EXPERTS", experts)

    def bundle_with(*arguments: str) -> dict:
        monkeypatch.setattr(sys, "argv", ["train/bundle.py", "--lora", str(runs / "lora"), *arguments])
        train_bundle.main()
        return json.loads((experts / "tiny.en" / "bundle.json").read_text())

    with pytest.raises(SystemExit, match="did as well on validation"):  # both 0.2: the page's default must win
        bundle_with("--mas-lora", str(runs / "shared"), "--paper", str(runs / "paper"))
    history = (runs / "shared" / "history.jsonl").read_text().replace('"validation_wer": 0.2', '"validation_wer": 0.1')
    (runs / "shared" / "history.jsonl").write_text(history)
    manifest = bundle_with("--mas-lora", str(runs / "shared"), "--paper", str(runs / "paper"))
    assert manifest["runs"]["mas-lora"]["config"]["shared_rank"] == 16
    assert "shared_rank" not in manifest["runs"]["mas-lora-paper"]["config"]
    assert sorted(p.name for p in (experts / "tiny.en").iterdir()) == [
        "bundle.json", "lora", "mas-lora", "mas-lora-paper",
    ]  # fmt: skip

    record = manifest["runs"]["mas-lora-paper"] | {"auto": {"rule": "tempered", "temperature": 4.0}}
    bundle_json = experts / "tiny.en" / "bundle.json"
    bundle_json.write_text(json.dumps(manifest | {"runs": manifest["runs"] | {"mas-lora-paper": record}}))
    kept = bundle_with("--mas-lora", str(runs / "shared"), "--paper", "bundled", "--lora", "bundled")  # runs gone
    assert kept["runs"]["mas-lora-paper"] == record and (experts / "tiny.en" / "mas-lora-paper").is_dir()
    assert kept["runs"]["lora"] == manifest["runs"]["lora"] and (experts / "tiny.en" / "lora").is_dir()
    assert kept["commands"][:-1] == manifest["commands"]  # what made the kept parts stays on record

    alone = bundle_with("--mas-lora", str(runs / "shared"))  # the paper's run comes later: the default first
    shared = alone["runs"]["mas-lora"] | {"auto": {"rule": "tempered", "temperature": 2.0}}
    bundle_json.write_text(json.dumps(alone | {"runs": alone["runs"] | {"mas-lora": shared}}))
    later = bundle_with("--mas-lora", "bundled", "--paper", str(runs / "paper"))  # "--lora" is a run folder here
    assert later["runs"]["mas-lora"] == shared and later["runs"]["mas-lora-paper"]["best_step"] == 2
    assert sorted(p.name for p in (experts / "tiny.en").iterdir()) == [
        "bundle.json", "lora", "mas-lora", "mas-lora-paper",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["train/bundle.py", "--mas-lora", "bundled", "--lora", "bundled"])
    with pytest.raises(SystemExit, match="every part is 'bundled'"):
        train_bundle.main()
    with pytest.raises(SystemExit, match="gone holds no finished run"):
        bundle_with("--mas-lora", str(runs / "gone"))

    with pytest.raises(SystemExit, match="is the paper's placement already"):
        bundle_with("--mas-lora", str(runs / "paper"), "--paper", "bundled")
    with pytest.raises(SystemExit, match="a shared \\+ experts run"):
        bundle_with("--mas-lora", str(runs / "shared"), "--paper", str(runs / "shared"))
    assert json.loads(bundle_json.read_text()) == later  # refused: the bundle is untouched


def test_the_caption_names_where_the_own_expert_loses():
    table = pd.DataFrame(
        {"arabic": [20.0, 10.0], "mandarin": [30.0, 15.0], "native": [8.0, 9.0]},
        index=pd.Index(["arabic", "mandarin"], name="expert"),
    )
    caption = matrix_caption(table, "accent experts")
    assert "best single expert for 1 of 2 accents (mandarin)" in caption  # the native control is not an accent
    assert "The native column is a control" in caption


def test_the_page_says_which_experts_heard_real_speakers(tmp_path, monkeypatch):
    def bundled(mas_lora: dict, lora: dict) -> None:
        runs = {"mas-lora": {"config": {"real_speech": "beside"} | mas_lora}, "lora": {"config": lora}}
        (tmp_path / "tiny.en" / "bundle.json").write_text(json.dumps({"model": "tiny.en", "runs": runs}))

    monkeypatch.setattr(bundle, "BUNDLED_EXPERTS", tmp_path)
    (tmp_path / "tiny.en").mkdir()
    bundled({"real_corpus": None}, {})
    assert bundle.bundled_real_speech("tiny.en") == {"mas-lora": None, "lora": None}
    assert "none has heard a real accented voice" in training_note("tiny.en")
    assert "LoRA heard synthetic accents only" in training_note("tiny.en")

    split = pd.read_csv(SPEECHOCEAN_SPLIT, dtype={"speaker": str})
    training = split[split.part == "train"]
    real = {"real_corpus": "speechocean762", "real_speech": "instead"}
    bundled(real, real | {"real_speech": "beside"})
    heard = bundle.bundled_real_speech("tiny.en")
    assert heard["mas-lora"] == {"speakers": len(training), "accent": "mandarin", "placement": "instead", "ages": None}
    assert f"The Mandarin expert learned from {len(training)} real Mandarin-L1 speakers" in training_note("tiny.en")
    assert "instead of the synthetic Mandarin voices" in training_note("tiny.en")
    assert "LoRA heard the same real speakers" in training_note("tiny.en")

    bundled(real | {"real_ages": "adults"}, {})
    adults = int((age_group(training.age) == "adults").sum())
    assert bundle.bundled_real_speech("tiny.en")["mas-lora"]["speakers"] == adults < len(training)
    assert "LoRA heard synthetic accents only" in training_note("tiny.en")


def test_example_prompts_are_the_ones_the_untrained_model_gets_most_wrong_on_accented_speakers(tmp_path):
    rows = tmp_path / "main.jsonl"
    made = [  # (seed, system, accent, speaker, prompt, errors)
        (0, "base", "arabic", "ARA3", "a1", 2),
        (0, "base", "korean", "KOR1", "a1", 2),
        (0, "base", "arabic", "ARA3", "a2", 3),
        (1, "base", "arabic", "ARA3", "a2", 3),  # the same utterance in another seed's rows counts once
        (0, "base", "native", "NAT1", "a3", 9),  # native speakers do not count
        (0, "lora", "arabic", "ARA3", "a3", 9),  # nor does any adapted system: it must not pick its showcase
        (0, "base", "arabic", "ARA3", "b1", 8),  # not a candidate (no real native recording of it)
        (0, "base", "arabic", "ARA3", "a3", 1),
    ]
    rows.write_text(
        "".join(
            json.dumps(
                {"fold": 1, "seed": seed, "system": system, "accent": accent, "speaker": speaker}
                | {"utterance_id": prompt, "errors": errors, "reference_words": 10}
            )
            + "\n"
            for seed, system, accent, speaker, prompt, errors in made
        )
    )
    assert hardest_prompts(rows, 1, {"a1", "a2", "a3"}, 2) == ["a1", "a2"]
    with pytest.raises(SystemExit, match="no base rows of fold 2"):
        hardest_prompts(rows, 2, {"a1"}, 2)


def test_the_bundled_examples_are_the_ones_the_committed_rows_pick():
    examples = pd.read_csv(BUNDLED_EXAMPLES)
    examples = examples[~examples.source.str.contains("speechocean762")]  # the real ones: the next test
    prompts = examples.path.str.removesuffix(".flac").str.rsplit("-", n=1).str[1]  # accent-speaker-prompt.flac
    fold = read_bundle("tiny.en")["runs"]["mas-lora"]["config"]["fold"]
    picked = hardest_prompts(TEST_ROWS, fold, set(load_manifest(NATIVE_RECORDINGS).utterance_id), prompts.nunique())
    assert sorted(set(prompts)) == picked
    assert (examples.accent == "native").sum() >= len(picked)  # each with its real native recording


def test_the_real_examples_come_first_from_held_out_test_speakers_adults_and_children():
    examples = pd.read_csv(BUNDLED_EXAMPLES, dtype=str)
    real = examples.source.str.contains("speechocean762")
    assert real.sum() == 4 and real.head(4).all()  # the first click is a real voice
    parts = pd.read_csv(SPEECHOCEAN_SPLIT, dtype={"speaker": str}).set_index("speaker")
    speakers = examples[real].speaker
    assert (parts.loc[speakers, "part"] == "test").all()  # never a training or validation speaker
    assert sorted(age_group(parts.loc[speakers, "age"])) == ["adults", "adults", "children", "children"]
    assert speakers.is_unique and examples[real].source.str.contains("CC BY 4.0").all()
    assert all((BUNDLED_EXAMPLES.parent / path).is_file() for path in examples.path)


def test_bundled_sizes_come_smallest_first_whatever_their_names(tmp_path):
    for size in ("small-accents", "base", "tiny.en"):
        (tmp_path / size).mkdir()
        (tmp_path / size / bundle.BUNDLE_MANIFEST).write_text("{}")
    (tmp_path / "half-copied").mkdir()  # no bundle.json: not a bundle
    assert bundle.bundled_sizes(tmp_path) == ["tiny.en", "base", "small-accents"]
