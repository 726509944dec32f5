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


def test_no_new_import_circles():
    "The package's import circles (tools/import_graph.py): only `python -m llava_nb.train`'s entry block is left."
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from import_graph import circles, imports

    modules, top, inner = imports(Path(__file__).resolve().parents[1] / "llava_nb")
    assert circles({m: top[m] | inner[m] for m in modules}) == [["train", "train_cli"]]
