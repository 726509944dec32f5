"""Can the nano tower's architecture see a shape that is not centred in its patch? A supervised replica, minutes a run.

`bench/wild_factors.py` found the small world's model names shapes drawn by another renderer, but not once the object
moves 0.2 of a patch off its cell's centre or grows past its patch; a linear probe on the shipped tower's tokens finds
no shape in such pictures at all (0.33, chance 0.17), and neither does a tower pretrained with varied looks (0.30). Is
that the contrastive objective or the architecture? Here a fresh tower of the shipped shape (`nano_vision.clip_config`:
72 px, 4 layers, 128 wide) learns *only* the shape of one object, moved up to ±`--shift` of a patch and scaled up to
×`--scale`, by plain cross-entropy from its mean patch token; held-out accuracy every 100 steps.

    .venv/bin/python bench/shape_shift_replica.py [--patch 24] [--steps 600] [--shift 0.45] [--scale 1.5]

Writes bench/results/shape_shift_replica.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPImageProcessor, CLIPVisionModel

from llava_nb.core import seed_everything
from llava_nb.nano_vision import clip_config
from llava_nb.nanoworld import COLOUR_RGB, SHAPES, sample_scene, scene_rng
from llava_nb.wild import draw_wild

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "shape_shift_replica.json"


def picture(scene: dict, rng: random.Random, shift: float, scale: float, size: int = 144):
    "The one-object `scene` drawn by the wild renderer in the world's colours, moved and scaled at random."
    o = scene["objects"][0]
    x0, y0, x1, y1 = o["bbox"]
    dx, dy = rng.uniform(-shift, shift), rng.uniform(-shift, shift)
    centre = ((x0 + x1) / 2 * size + dx * size / 3, (y0 + y1) / 2 * size + dy * size / 3)
    side = (x1 - x0) * size * rng.uniform(1, scale)
    obj = {"shape": o["shape"], "color": o["color"], "center": centre, "scale": side, "angle": 0, "outline": False}
    return draw_wild({"size": size, "bg": np.zeros((size, size, 3)), "objects": [obj]}, palette=COLOUR_RGB, jitter=0)


def batch(split: str, start: int, n: int, proc, shift: float, scale: float):
    scenes = [sample_scene(scene_rng(11, split, start + i), n_objects=1) for i in range(n)]
    rng = random.Random(f"{split}/{start}")
    px = proc([picture(s, rng, shift, scale) for s in scenes], return_tensors="pt")["pixel_values"]  # (n, 3, 72, 72)
    return px, torch.tensor([SHAPES.index(s["objects"][0]["shape"]) for s in scenes])


def run(patch: int, steps: int, shift: float, scale: float, seed: int = 0, bs: int = 64) -> dict:
    seed_everything(seed)
    tower = CLIPVisionModel(clip_config(patch_size=patch).vision_config)
    head = torch.nn.Linear(tower.config.hidden_size, len(SHAPES))
    proc = CLIPImageProcessor(size={"shortest_edge": 72}, crop_size={"height": 72, "width": 72})
    opt = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=1e-3, weight_decay=0.05)
    test = batch("test", 0, 400, proc, shift, scale)
    log, t0 = [], time.time()

    def accuracy() -> float:
        tower.eval()
        with torch.no_grad():
            h = tower(pixel_values=test[0], output_hidden_states=True).hidden_states[-2][:, 1:].mean(1)
        tower.train()
        return round((head(h).argmax(1) == test[1]).float().mean().item(), 3)

    for step in range(steps):
        px, y = batch("train", step * bs, bs, proc, shift, scale)
        h = tower(pixel_values=px, output_hidden_states=True).hidden_states[-2][:, 1:].mean(1)  # (bs, H)
        loss = F.cross_entropy(head(h), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            log.append({"step": step + 1, "loss": round(loss.item(), 3), "test": accuracy()})
            print(log[-1], flush=True)
    return {"seconds": round(time.time() - t0, 1), "log": log, "final": log[-1]["test"] if log else None}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=24)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--shift", type=float, default=0.45, help="largest move, in patches of 24 px (cells)")
    ap.add_argument("--scale", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    key = f"patch {a.patch}, shift ±{a.shift}, scale ≤x{a.scale}, {a.steps} steps, seed {a.seed}"
    results[key] = run(a.patch, a.steps, a.shift, a.scale, a.seed)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
