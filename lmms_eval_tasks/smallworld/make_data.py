"""Write the `smallworld` lmms-eval task's dataset: 40 short-answer questions about 20 small-world scenes.

The scenes come from llava_nb's own small world (`sample_scene`, drawn by `render_scene` at its 72 px), on a split
of their own ("lmms"), so none is a training scene of the shipped checkpoint except by chance. The questions are
the held-out VQA questions the quickstart scores (`make_vqa_eval`: colour, shape, size, position, count, relative
position, existence; types balanced), each with its exact short answer. Run it with the project's venv (it imports
llava_nb); the files it writes are committed, so lmms-eval needs nothing but them:

    .venv/bin/python lmms_eval_tasks/smallworld/make_data.py

    smallworld.jsonl   one item a line: id, image (a path relative to this folder), question, answer, type, n_objects
    images/*.png       the 72x72 scenes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llava_nb.smallworld.teacher import make_vqa_eval
from llava_nb.smallworld.world import render_scene, sample_scene, scene_id, scene_rng

HERE = Path(__file__).resolve().parent
SPLIT = "lmms"


def make_items(n_scenes: int = 20, per_scene: int = 2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    "(scenes, items): `n_scenes` scenes of the split and `per_scene` questions about each."
    scenes = [sample_scene(scene_rng(seed, SPLIT, i), scene_id(i, SPLIT)) for i in range(n_scenes)]
    n_objects = {s["id"]: len(s["objects"]) for s in scenes}
    items = []
    for r in make_vqa_eval(scenes, seed=seed, per_scene=per_scene):
        sid = r["id"].rsplit("_q", 1)[0]
        items.append({**r, "n_objects": n_objects[sid]})
    return scenes, items


def write(out: Path = HERE, **kw) -> list[dict]:
    "Render the scenes into `out/images/` and write `out/smallworld.jsonl`; returns the items."
    scenes, items = make_items(**kw)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for old in (out / "images").glob("*.png"):
        old.unlink()
    for s in scenes:
        render_scene(s).save(out / s["image"], optimize=True)
    with open(out / "smallworld.jsonl", "w") as f:
        for it in items:
            f.write(json.dumps(it) + "\n")
    return items


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--per-scene", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    items = write(n_scenes=a.scenes, per_scene=a.per_scene, seed=a.seed)
    types = {}
    for it in items:
        types[it["type"]] = types.get(it["type"], 0) + 1
    print(f"wrote {len(items)} items to {HERE / 'smallworld.jsonl'}: {types}")
