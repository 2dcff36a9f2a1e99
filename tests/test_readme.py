"""The README's two set-up commands stay true: the test command is what CI runs, the demo file exists."""

import re

from tests.conftest import ROOT


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quickstart)


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_second():
    commands = _quickstart_commands()
    assert len(commands) == 2 and all("\n" not in command for command in commands)
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands[1] in ci_lines


def test_the_demo_command_uses_files_in_the_repository():
    demo = _quickstart_commands()[0]
    for path in re.findall(r"assets/\S+", demo):
        assert (ROOT / path).is_file(), path
