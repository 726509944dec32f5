"""Can the nano tower's architecture see a shape that is not centred in its patch? A supervised replica, minutes a run.

`bench/wild_factors.py` found the small world's model names shapes drawn by another renderer, but not once the object
moves 0.2 of a patch off its cell's centre or grows past its patch; a linear probe of the shipped tower's tokens
(`--probe`) reads a centred shape 0.935 but a moved, enlarged one 0.257 (chance 0.17). Is that the contrastive objective
or the architecture? Here a fresh tower of the shipped shape (`nano_vision.clip_config`:
72 px, 4 layers, 128 wide) learns *only* the shape of one object, moved up to ±`--shift` of a patch and scaled up to
×`--scale`, by plain cross-entropy from its mean patch token; held-out accuracy every 100 steps.

    .venv/bin/python bench/shape_shift_replica.py [--patch 24] [--steps 600] [--shift 0.45] [--scale 1.5]
    .venv/bin/python bench/shape_shift_replica.py --patch 8 --steps 400 --position-std 0.5  # train_vision's init
    .venv/bin/python bench/shape_shift_replica.py --probe data/nano/vision [--shift 0] [--scale 1]  # a tower's tokens

Writes bench/results/shape_shift_replica.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import CLIPImageProcessor, CLIPVisionModel

from llava_nb.core import seed_everything
from llava_nb.smallworld.vision import clip_config
from llava_nb.smallworld.vision import linear_probe
from llava_nb.smallworld.world import SHAPES, sample_scene, scene_rng

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wild_factors import redraw  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "shape_shift_replica.json"


def picture(scene: dict, rng: random.Random, shift: float, scale: float, size: int = 144):
    "The one-object `scene` drawn by the wild renderer in the world's colours, moved and scaled at random."
    dx, dy = rng.uniform(-shift, shift), rng.uniform(-shift, shift)
    return redraw(scene, size, shift=dx, dy=dy, scale=rng.uniform(1, scale))


def batch(split: str, start: int, n: int, proc, shift: float, scale: float):
    scenes = [sample_scene(scene_rng(11, split, start + i), n_objects=1) for i in range(n)]
    rng = random.Random(f"{split}/{start}")
    px = proc([picture(s, rng, shift, scale) for s in scenes], return_tensors="pt")["pixel_values"]  # (n, 3, 72, 72)
    return px, torch.tensor([SHAPES.index(s["objects"][0]["shape"]) for s in scenes])


def run(
    patch: int, steps: int, shift: float, scale: float, seed: int = 0, bs: int = 64, position_std: float | None = None
) -> dict:
    seed_everything(seed)
    tower = CLIPVisionModel(clip_config(patch_size=patch).vision_config)
    if position_std is not None:  # train_vision's init (0.5); None: CLIP's default (0.02)
        torch.nn.init.normal_(tower.vision_model.embeddings.position_embedding.weight, std=position_std)
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


def probe(
    tower_dir, shift: float, scale: float, n_train: int = 1200, n_test: int = 400, pool: str = "flat"
) -> float:
    """A linear probe of shape from a pretrained tower's patch tokens (layer -2: all of them side by side,
    `pool='flat'`, or their mean, `'mean'`), trained and tested on one-object pictures moved up to ±`shift` of a cell
    and scaled up to ×`scale`: is shape in its features? With 8 px patches 'flat' is 81 × 128 numbers for 1,200
    pictures, and underestimates what the tokens hold (it fits the training pictures' positions)."""
    tower = CLIPVisionModel.from_pretrained(tower_dir).eval()
    proc = CLIPImageProcessor.from_pretrained(tower_dir)
    feats, labels = [], []
    for start in range(0, n_train + n_test, 200):
        px, y = batch("probe", start, 200, proc, shift, scale)
        with torch.no_grad():
            tokens = tower(pixel_values=px, output_hidden_states=True).hidden_states[-2][:, 1:]  # (200, P, H)
        feats.append(tokens.flatten(1) if pool == "flat" else tokens.mean(1))  # (200, P*H) or (200, H)
        labels.append(y)
    f, y = torch.cat(feats), torch.cat(labels)
    return round(linear_probe(f[:n_train], y[:n_train], f[n_train:], y[n_train:]), 3)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=24)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--shift", type=float, default=0.45, help="largest move, in patches of 24 px (cells)")
    ap.add_argument("--scale", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--position-std", type=float, help="init std of the position embeddings (train_vision: 0.5)")
    ap.add_argument("--probe", metavar="TOWER", help="instead: a linear probe of a pretrained tower's tokens")
    ap.add_argument("--name", help="with --probe: the results entry (default: the tower's path)")
    ap.add_argument("--pool", choices=("flat", "mean"), default="flat", help="--probe: tokens side by side, or mean")
    a = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if a.probe:
        key = f"probe of {a.name or a.probe}, shift ±{a.shift}, scale ≤x{a.scale}"
        key += ", mean token" if a.pool == "mean" else ""
        results[key] = {"shape probe": probe(a.probe, a.shift, a.scale, pool=a.pool)}
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(key, results[key])
        return results
    key = f"patch {a.patch}, shift ±{a.shift}, scale ≤x{a.scale}, {a.steps} steps, seed {a.seed}"
    if a.position_std is not None:
        key += f", position embeddings init {a.position_std}"
    results[key] = run(a.patch, a.steps, a.shift, a.scale, a.seed, position_std=a.position_std)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
