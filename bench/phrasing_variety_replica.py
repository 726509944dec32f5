"""The paper's thesis in miniature, as a seconds-per-run replica: does instruction *variety* make the small world
follow instructions it never saw?

From a checkpoint (`--checkpoint`; default the shipped `data/nano/llava`), stage 2 (projector + LLM, the nano preset)
continues on short-answer
conversations about training scenes, with the same scenes, intents, answers and number of records in every variant;
only the wording of the questions differs:

- `one`: one phrasing per question type (the first of `VARIED_QUESTIONS`' frames for it);
- `templates`: the symbolic teacher's own phrasings (`symbolic.ASK`, what the quickstart trains on);
- `variety`: each question in one of many frames per type (`symbolic.VARIED_QUESTIONS`: word orders, imperatives,
  politeness, British spelling), none of which is a held-out frame (`llava_nb.smallworld.heldout`; checked at start);
- `variety+absent`: as `variety`, with one question per record about something the scene does not hold, answered
  honestly ("There is no dog in the image.").

Each is then asked the quickstart's held-out scenes in the training phrasings and in the held-out phrasings
(`heldout_scores`). The teacher offers the same wording to the quickstart (`--phrasing varied --absent P`).

    .venv/bin/python bench/phrasing_variety_replica.py                 # 4 variants x 2 seeds, ~8 min on 2 cores
    .venv/bin/python bench/phrasing_variety_replica.py --quick         # a smoke run

The committed results start from the checkpoint shipped before issue 27 (its stage 2 saw only the templates; the
checkpoint shipped now has seen the varied wording already, so it cannot show the contrast):

    mkdir -p /tmp/before && git archive fbca131 data/nano/llava | tar -x -C /tmp/before
    .venv/bin/python bench/phrasing_variety_replica.py --checkpoint /tmp/before/data/nano/llava

Writes bench/results/phrasing_variety_replica.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from pathlib import Path

from llava_nb.core import cpu_name, shipped_path
from llava_nb.smallworld.teacher import make_vqa_eval
from llava_nb.smallworld.heldout import HELD_OUT_QUESTIONS, _objects, frame_pattern, heldout_scores
from llava_nb.model.hf import load_model
from llava_nb.eval.metrics import answer_batch, vqa_scores
from llava_nb.smallworld.world import make_world
from llava_nb.smallworld.symbolic import ASK, QTYPES, VARIED_QUESTIONS, ask_absent, ask_in_frames
from llava_nb.train.loop import train
from llava_nb.train.config import get_preset

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "phrasing_variety_replica.json"

VARIED = VARIED_QUESTIONS  # the teacher's varied frames (07a_smallworld_symbolic)
ONE = {qtype: frames[:1] for qtype, frames in VARIED.items()}  # one phrasing per type


def check_disjoint() -> None:
    "No varied frame may produce a held-out question (the held-out split stays held out)."
    held = [frame_pattern(f) for fs in HELD_OUT_QUESTIONS.values() for f in fs]
    for fs in VARIED.values():
        for f in fs:
            text = re.sub(r"\{\w+\}", "x x", f.lower())
            assert not any(p.search(text) for p in held), f"{f!r} is a held-out frame"


def records(scenes: list[dict], variant: str, seed: int, turns: int) -> list[dict]:
    out = []
    for s in scenes:
        rng, objs = random.Random(f"{variant}/{seed}/{s['id']}"), _objects(s)
        conv, order = [], rng.sample(QTYPES, len(QTYPES))  # a random order: the turn must not tell the type
        for k in range(turns * 4):
            if len(conv) == 2 * turns:
                break
            qt = order[k % len(order)]
            if variant == "templates":
                qa = ASK[qt](objs, rng)
            else:
                qa = ask_in_frames(qt, objs, rng, ONE if variant == "one" else VARIED)
            if qa is not None:
                conv += [{"from": "human", "value": qa[0]}, {"from": "gpt", "value": qa[1]}]
        if variant == "variety+absent":
            q, a = ask_absent(objs, rng)
            conv[-2:] = [{"from": "human", "value": q}, {"from": "gpt", "value": a}]  # same number of turns
        conv[0]["value"] = "<image>\n" + conv[0]["value"]
        out.append({"id": s["id"], "image": s["image"], "conversations": conv})
    return out


def run(variant: str, seed: int, a, root: Path, train_scenes, test_scenes) -> dict:
    folder = root / "train"
    data = root / f"{variant}_{seed}.json"
    data.write_text(json.dumps(records(train_scenes, variant, seed, a.turns)))
    cfg = get_preset("nano", 2, data_path=str(data), image_folder=str(folder), epochs=a.epochs, batch_size=16,
                     output_dir=str(root / f"run_{variant}_{seed}"), progress=False, seed=seed)
    t0 = time.perf_counter()
    res = train(cfg, model=load_model(a.checkpoint))
    model = res.model.eval()
    test_folder = root / "test"
    ask = lambda items, n, desc: answer_batch(model, items, test_folder, 64, n, progress=False)
    tmpl = make_vqa_eval(test_scenes, 0, 3)
    in_template = vqa_scores(ask(tmpl, 16, "vqa"), tmpl)
    held = heldout_scores(ask, test_scenes, n_describe=20, n_unanswerable=60)
    out = {"variant": variant, "seed": seed, "steps": res.steps, "final_loss": round(res.final_loss, 4),
           "in_template": round(in_template["accuracy"], 3), "in_template_by_type": in_template["by_type"],
           "heldout": round(held["vqa_accuracy"], 3), "heldout_by_type": held["by_type"],
           "unanswerable_honest": held["unanswerable"]["honest"], "describe": held["describe"],
           "wall_seconds": round(time.perf_counter() - t0, 1)}
    shown = ("variant", "seed", "in_template", "heldout", "unanswerable_honest")
    print(json.dumps({k: out[k] for k in shown}), flush=True)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="one,templates,variety,variety+absent")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--train-scenes", type=int, default=800)
    ap.add_argument("--test-scenes", type=int, default=200)
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--checkpoint", default=str(shipped_path("nano") / "llava"), help="where stage 2 continues from")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(OUT), help="results file (one per setting)")
    a = ap.parse_args(argv)
    if a.quick:
        a.train_scenes, a.test_scenes, a.epochs, a.seeds = 40, 20, 0.5, "0"
    check_disjoint()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        train_scenes = make_world(root / "train", a.train_scenes, seed=0, split="train")
        test_scenes = make_world(root / "test", a.test_scenes, seed=0, split="test")
        runs = [run(v, int(s), a, root, train_scenes, test_scenes)
                for s in a.seeds.split(",") for v in a.variants.split(",")]
    result = {"settings": {k: v for k, v in vars(a).items()}, "runs": runs, "machine": {"cpu": cpu_name()}}
    if not a.quick:
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
