"""Issue 27: what a checkpoint writes when a description is asked for in words it never trained on, way by way.

`evaluate` scores the held-out description requests as a whole (`heldout.heldout_scores`: described, object F1); this
asks each way of both held-out sets (`HELD_OUT_DESCRIBE`, and `HELD_OUT_DESCRIBE_B`, written before the training
requests were widened and never used to tune them) on the same test scenes and sorts every reply into a kind:

- "description": names every object of the scene at least once (object F1 from `judge.description_scores`),
- "partial": names some objects but not all (or names one twice),
- "caption": a one-line caption of the stage-1 kind that names no whole object ("A picture with three shapes: one
  red shape, one blue shape and one purple shape."),
- "short": anything else, such as a short answer to a question never asked ("What can be seen here?" -> "yes").

    .venv/bin/python bench/description_requests.py [--checkpoint data/nano/llava] [--name shipped]   # ~10 s
    .venv/bin/python bench/description_requests.py --train composed [--seed 1]   # + the quickstart (~6 min)

`--train REQUESTS` runs `make quickstart` with `QuickstartConfig(description_requests=REQUESTS)` (one change from the
shipped recipe) under runs/description_requests_REQUESTS_seedN, asks its checkpoint, and adds its summary's figures
beside those of `--before`, the shipped recipe's run for that seed (default: `llava-nb ablations --out
runs/ablations_v7[_seed1]`'s full_recipe, commit f41ae27).

Writes bench/results/description_requests.json (an entry per --name) and prints each way's replies by kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from description_order import row  # noqa: E402

from llava_nb.core import shipped_path  # noqa: E402
from llava_nb.eval.metrics import answer_batch  # noqa: E402
from llava_nb.model.hf import load_model  # noqa: E402
from llava_nb.smallworld.heldout import HELD_OUT_DESCRIBE, HELD_OUT_DESCRIBE_B, make_heldout_describe  # noqa: E402
from llava_nb.smallworld.judge import description_scores  # noqa: E402
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402
from llava_nb.smallworld.teacher import DESCRIPTION_REQUEST_SETS  # noqa: E402
from llava_nb.smallworld.world import make_world  # noqa: E402

OUT = ROOT / "bench" / "results" / "description_requests.json"
SETS = {"first": (HELD_OUT_DESCRIBE, "d"), "second": (HELD_OUT_DESCRIBE_B, "db")}
KINDS = ("description", "partial", "caption", "short")


def kind_of(reply: str, scores: dict) -> str:
    "One of `KINDS` for a reply and its `description_scores`."
    if scores["mentions"] and scores["f1"] == 1.0:
        return "description"
    if scores["mentions"]:
        return "partial"
    return "caption" if len(reply.split()) > 4 else "short"


def summary_row(run: Path) -> dict:
    "A quickstart run's figures that a change of the description requests could move (`description_order.row`'s)."
    e = json.loads((run / "summary.json").read_text())["eval"]
    second = e["heldout"]["second_set"].get("describe")  # runs before the second set of requests lack it
    by_type = {k: round(v, 3) for k, v in e["heldout"]["by_type"].items()}
    return {
        **row(run),
        "held-out words by type": by_type,
        **({"second set: described": round(second["described"], 3)} if second else {}),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(shipped_path("nano") / "llava"))
    ap.add_argument("--name", default="shipped")
    ap.add_argument("--per-way", type=int, default=6, help="scenes asked in each way")
    ap.add_argument("--train", choices=DESCRIPTION_REQUEST_SETS, help="run the quickstart with these requests first")
    ap.add_argument("--seed", type=int, default=0, help="the quickstart's seed (with --train)")
    ap.add_argument("--before", help="the shipped recipe's run for that seed (with --train; default: see above)")
    a = ap.parse_args(argv)
    figures = {}
    if a.train:
        run = ROOT / "runs" / f"description_requests_{a.train}_seed{a.seed}"
        quickstart(run, QuickstartConfig(seed=a.seed, description_requests=a.train))
        before = Path(a.before or ROOT / "runs" / f"ablations_v7{'_seed1' if a.seed else ''}" / "full_recipe")
        figures = {"shipped recipe": summary_row(before), f"requests {a.train}": summary_row(run)}
        a.checkpoint, a.name = str(run / "stage2" / "final"), f"requests {a.train}, seed {a.seed}"
    model = load_model(a.checkpoint).eval()
    entry = {"checkpoint": os.path.relpath(Path(a.checkpoint).resolve(), ROOT), "sets": {}, **figures}
    with tempfile.TemporaryDirectory() as d:
        n = a.per_way * len(HELD_OUT_DESCRIBE)
        scenes = make_world(Path(d) / "test", n, seed=0, split="test")
        for name, (ways, mark) in SETS.items():
            items = make_heldout_describe(scenes, 0, ways, mark)
            replies = answer_batch(model, items, Path(d) / "test", max_new_tokens=160, progress=False)
            rows = {w: {"n": 0, "kinds": Counter(), "f1": 0.0, "replies": []} for w in ways}
            for item, reply in zip(items, replies):
                scores = description_scores(reply, item["objects"])
                row = rows[item["question"]]
                row["n"] += 1
                row["kinds"][kind_of(reply, scores)] += 1
                row["f1"] += scores["f1"]
                row["replies"].append(reply)
            for row in rows.values():
                row["f1"] = round(row["f1"] / row["n"], 3)
                row["kinds"] = {k: row["kinds"][k] for k in KINDS}
            total = Counter()
            for row in rows.values():
                total.update(row["kinds"])
            entry["sets"][name] = {
                "n": len(items),
                "described": round(1 - (total["caption"] + total["short"]) / len(items), 3),
                "f1": round(sum(r["f1"] * r["n"] for r in rows.values()) / len(items), 3),
                "kinds": {k: total[k] for k in KINDS},
                "ways": dict(sorted(rows.items(), key=lambda kv: kv[1]["f1"])),
            }
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[a.name] = entry
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    for name, s in entry["sets"].items():
        print(f"## {name} set: described {s['described']:.0%}, F1 {s['f1']:.3f}, kinds {s['kinds']}")
        for way, row in s["ways"].items():
            print(f"  {row['f1']:.2f} {row['kinds']}  {way!r} -> {row['replies'][0][:70]!r}")
    return entry


if __name__ == "__main__":
    main()
