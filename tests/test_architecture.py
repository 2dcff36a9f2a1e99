"""The package's floors: each subpackage of maslora/ imports only the floors below it, and no import makes a circle.

errors atomic cache wer  <  data  <  synth  <  whisper  <  mixture  <  auto  <  training  <  systems
    <  __init__ __main__

Around it, the project's own floors: maslora (the core: no Gradio, nothing of the project above it)  <
analysis (reads rows; only its benchmarks, bench_*, run training)  <  train (runs the experiments, then
the report); app.py lays out the page on the core alone.
"""

import ast
from pathlib import Path

from tests.conftest import ROOT

LEAVES = ("errors", "atomic", "cache", "wer")  # modules at the top of maslora/ that import no other maslora module
FLOORS = [
    LEAVES,
    ("data",),
    ("synth",),
    ("whisper",),
    ("mixture",),
    ("auto",),
    ("training",),
    ("systems",),
    ("__init__", "__main__"),
]


def floor_of(module: str) -> int:
    """maslora.mixture.layer -> the floor of "mixture"; maslora.wer -> 0."""
    part = module.split(".")[1] if "." in module else "__init__"
    for index, names in enumerate(FLOORS):
        if part in names:
            return index
    raise AssertionError(f"{module} belongs to no floor: add it to a subpackage (or to FLOORS, if it is a new one)")


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)


def maslora_imports(path: Path, package_name: str) -> set[str]:
    """Every maslora module `path` imports, at the top or inside a function."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names if alias.name.split(".")[0] == package_name}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == package_name:
            imported.add(node.module)
    return imported


def import_problems(package: Path) -> list[str]:
    """Upward imports, imports across one floor, and circles, in the package at `package`."""
    graph = {module_name(path, package): maslora_imports(path, package.name) for path in package.rglob("*.py")}
    problems = []
    for module, imports in graph.items():
        for imported in imports:
            same_subpackage = module.split(".")[:2] == imported.split(".")[:2] and module.count(".") > 1
            if not same_subpackage and floor_of(imported) >= floor_of(module) and floor_of(module) < len(FLOORS) - 1:
                problems.append(f"{module} imports {imported}, which is not on a floor below it")
    visiting, done = set(), set()

    def visit(module: str, chain: list[str]) -> None:
        if module in visiting:
            problems.append("circle: " + " -> ".join(chain[chain.index(module) :] + [module]))
            return
        if module in done or module not in graph:
            return
        visiting.add(module)
        for imported in sorted(graph[module]):
            visit(imported, [*chain, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return problems


def test_maslora_imports_only_downwards_and_in_no_circle():
    assert import_problems(ROOT / "maslora") == []


def test_the_top_of_maslora_holds_only_the_leaves_and_the_doors():
    top = {path.stem for path in (ROOT / "maslora").glob("*.py")}
    assert top == {*LEAVES, "__init__", "__main__"}
    for leaf in LEAVES:
        assert maslora_imports(ROOT / "maslora" / f"{leaf}.py", "maslora") == set(), f"{leaf} is a leaf"


def test_the_check_finds_an_upward_import_and_a_circle(tmp_path):
    package = tmp_path / "maslora"
    for folder in ("data", "systems"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "data" / "audio.py").write_text("from maslora.systems.compare import compare\n")
    (package / "systems" / "compare.py").write_text("import maslora.systems.bundle\n")
    (package / "systems" / "bundle.py").write_text("def f():\n    from maslora.systems.compare import compare\n")
    problems = import_problems(package)
    assert "maslora.data.audio imports maslora.systems.compare, which is not on a floor below it" in problems
    assert any(p.startswith("circle: ") and "maslora.systems.bundle" in p for p in problems)


PROJECT = ("maslora", "analysis", "train", "app")  # the project's top-level packages and modules


def project_imports(path: Path) -> set[str]:
    """The project's top-level names and gradio that `path` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & {*PROJECT, "gradio"}


def layer_problems(root: Path) -> list[str]:
    """What breaks the project's floors (the module docstring) in the project at `root`."""
    allowed = {
        "maslora": {"maslora"},
        "analysis": {"maslora", "analysis"},
        "train": {"maslora", "analysis", "train"},
        "app": {"maslora", "gradio"},
    }
    problems = []
    files = [root / "app.py", *(path for folder in PROJECT[:3] for path in sorted((root / folder).rglob("*.py")))]
    for path in files:
        part = path.relative_to(root).parts[0].removesuffix(".py")
        extra = project_imports(path) - allowed[part]
        if part == "analysis" and path.stem.startswith("bench_"):
            extra -= {"train"}  # a benchmark times training as it runs
        problems += [f"{path.relative_to(root)} imports {name}" for name in sorted(extra)]
    return problems


def test_the_core_the_analysis_the_experiments_and_the_page_keep_to_their_floors():
    assert layer_problems(ROOT) == []


def test_the_floor_check_finds_a_page_reaching_into_the_analysis_and_a_core_importing_gradio(tmp_path):
    for folder in PROJECT[:3]:
        (tmp_path / folder).mkdir()
    (tmp_path / "app.py").write_text("from analysis.report_tools import annotated_heatmap\nimport gradio\n")
    (tmp_path / "maslora" / "demo.py").write_text("def f():\n    import gradio as gr\n")
    (tmp_path / "analysis" / "exp_x.py").write_text("from train.decoding_dev import DECODINGS\n")
    (tmp_path / "analysis" / "bench_x.py").write_text("from train.train import train_in_processes\n")
    assert layer_problems(tmp_path) == [
        "app.py imports analysis",
        "maslora/demo.py imports gradio",
        "analysis/exp_x.py imports train",
    ]


def test_the_page_stays_layout_and_wiring():
    """app.py lays the page out and wires it; logic that grows there belongs in maslora/systems/demo.py."""
    source = (ROOT / "app.py").read_text()
    functions = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)]
    assert len(source.splitlines()) < 350
    assert max(f.end_lineno - f.lineno + 1 for f in functions) <= 60, [f.name for f in functions]
