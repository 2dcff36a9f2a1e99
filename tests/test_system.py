"""System names: one grammar, parsed and written in one place; old rows read with the system's columns."""

import pandas as pd
import pytest

from maslora.errors import WeightsError
from maslora.systems.evaluation import rows_table
from maslora.systems.system import COLUMNS, TEMPERED_SYSTEMS, System, expert_matrix, with_system_columns
from tests.conftest import ROOT

ROWS = ROOT / "assets" / "results" / "rows"


def test_every_committed_system_name_parses_and_is_written_back_unchanged():
    names = {name for path in ROWS.glob("*.jsonl") for name in rows_table(path).system.unique()}
    assert {"base", "full", "lora", "mas-uniform", "mas-beta2", "mas-matched", "mas-router"} <= names
    for name in names:
        assert System.parse(name).name == name


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("base", {"kind": "base"}),
        ("full", {"kind": "full"}),
        ("mas-beta1.5", {"kind": "mas", "weighting": "beta", "beta": 1.5}),
        ("mas-matched", {"kind": "mas", "weighting": "matched"}),
        ("expert-arabic", {"kind": "mas", "weighting": "expert", "expert": "arabic"}),
        ("mas-auto-t0.5", {"kind": "mas", "weighting": "posterior", "temperature": 0.5}),
        ("mas-auto-beta", {"kind": "mas", "weighting": "posterior-beta"}),
        ("mas-router", {"kind": "mas", "weighting": "router"}),
    ],
)
def test_a_name_says_its_fields(name, fields):
    system = System.parse(name)
    assert system == System(**fields) and system.name == name
    assert set(system.columns()) == set(COLUMNS)


def test_what_each_weighting_needs_to_know():
    assert System.parse("mas-beta2").accent_known and System.parse("mas-matched").accent_known
    assert not System.parse("mas-uniform").accent_known and not System.parse("expert-korean").accent_known
    assert System.parse("mas-router").from_audio and System.parse("mas-auto-t2").from_audio
    assert System.parse("mas-auto-t2").automatic_rule == ("tempered", 2.0)
    assert System.parse("mas-auto-beta").automatic_rule == ("beta", 1.0)
    with pytest.raises(WeightsError, match="no weights from an accent classifier"):
        _ = System.parse("mas-router").automatic_rule
    assert TEMPERED_SYSTEMS[:2] == ["mas-auto-t0.5", "mas-auto-t1"]
    assert expert_matrix({"korean", "arabic"}) == ["expert-arabic", "expert-korean"]


@pytest.mark.parametrize("name", ["mas-beta", "mas-auto-t", "lora2", "expert-", "Base", "mas-beta-2"])
def test_a_misspelt_name_is_refused_with_the_grammar(name):
    with pytest.raises(WeightsError, match="unknown system .*mas-beta<B>"):
        System.parse(name)


def test_old_rows_gain_the_columns_their_names_say():
    old = pd.DataFrame({"system": ["mas-beta2", "base", "expert-hindi"], "errors": [1, 2, 3]})
    table = with_system_columns(old)
    assert list(table.errors) == [1, 2, 3] and list(old.columns) == ["system", "errors"]  # the input is kept
    assert list(table.beta.fillna(0)) == [2.0, 0, 0] and list(table.kind) == ["mas", "base", "mas"]
    assert table.expert.iloc[2] == "hindi" and table.weighting.isna().iloc[1]
    assert with_system_columns(table).equals(table)  # rows that have them read the same
