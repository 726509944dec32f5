"""Why descriptions lose objects: the nano model describes one object twice and skips another. One change: the
teacher's detailed descriptions in reading order (`SymbolicTeacher(order="reading")`) instead of half of them in a
random order (`"mixed"`, shipped), everything else as the shipped quickstart (same LLM, scenes and records).

With the objects in a random order, what comes next is any object not yet named: the model must remember which ones it
has described, and the nano LLM does not. In reading order the next object is the first one after the last named
place, a lookup of the same kind as answering "what is at the top right?".

    .venv/bin/python bench/description_order.py [--seed 1]   # the quickstart with reading order (~5 min)

`--before` is the recipe shipped before, with half of the descriptions in a random order, for that seed: the
`full_recipe` of `llava-nb ablations --out runs/ablations_v6 [--seed 1]` at commit 56f6fc6, or the same run today
with `llava-nb quickstart --description-order mixed --out runs/ablations_v6/full_recipe [--seed 1]`.

Writes bench/results/description_order.json: description F1, the share of descriptions naming one object twice,
held-out description requests, the judge, VQA.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llava_nb.smallworld.judge import description_scores, parse_description
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart
from llava_nb.smallworld.symbolic import parse_context

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "description_order.json"


def descriptions(run: Path) -> dict:
    "Of a quickstart run's detailed descriptions (its bench): F1 and how many name one object twice."
    bench = json.loads((run / "eval" / "eval_predictions.json").read_text())["bench"]
    detail = [b for b in bench if b["type"] == "detail"]
    keys = ("size", "color", "shape", "position")
    said = lambda b: [tuple(m.get(k) for k in keys) for m in parse_description(b["answer"])["objects"]]
    twice = sum(len(set(said(b))) < len(said(b)) for b in detail)
    f1 = [description_scores(b["answer"], parse_context(b["context"])[1])["f1"] for b in detail]
    return {"n": len(detail), "mean F1": round(sum(f1) / len(f1), 3), "name one object twice": twice}


def row(run: Path) -> dict:
    "The figures compared, from a quickstart run's summary and predictions."
    e = json.loads((run / "summary.json").read_text())["eval"]
    h = e["heldout"]
    return {
        "descriptions": descriptions(run),
        "description F1 (pooled)": round(e["description"]["f1"], 3),
        "held-out requests: described": round(h["describe"]["described"], 3),
        "held-out requests: F1": round(h["describe"]["f1"], 3),
        "relative score": round(e["relative_score"]["overall"], 1),
        "relative score, detail": round(e["relative_score"]["detail"], 1),
        "relative score, held-out words": round(h["relative_score"]["overall"], 1),
        "VQA": round(e["vqa_accuracy"], 3),
        "held-out words": round(h["vqa_accuracy"], 3),
        "multiple choice": round(e["mc_accuracy"], 3),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", help="the shipped recipe's run (default: runs/ablations_v6[_seed1]/full_recipe)")
    ap.add_argument("--brief", type=float, default=0.0, help="QuickstartConfig.brief_train: + brief-caption records")
    a = ap.parse_args(argv)
    before = Path(a.before or ROOT / "runs" / f"ablations_v6{'_seed1' if a.seed else ''}" / "full_recipe")
    tag = f"_brief{a.brief}" if a.brief else ""
    after = ROOT / "runs" / f"description_order_reading{tag}_seed{a.seed}"
    quickstart(after, QuickstartConfig(seed=a.seed, description_order="reading", brief_train=a.brief))
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    name = "reading order" + (f" + brief captions for {a.brief:.0%} of the scenes" if a.brief else "")
    results.setdefault(f"seed {a.seed}", {}).update({"mixed (shipped)": row(before), name: row(after)})
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results[f"seed {a.seed}"], indent=1))
    return results


if __name__ == "__main__":
    main()
