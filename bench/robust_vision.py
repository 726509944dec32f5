"""Does a tower pretrained on varied looks see pictures drawn another way?

The shipped nano tower saw one look only (72 px, black, filled shapes centred in their cells at two sizes); on the wild
test set (`llava_nb.smallworld.wild`: another renderer, other canvases, backgrounds, scales, positions) the quickstart's model
answers about a third right. Here the tower is pretrained as `pretrain-backbones` does, with `variety` of each batch
drawn in other looks (`nanoworld.vary_scene`), then the quickstart runs on it with the same share of its training
world varied (`QuickstartConfig(variety=...)`; the held-out world it reports stays in the plain look). Compared with
the shipped recipe's quickstart (`bench/results/quickstart_summary.json`, seed 0).

    .venv/bin/python bench/robust_vision.py              # pretrain the tower (~6 min on 2 cores), quickstart (~3 min)
    .venv/bin/python bench/robust_vision.py --tower DIR  # a tower already pretrained with variety
    .venv/bin/python bench/robust_vision.py --steps 1500  # a longer pretraining (~14 min)
    .venv/bin/python bench/robust_vision.py --tower data/nano/vision --name "variety 0.5 in the data only"
    .venv/bin/python bench/robust_vision.py --patch 8 --attribute-weight 1  # smaller patches, attribute softmaxes

The linear probes read one object's colour and shape from the tower's mean patch token: trained on the plain world,
tested on plain pictures and on wild ones.

Writes bench/results/robust_vision.json (runs under runs/robust_vision/).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch
from transformers import CLIPImageProcessor, CLIPVisionModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from everyday_words import backbones_with  # noqa: E402

from llava_nb.core import shipped_path  # noqa: E402
from llava_nb.smallworld.vision import linear_probe, probe_table, train_vision  # noqa: E402
from llava_nb.smallworld.world import COLOURS, SHAPES, render_scene, sample_scene, scene_rng  # noqa: E402
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402
from llava_nb.smallworld.wild import draw_wild, wild_scene  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "robust_vision.json"
RUNS = ROOT / "runs" / "robust_vision"


def row(summary: dict) -> dict:
    "What the question is about, from a quickstart summary."
    e = summary["eval"]
    return {
        "in-distribution VQA": round(e["vqa_accuracy"], 3),
        "by type": {k: round(v, 3) for k, v in e["by_type"].items()},
        "wild": round(e["wild"]["accuracy"], 3),
        "wild by type": {k: round(v, 3) for k, v in e["wild"]["by_type"].items()},
        "wild by background": {k: round(v, 3) for k, v in e["wild"]["by_background"].items()},
        "held-out phrasings": round(e["heldout"]["vqa_accuracy"], 3),
        "wall_seconds": summary["wall_seconds"],
    }


@torch.no_grad()
def _mean_tokens(tower, processor, pictures) -> torch.Tensor:
    "(N, H) mean patch token of the layer LLaVA reads (-2), the pictures made pixels by the tower's own processor."
    out = []
    for i in range(0, len(pictures), 200):
        px = processor(pictures[i : i + 200], return_tensors="pt")["pixel_values"]  # (n, 3, 72, 72)
        out.append(tower(pixel_values=px, output_hidden_states=True).hidden_states[-2][:, 1:].mean(1))
    return torch.cat(out)


def wild_probe(tower_dir, n_train: int = 1000, n_test: int = 300, wild_train: int = 0) -> dict:
    """Linear probes of a one-object picture's colour and shape from the tower's mean patch token, trained on the plain
    world and tested on plain pictures (`plain`) and on wild ones (`wild`: `llava_nb.smallworld.wild`, one object
    each); with `wild_train`, also one trained on that many other wild pictures and tested on the same wild ones
    (`wild -> wild`): is the answer in the features at all, in any direction?"""
    tower, proc = CLIPVisionModel.from_pretrained(tower_dir).eval(), CLIPImageProcessor.from_pretrained(tower_dir)
    plain = [sample_scene(scene_rng(7, "probe", i), n_objects=1) for i in range(n_train + n_test)]
    rng = random.Random("wild-probe")
    wild = [wild_scene(rng, n_objects=1) for _ in range(n_test + wild_train)]  # the first n_test: the wild test set
    f_plain = _mean_tokens(tower, proc, [render_scene(s) for s in plain])  # (N, H)
    f_wild = _mean_tokens(tower, proc, [draw_wild(s, seed=i) for i, s in enumerate(wild)])  # (n_test + wild_train, H)
    tr, te, wte, wtr = slice(0, n_train), slice(n_train, None), slice(0, n_test), slice(n_test, None)
    res = {}
    for attr, names in (("color", COLOURS), ("shape", SHAPES)):
        y_plain = torch.tensor([names.index(s["objects"][0][attr]) for s in plain])
        y_wild = torch.tensor([names.index(s["objects"][0][attr]) for s in wild])
        res[attr] = {
            "plain": round(linear_probe(f_plain[tr], y_plain[tr], f_plain[te], y_plain[te]), 3),
            "wild": round(linear_probe(f_plain[tr], y_plain[tr], f_wild[wte], y_wild[wte]), 3),
        }
        if wild_train:
            res[attr]["wild -> wild"] = round(linear_probe(f_wild[wtr], y_wild[wtr], f_wild[wte], y_wild[wte]), 3)
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tower", help="a tower pretrained with variety (default: pretrain one)")
    ap.add_argument("--variety", type=float, default=0.5, help="share of scenes in other looks (tower and quickstart)")
    ap.add_argument("--steps", type=int, default=600, help="the tower's pretraining steps (pretrain-backbones: 600)")
    ap.add_argument("--patch", type=int, help="the tower's patch size in pixels (default 24: one per cell)")
    ap.add_argument("--attribute-weight", type=float, default=0.0, help="train_vision's per-attribute softmaxes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", help="the results entry (default: variety, tower steps and seed)")
    a = ap.parse_args(argv)
    backbones, stats = backbones_with(RUNS / "backbones", "vision", a.tower)
    if not a.tower:
        patch = {"patch_size": a.patch} if a.patch else {}
        tower, stats = train_vision(
            backbones / "vision", seed=a.seed, steps=a.steps, variety=a.variety, attribute_weight=a.attribute_weight,
            **patch,
        )
        stats["probes"] = probe_table(tower)
        (backbones / "vision" / "stats.json").write_text(json.dumps(stats, indent=1, default=str))
    cfg = QuickstartConfig(seed=a.seed, variety=a.variety)
    summary = quickstart(RUNS / f"quickstart_variety{a.variety}_seed{a.seed}", cfg, backbones)
    shipped = json.loads((ROOT / "bench" / "results" / "quickstart_summary.json").read_text())
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results["shipped recipe"] = {**row(shipped), "linear probes": wild_probe(shipped_path("nano") / "vision")}
    name = a.name or f"variety {a.variety}, tower {stats.get('steps', a.steps)} steps, seed {a.seed}"
    results[name] = {
        **row(summary),
        "tower pretraining seconds": stats.get("seconds"),
        "tower retrieval (hard negatives)": stats.get("retrieval_hard"),
        "tower probes (plain world)": stats.get("probes"),
        "linear probes": wild_probe(backbones / "vision"),
    }
    OUT.write_text(json.dumps(results, indent=1, default=str) + "\n")
    for key in ("shipped recipe", name):
        print(key, json.dumps(results[key]))
    print(f"wrote {OUT}")
    return results


if __name__ == "__main__":
    main()
