"""In-template vs held-out phrasings: what a small-world checkpoint understands, not which templates it recalls.

The quickstart's held-out world (the same scenes `make quickstart` evaluates on: split "test", seed 0), asked twice:
in the training phrasings (`make_vqa_eval`, what the quickstart's VQA accuracy reports) and in phrasings no training
data uses (`llava_nb.smallworld.heldout`: held-out question frames, ten new ways to ask for a description, questions
about things that are not in the picture). Multiple choice by type and modality beside them. Greedy answers,
batched. The held-out questions are asked bare, as the quickstart asks them, and once more with LLaVA-1.5's
short-answer instruction after each (`heldout, with LLaVA-1.5's short-answer prompt`): a miss that the instruction
mends was the wrong kind of answer ("2" to "Is a red star present?"), not a wrong reading of the picture.

    .venv/bin/python bench/heldout_phrasings.py                       # the shipped data/nano/llava, ~2 min on 2 cores
    .venv/bin/python bench/heldout_phrasings.py --checkpoint runs/quickstart/stage2/final --name mine

Writes bench/results/heldout_phrasings.json (one entry per --name) and prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from llava_nb.core import cpu_name, shipped_path
from llava_nb.datagen.instruct import SHORT_ANSWER_PROMPT
from llava_nb.eval.metrics import answer_batch, vqa_scores
from llava_nb.smallworld.heldout import HELD_OUT_TABLES, make_heldout_vqa
from llava_nb.smallworld.teacher import make_vqa_eval
from llava_nb.smallworld.evaluate import evaluate, report_markdown
from llava_nb.model.hf import load_model
from llava_nb.smallworld.world import make_world

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "heldout_phrasings.json"


def with_answer_format(model, scenes: list[dict], folder: Path, seed: int, per_scene: int) -> dict:
    """Both held-out tables again, each question followed by LLaVA-1.5's VQA instruction (`SHORT_ANSWER_PROMPT`, "Answer
    the question using a single word or phrase."): how much of a miss is the kind of answer rather than the answer."""
    out = {}
    for name, (frames, tag, mark) in HELD_OUT_TABLES.items():
        items = make_heldout_vqa(scenes, seed, per_scene, frames=frames, tag=tag, mark=mark)
        s = vqa_scores(answer_batch(model, items, folder, suffix=SHORT_ANSWER_PROMPT, progress=False), items)
        out[name] = {"vqa_accuracy": s["accuracy"], "by_type": s["by_type"], "vqa_n": len(items)}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(shipped_path("nano") / "llava"))
    ap.add_argument("--name", default="shipped", help="the entry of the results file")
    ap.add_argument("--n-test", type=int, default=200, help="held-out scenes (the quickstart's: 200)")
    ap.add_argument("--per-scene", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    model = load_model(a.checkpoint).eval()
    with tempfile.TemporaryDirectory() as d:
        scenes = make_world(Path(d) / "test", a.n_test, seed=a.seed, split="test")
        records = make_vqa_eval(scenes, a.seed, a.per_scene)
        res = evaluate(model, records, scenes=scenes, image_folder=Path(d) / "test", seed=a.seed,
                       per_scene=a.per_scene, n_bench=0, blind_baseline=False, progress=False)
        prompted = with_answer_format(model, scenes, Path(d) / "test", a.seed, a.per_scene)
    entry = {
        "checkpoint": a.checkpoint,
        "in_template": {"vqa_accuracy": res["vqa_accuracy"], "by_type": res["by_type"], "n": res["vqa_n"]},
        "heldout": res["heldout"],
        "heldout, with LLaVA-1.5's short-answer prompt": prompted,
        "mc": {"accuracy": res["mc_accuracy"], **res["mc"]},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "machine": {"cpu": cpu_name(), "python": platform.python_version()},
    }
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[a.name] = entry
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(report_markdown(res))
    print(f"wrote {OUT} ({a.name}) in {entry['wall_seconds']}s")
    return entry


if __name__ == "__main__":
    main()
