"""Issue 27: short answers asked for in the description grammar's words (`ANSWER_GRAMMAR`), one change, per seed.

The description grammar (`DESCRIPTION_GRAMMAR`) brought wrappers and verbs that only ever asked for a description
("Will you ...?", "Now ...", "..., please."); after it, "Count the triangles." got a description of the scene. This
trains the quickstart with the short-answer questions composed the same way (`QuickstartConfig(answer_requests=
"composed")`: per type, verb phrases that ask for one fact in every one of the description grammar's wrappers) and
scores its checkpoint on every held-out table, frame by frame (`bench/heldout_misses.py`), beside the recipe shipped
before this change, for that seed (`--before`, default `llava-nb ablations --out runs/ablations_v8[_seed1]`'s
full_recipe, commit 500da72). The third table (`HELD_OUT_QUESTIONS_C`) was written before the grammar and never used
to tune it. The grammar is now the quickstart's default: `--train listed` trains the recipe before it.

    .venv/bin/python bench/answer_requests.py --train composed [--seed 1] [--name NAME]   # the quickstart + ~20 s

Writes bench/results/answer_requests.json (an entry per seed) and prints the figures side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import heldout_misses  # noqa: E402
from description_requests import summary_row  # noqa: E402

from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402
from llava_nb.smallworld.teacher import ANSWER_REQUEST_SETS  # noqa: E402

OUT = ROOT / "bench" / "results" / "answer_requests.json"


def tables_row(checkpoint: Path, name: str) -> dict:
    "Accuracy by type on every held-out table (`heldout_misses`), and the five worst frames with how many they got."
    entry = heldout_misses.main(["--checkpoint", str(checkpoint), "--name", name, "--examples", "3"])
    rows = [(k, r["right"], r["n"]) for table in entry["tables"].values() for k, r in table.items()]
    worst = sorted(rows, key=lambda row: row[1] / row[2])[:5]
    return {"held-out tables": entry["scores"], "worst frames": {k: f"{right}/{n}" for k, right, n in worst}}


def save_entry(out: Path, name: str, entry: dict) -> dict:
    "`entry` saved as `name` in the results file `out` (the other entries kept), printed, and returned."
    results = json.loads(out.read_text()) if out.is_file() else {}
    results[name] = entry
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(entry, indent=1))
    return entry


def figures(run: Path) -> dict:
    "`description_requests.summary_row`'s figures of a quickstart run, and how often it was honest about absent things."
    honest = json.loads((run / "summary.json").read_text())["eval"]["heldout"]["unanswerable"]["honest"]
    return {**summary_row(run), "honest about absent things": round(honest, 3)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", choices=ANSWER_REQUEST_SETS, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", help="the shipped recipe's run for that seed (default: see above)")
    ap.add_argument("--name", help="the results entry and the run folder's name (default: from --train and --seed)")
    a = ap.parse_args(argv)
    name = a.name or f"answers {a.train}, seed {a.seed}"
    run = ROOT / "runs" / ("answer_requests_" + name.replace(", ", "_").replace(" ", "_"))
    quickstart(run, QuickstartConfig(seed=a.seed, answer_requests=a.train))
    before = Path(a.before or ROOT / "runs" / f"ablations_v8{'_seed1' if a.seed else ''}" / "full_recipe")
    entry = {
        "shipped recipe": {**figures(before), **tables_row(before / "stage2" / "final", f"before, seed {a.seed}")},
        f"answers {a.train}": {**figures(run), **tables_row(run / "stage2" / "final", name)},
    }
    return save_entry(OUT, name, entry)


if __name__ == "__main__":
    main()
