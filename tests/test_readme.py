"""The README's two set-up commands stay true: the test command is what CI runs, the first starts the app.

(tests/test_app.py starts `python app.py` itself and drives it in a browser.)"""

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


def test_the_first_command_installs_the_requirements_and_starts_the_app_with_no_arguments():
    demo = _quickstart_commands()[0]
    assert "pip install -r requirements.txt" in demo and demo.endswith("python app.py")
    assert (ROOT / "app.py").is_file()
