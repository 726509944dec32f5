"""How often a checkpoint answers honestly about a thing the picture does not hold, on all 200 test scenes.

The quickstart's summary asks 60 such questions (`heldout.make_unanswerable` on the first 60 test scenes): one reply
moves it by 1.7 points. This asks one on every test scene of the quickstart's held-out world (seed 0), with the same
questions and the same check (`heldout.is_honest`), and keeps the replies that were not honest.

    .venv/bin/python bench/honest_absent.py CHECKPOINT [CHECKPOINT ...] --names "a;b"   # ~10 s a checkpoint

Writes bench/results/honest_absent.json (an entry per name).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from llava_nb.eval.metrics import answer_batch
from llava_nb.model.hf import load_model
from llava_nb.smallworld.heldout import is_honest, make_unanswerable
from llava_nb.smallworld.world import make_world

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "honest_absent.json"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--names", required=True, help="one name per checkpoint, separated by ';'")
    ap.add_argument("--n-test", type=int, default=200)
    a = ap.parse_args(argv)
    names = a.names.split(";")
    if len(names) != len(a.checkpoints):
        ap.error(f"{len(names)} names for {len(a.checkpoints)} checkpoints")
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    with tempfile.TemporaryDirectory() as d:
        scenes = make_world(Path(d) / "test", a.n_test, seed=0, split="test")
        items = make_unanswerable(scenes, 0)
        for name, checkpoint in zip(names, a.checkpoints):
            model = load_model(checkpoint).eval()
            replies = answer_batch(model, items, Path(d) / "test", max_new_tokens=16, progress=False)
            honest = [is_honest(r) for r in replies]
            results[name] = {
                "checkpoint": checkpoint,
                "n": len(items),
                "honest": round(sum(honest) / len(items), 3),
                "not honest": [[it["question"], r] for it, r, ok in zip(items, replies, honest) if not ok],
            }
            print(f"{name}: {results[name]['honest']:.1%} honest of {len(items)}")
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
