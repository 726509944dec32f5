"""Issue 27: a picture's only object called 'it', 'the shape' or 'this thing' in a share of stage 2's questions.

After the nano LLM read the short-answer grammar (its third later phase, `LLM_LATER_PHASES`), a bare "What color is
it?" about a lone shape got its colour first 7 / 5 times in 20 (seeds 0 / 1; 16 / 14 before), the other replies a
brief caption ("The image shows a single object: yellow cross on the right."): no training question calls the only
object "it". This trains the quickstart with `QuickstartConfig(lone_references=P)` (the teacher's `lone`: a question
about the only object of a one-object scene calls it `LONE_REFERENCES`' way with chance P) and asks the plain questions
(`bench/plain_questions.py`; "What color is it?" and "What colour is the shape?" are then taught forms, the other three
not) and six ways to point at it that no training question uses (`UNTAUGHT`: "What is its colour?"), every held-out
table (`bench/heldout_misses.py`) and the summary's figures, beside the shipped recipe's run for
that seed (`--before`, default `llava-nb ablations --out runs/ablations_v10[_seed1]`'s full_recipe).

    .venv/bin/python bench/lone_references.py [--share 0.3] [--seed 1] [--reuse]   # the quickstart + ~40 s

Writes bench/results/lone_references.json (an entry per share and seed) and prints the figures side by side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from answer_requests import figures, save_entry, tables_row  # noqa: E402
from plain_questions import lone_shapes, right_answers  # noqa: E402

from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402

OUT = ROOT / "bench" / "results" / "lone_references.json"
UNTAUGHT = {  # a lone object referred to in ways no training question uses (a possessive, a fragment)
    "What is its colour?": "color",
    "What shape does it have?": "shape",
    "Tell me its size.": "size",
    "Its colour?": "color",
    "And its shape?": "shape",
    "What colour has the thing been painted?": "color",
}


def row(run: Path, name: str) -> dict:
    "A run's summary figures, its held-out tables and its plain questions (right of 20, by question)."
    checkpoint = run / "stage2" / "final"
    plain, _ = right_answers(checkpoint, lone_shapes())
    untaught, _ = right_answers(checkpoint, lone_shapes(), UNTAUGHT)
    return {**figures(run), **tables_row(checkpoint, name), "plain questions": plain, "untaught forms": untaught}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--share", type=float, default=0.3, help="chance a lone object is called 'it' and the like")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", help="the shipped recipe's run for that seed (default: see above)")
    ap.add_argument("--reuse", action="store_true", help="score the run already trained, train nothing")
    a = ap.parse_args(argv)
    name = f"lone references {a.share}, seed {a.seed}"
    run = ROOT / "runs" / name.replace(", ", "_").replace(" ", "_")
    if not a.reuse:
        quickstart(run, QuickstartConfig(seed=a.seed, lone_references=a.share))
    before = Path(a.before or ROOT / "runs" / f"ablations_v10{'_seed1' if a.seed else ''}" / "full_recipe")
    entry = {"shipped recipe": row(before, f"shipped recipe, seed {a.seed}"), f"lone {a.share}": row(run, name)}
    return save_entry(OUT, name, entry)


if __name__ == "__main__":
    main()
