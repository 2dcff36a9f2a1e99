"""The README's two set-up commands stay true: the test command is what CI runs, the demo file exists."""

import re

from tests.conftest import ROOT


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quickstart)


def test_quickstart_has_exactly_two_commands_and_the_second_is_what_ci_runs():
    commands = _quickstart_commands()
    assert len(commands) == 2 and all("\n" not in command for command in commands)
    assert commands[1] == "bash .ci/run"


def test_the_demo_command_uses_files_in_the_repository():
    demo = _quickstart_commands()[0]
    for path in re.findall(r"assets/\S+", demo):
        assert (ROOT / path).is_file(), path
