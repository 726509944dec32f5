"The library imports without the notebook extra: a training server needs no Jupyter, widgets or Voila."
import subprocess
import sys
from pathlib import Path

BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"ipywidgets", "jupyterlab", "voila", "IPython", "ipykernel", "notebook"}:
            raise ImportError(f"{name} is blocked: not installed on this server")
sys.meta_path.insert(0, Block())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=300)


WIDGETS = {"chat.draw_pad"}  # modules that are a widget and nothing else: they need the notebook extra, and say so


def test_the_library_imports_without_jupyter_or_widgets():
    root = Path(__file__).resolve().parents[1] / "llava_nb"
    mods = sorted(".".join(p.relative_to(root).with_suffix("").parts) for p in root.rglob("[a-z]*.py"))
    mods = [m for m in mods if m not in WIDGETS]
    r = _run("import importlib\n" + "".join(f"importlib.import_module('llava_nb.{m}')\n" for m in mods) + "print('ok')")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_a_widget_module_says_what_to_install():
    for m in sorted(WIDGETS):
        r = _run(f"import llava_nb.{m}")
        assert r.returncode != 0 and "pip install 'llava_nb[notebook]'" in r.stderr, (m, r.stderr[-1000:])


def test_the_blocker_really_blocks():   # the test above would pass vacuously if the finder did nothing
    r = _run("import ipywidgets")
    assert r.returncode != 0 and "blocked" in r.stderr
