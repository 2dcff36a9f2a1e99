"""The README's commands stay true: the two set-up commands (the test command is what CI runs, the first
starts the app), and every command the README and docs/ show names a script, module or subcommand that
exists, with options that script accepts.

(tests/test_app.py starts `python app.py` itself and drives it in a browser.)"""

import re
import shlex

import pytest

from analysis.readme_results import readme_block
from analysis.report import SECTIONS, numbered
from maslora.__main__ import parser
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quickstart)


def test_quickstart_has_exactly_two_commands_and_the_second_is_what_ci_runs():
    commands = _quickstart_commands()
    assert len(commands) == 2 and all("\n" not in command for command in commands)
    assert commands[1] == "bash .ci/run"


def test_the_first_command_installs_the_requirements_and_starts_the_app_with_no_arguments():
    demo = _quickstart_commands()[0]
    assert "pip install -r requirements.txt" in demo and demo.endswith("python app.py")
    assert (ROOT / "app.py").is_file()


def shown_commands(page) -> list[list[str]]:
    """Every `python ...` line of the page's bash blocks, continuation lines joined, comments and
    [optional parts] dropped, as words."""
    commands = []
    for block in re.findall(r"```bash\n(.+?)\n```", page.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s#\s.*$", "", line)
            line = re.sub(r"\[[^\[\]]*(\[[^\[\]]*\][^\[\]]*)*\]", "", line)  # [--flag X [--other Y]]
            for part in line.split("&&"):
                words = shlex.split(part)
                if words and words[0] in ("python", "python3", ".venv/bin/python") and words[1:3] != ["-m", "venv"]:
                    commands.append(words)
    return commands


def script_of(words: list[str]):
    """(source file, the maslora subcommand or None) that a `python ...` command runs."""
    if words[1] == "-m":
        module = words[2]
        path = ROOT.joinpath(*module.split("."))
        source = path / "__main__.py" if path.is_dir() else path.with_suffix(".py")
        return source, (words[3] if module == "maslora" else None)
    return ROOT / words[1], None


SHOWN = [(page.name, " ".join(words)) for page in PAGES for words in shown_commands(page)]


def test_every_python_line_of_the_pages_is_parsed_as_a_command():
    runs = [  # every `python ...` run of the pages' bash blocks, counted apart from the parser above
        part
        for page in PAGES
        for block in re.findall(r"```bash\n(.+?)\n```", page.read_text(encoding="utf-8"), re.S)
        for line in block.splitlines()
        for part in map(str.strip, line.split("&&"))
        if re.match(r"(python3?|\.venv/bin/python) ", part) and not part.startswith("python3 -m venv")
    ]
    assert len(SHOWN) == len(runs) > 0
    assert ("README.md", "python -m maslora record --seconds 5 --auto") in SHOWN


def test_the_readme_results_are_what_the_committed_rows_say_and_stay_short():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme_block(ROOT / "assets" / "results")
    assert block in readme, "README's results differ from the rows: python -m analysis.report writes them"
    assert len(block.splitlines()) <= 25 and block.count("\n- ") <= 5
    assert not re.search(r"\b\d+ tests\b", readme), "test counts go stale: the README states none"


def test_the_report_numbers_its_sections_in_the_order_of_the_section_list():
    report = (ROOT / "assets" / "results" / "REPORT.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", report, re.M)]
    assert numbers == list(range(1, len(SECTIONS) + 1))
    assert (
        numbered(3, "## The expert x accent matrix\n\n## Not this") == "## 3. The expert x accent matrix\n\n## Not this"
    )


@pytest.mark.parametrize(("page", "command"), SHOWN)
def test_every_shown_command_exists_with_its_options(page, command):
    words = shlex.split(command)
    if words[1] == "-m" and words[2] == "pytest":
        return
    source, subcommand = script_of(words)
    assert source.is_file(), f"{page}: {command}: no {source.relative_to(ROOT)}"
    options = [word.split("=", 1)[0] for word in words if word.startswith("--")]
    if subcommand is not None:
        commands = parser()._subparsers._group_actions[0].choices
        assert subcommand in commands, f"{page}: no subcommand {subcommand}"
        known = {option for action in commands[subcommand]._actions for option in action.option_strings}
    else:
        text = source.read_text(encoding="utf-8")  # and the scripts it takes its arguments from
        for module in re.findall(r"^from ((?:train|analysis)\.\w+) import", text, flags=re.MULTILINE):
            text += (ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        known = set(re.findall(r"""["'](--[a-z0-9-]+)["']""", text))
    assert set(options) <= known, f"{page}: {command}: unknown options {sorted(set(options) - known)}"
