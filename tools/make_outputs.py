"""Run every notebook as `nbdev_test` does and save its outputs in it, so the pictures show wherever it is read.

Cells flagged with a `tst_flags` flag (settings.ini: slow, gpu, browser) are skipped, as in the tests. Outputs are kept
small: progress bars are turned off, and a cell whose outputs pass `--max-kb` is left without them (named on stdout).
Then `nbdev_clean` runs on each notebook, so `make check-sync` stays quiet.

    .venv/bin/python tools/make_outputs.py [nbs/01b_data_masking.ipynb ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def skip_flags() -> set[str]:
    "The flags whose cells `nbdev_test` skips by default (settings.ini `tst_flags`)."
    cfg = ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    return set(cfg["DEFAULT"].get("tst_flags", "").split())


def _flags(source: str) -> set[str]:
    "The `#| word` directives at the top of a cell."
    out = set()
    for line in source.splitlines():
        if not line.startswith("#|"):
            break
        out.update(line[2:].split())
    return out


def _last_drawing(outputs: list) -> list:
    """A `LivePlot` redraws one picture in place; execnb records every redraw as a new output. Keep the last picture
    (the whole run's curves) where the first one stood, and every other output."""
    pictures = [i for i, o in enumerate(outputs) if "image/png" in o.get("data", {})]
    if len(pictures) < 2:
        return outputs
    last = outputs[pictures[-1]]
    return [last if i == pictures[0] else o for i, o in enumerate(outputs) if i not in pictures[1:]]


def run_notebook(path: Path, flags: set[str], max_kb: float) -> list[str]:
    "Run `path` (flagged cells skipped) and write it with its outputs; returns the cells whose outputs were dropped."
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell

    nb = read_nb(path)

    def no_eval(cell) -> bool:
        marks = _flags(cell.source)
        off = "eval:" in marks and "false" in marks  # `#| eval: false`, as nbdev_test honours it
        return cell.cell_type != "code" or off or bool(marks & flags) or "nbdev_export(" in cell.source

    shell = CaptureShell(path)
    cwd = Path.cwd()
    os.chdir(path.parent)
    try:
        shell.run_all(nb, exc_stop=True, preproc=no_eval)
    finally:
        os.chdir(cwd)
    dropped = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "LivePlot(" in cell.source:
            cell["outputs"] = _last_drawing(cell.get("outputs", []))
        if cell.cell_type == "code" and len(json.dumps(cell.get("outputs", []))) > max_kb * 1024:
            cell["outputs"] = []
            dropped.append(f"{path.name} cell {i}")
    write_nb(nb, path)
    return dropped


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="default: every notebook in nbs/ and nbs/tutorials/")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--max-kb", type=float, default=200, help="largest outputs a cell keeps (KB of notebook JSON)")
    a = ap.parse_args(argv)
    os.environ.update(TQDM_DISABLE="1", IN_TEST="1", MPLBACKEND="Agg")
    paths = [Path(p).resolve() for p in a.notebooks] or sorted((ROOT / "nbs").glob("*.ipynb")) + sorted(
        (ROOT / "nbs" / "tutorials").glob("*.ipynb")
    )
    if a.one:  # a child process: one notebook with its own kernel state, as `nbdev_test` runs them
        print(json.dumps(run_notebook(Path(a.one), skip_flags(), a.max_kb)))
        return 0
    failed = []
    for p in paths:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--one", str(p), "--max-kb", str(a.max_kb)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:  # one notebook's error is reported, the others still run
            failed.append(f"{p.name}: {r.stderr[-1500:]}")
            print(f"FAILED {p.name}", flush=True)
            continue
        dropped = json.loads(r.stdout.strip().splitlines()[-1])
        note = f"; outputs dropped: {dropped}" if dropped else ""
        print(f"{p.relative_to(ROOT)}: {time.perf_counter() - t0:.0f}s{note}", flush=True)
    subprocess.run([str(Path(sys.executable).parent / "nbdev_clean")], cwd=ROOT, check=True)
    for f in failed:
        print(f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
