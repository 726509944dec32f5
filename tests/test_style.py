"""House style (README, Development): the notebooks are ruff-formatted at 120 columns, and the exported package has
lines of at most 120 characters and one statement per line (nbdev writes each module's docstring and `__all__` on one
line itself; those two are exempt)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
pytestmark = pytest.mark.skipif(RUFF is None, reason="ruff is a dev dependency: pip install -e '.[dev]'")


def test_notebooks_are_formatted():
    r = subprocess.run([RUFF, "format", "--check", "nbs"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_exported_code_keeps_to_120_columns_and_one_statement_per_line():
    r = subprocess.run(
        [RUFF, "check", "llava_nb", "--select", "E501,E701,E702,E703", "--output-format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    found = []
    for v in json.loads(r.stdout or "[]"):
        line = Path(v["filename"]).read_text().splitlines()[v["location"]["row"] - 1]
        if v["location"]["row"] == 1 or line.startswith("__all__"):
            continue  # written by nbdev
        found.append(f"{Path(v['filename']).name}:{v['location']['row']}: {v['code']} {line[:80]}")
    assert not found, "\n".join(found)


def test_no_import_circles():
    "No two modules import each other, even through others or inside functions (tools/import_graph.py)."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from import_graph import circles, imports

    modules, top, inner = imports(Path(__file__).resolve().parents[1] / "llava_nb")
    assert circles({m: top[m] | inner[m] for m in modules}) == []


def test_layers_import_only_from_earlier_layers():
    """A layer imports only earlier ones (tools/import_graph.py `upward`): the small world plugs its teacher, scenes and
    judge into the core through the command line (`SMALL_WORLD`, `small_world_offline_judge`), never the other way."""
    sys.path.insert(0, str(ROOT / "tools"))
    from import_graph import imports, upward

    assert upward(*imports(ROOT / "llava_nb")) == []  # the core never imports the small world, data never the model


def test_the_names_users_start_from_import_from_the_top():
    "`from llava_nb import X` for each name of `llava_nb.__all__`; `train` is the training layer and runs a stage."
    import llava_nb

    for name in llava_nb.__all__:
        assert getattr(llava_nb, name) is not None, name
    from llava_nb import train
    from llava_nb.train.loop import train as loop_train

    assert callable(train) and train.train is loop_train and train.loop.train is loop_train


def test_a_module_over_400_lines_says_why_at_its_top():
    root = ROOT / "llava_nb"
    silent = []
    for p in sorted(root.rglob("[a-z]*.py")):
        lines = p.read_text().splitlines()
        if len(lines) > 400 and not any("Over 400 lines on purpose" in line for line in lines[:12]):
            silent.append(f"{p.relative_to(root)} ({len(lines)} lines)")
    assert not silent, "a reason at the top (a comment in the notebook's first export cell): " + ", ".join(silent)


def test_calls_with_many_arguments_name_them():
    "No public function or dataclass of llava_nb takes more than five arguments by position (tools/kwonly.py)."
    sys.path.insert(0, str(ROOT / "tools"))
    from kwonly import offenders

    assert offenders(ROOT / "llava_nb") == []
