"""The package as a developer gets it: a wheel built from the sdist, installed (not editable) into a fresh venv, run
from a directory outside the clone. The wheel must carry the shipped folders (`data/nano`, `configs`) that
`llava_nb.core.shipped_path` finds.

No network: the wheel is built with the venv's own setuptools (`python -m build --no-isolation`), and the fresh venv
gets its dependencies (torch, transformers, ...) from this venv's site-packages through a `.pth` file that points at a
folder of links to them, every one except llava_nb itself (whose editable install would otherwise shadow the wheel)."""

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from llava_nb.core import SHIPPED, shipped_path

ROOT = Path(__file__).resolve().parent.parent
# What the sdist is built from (MANIFEST.in and setup.py say what goes in); copied so the build writes nothing here.
SOURCES = ["setup.py", "settings.ini", "pyproject.toml", "README.md", "MANIFEST.in", "llava_nb", *SHIPPED.values()]


def sh(*cmd, cwd, timeout=300, env=None) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert p.returncode == 0, (
        f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    )
    return p


def test_setup_reads_the_shipped_list_from_core():
    "setup.py copies exactly `core.SHIPPED` (it reads the literal without importing llava_nb) and the sdist grafts it."
    tree = ast.parse((ROOT / "setup.py").read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "shipped_folders")
    ns = {"ast": ast, "here": ROOT}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "setup.py", "exec"), ns)
    assert ns["shipped_folders"]() == SHIPPED
    manifest = (ROOT / "MANIFEST.in").read_text().split()
    for folder in SHIPPED.values():
        assert folder in manifest, f"MANIFEST.in does not graft {folder}"
        assert (ROOT / folder).is_dir()


def _fresh_venv(tmp: Path) -> Path:
    "A venv without pip whose dependencies are this venv's, minus llava_nb; returns its python."
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"], check=True, timeout=120)
    py = tmp / "venv" / "bin" / "python"
    site = Path(
        subprocess.check_output([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip()
    )
    deps = tmp / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_path("purelib"))
    for entry in ours.iterdir():
        if entry.name.startswith(("llava_nb", "__editable__", "_llava_nb")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    (site / "deps_of_the_dev_venv.pth").write_text(f"{deps}\n")
    return py


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        kw = {"ignore": shutil.ignore_patterns("__pycache__", "*.pyc")} if (ROOT / name).is_dir() else {}
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        copy(ROOT / name, src / name, **kw)
    sh(sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "dist", src, cwd=tmp)
    wheel = next((tmp / "dist").glob("llava_nb-*.whl"))
    py = _fresh_venv(tmp)
    sh(py, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q", wheel, cwd=tmp)
    work = tmp / "elsewhere"  # outside the clone: no settings.ini above it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return {"py": py, "bin": py.parent, "work": work, "env": env, "wheel": wheel}


def test_installed_package_runs_outside_the_clone(installed):
    "Built from the sdist, installed non-editable: the shipped folders are in the wheel and found, the CLI answers."
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for name, folder in SHIPPED.items():
        files = [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files
        for f in files:
            assert f"llava_nb/shipped/{name}/{f.relative_to(ROOT / folder).as_posix()}" in names, f
    py, cli, work, env = installed["py"], installed["bin"] / "llava-nb", installed["work"], installed["env"]
    assert not any((d / "settings.ini").exists() for d in (work, *work.parents))
    venv = py.parent.parent
    probe = (
        "import json, llava_nb; from llava_nb.core import SHIPPED, shipped_path; "
        "from llava_nb.smallworld.backbones import nano_backbones; "
        "print(json.dumps({'package': llava_nb.__file__, 'backbones': nano_backbones(), "
        "**{n: str(shipped_path(n)) for n in SHIPPED}}))"
    )
    where = json.loads(sh(py, "-c", probe, cwd=work, env=env).stdout.strip().splitlines()[-1])
    for k in ("package", "nano", "configs"):  # the wheel's own copy, not the clone's
        assert Path(where[k]).is_relative_to(venv), (k, where[k])
    assert Path(where["backbones"]["vision"]).parent == Path(where["nano"])
    assert (Path(where["configs"]) / "accelerate" / "zero3_8gpu.yaml").is_file()
    assert where["nano"] != str(shipped_path("nano"))

    helptext = sh(cli, "quickstart", "--help", cwd=work, env=env).stdout
    assert "--backbones" in helptext and "--out" in helptext
    paths = sh(cli, "paths", "configs", cwd=work, env=env).stdout.strip()
    assert Path(paths) == Path(where["configs"])

    # one question to the shipped trained checkpoint, about a small-world picture drawn by the installed package
    png = work / "red_circle.png"
    draw = (
        "from llava_nb.smallworld.world import make_scene, render_scene; "
        "render_scene(make_scene([{'shape': 'circle', 'color': 'red', 'size': 'large', 'cell': [1, 1]}]))"
        f".save({str(png)!r})"
    )
    sh(py, "-c", draw, cwd=work, env=env)
    out = sh(
        cli,
        "ask",
        "--checkpoint",
        Path(where["nano"]) / "llava",
        "--image",
        png,
        "What color is the object?",
        cwd=work,
        env=env,
    )
    assert out.stdout.strip().splitlines()[-1].lower().startswith("red"), out.stdout
