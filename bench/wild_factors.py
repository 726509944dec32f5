"""Why does the small world's model miss shapes drawn another way? One factor at a time, on one-object scenes.

The wild test set (`llava_nb.smallworld.wild`) changes many things at once: renderer, canvas size, colours, background, scale,
position, rotation, outlines. Here each one-object plain scene is drawn again with one change, and the model is asked
"What shape is the <colour> object?" (a phrasing it trained on):

- `plain`: the training renderer;
- `wild renderer, world colours, 72/288 px`: the other renderer, same box, same colour values, black page;
- `shifted 0.2/0.4 patch`: that, the object moved right by a fraction of the tower's patch (24 px of 72: one cell);
- `scaled x1.25/x1.5`: that, the object's box larger about its centre;
- `wild colours`: that, the wild renderer's own colour values (jittered).

Seconds per checkpoint on 2 cores. Measured: the shipped model and the varied-tower models all fall apart once the
object leaves its patch's centre or outgrows it, while renderer, canvas size and colour values cost little.

    .venv/bin/python bench/wild_factors.py CHECKPOINT [--name NAME] [--n 120]

Writes bench/results/wild_factors.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from llava_nb.chat.session import ChatSession
from llava_nb.smallworld.world import COLOUR_RGB, render_scene, sample_scene, scene_rng
from llava_nb.smallworld.wild import draw_wild

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "wild_factors.json"


def redraw(scene: dict, size: int, shift: float = 0.0, scale: float = 1.0, world_colours: bool = True, dy: float = 0.0):
    """The one-object `scene` through the wild renderer on a black `size` px page, moved right by `shift` and down by
    `dy` (fractions of a cell: the shipped tower's patch), its box `scale` times as large."""
    o = scene["objects"][0]
    x0, y0, x1, y1 = o["bbox"]
    centre = ((x0 + x1) / 2 * size + shift * size / 3, (y0 + y1) / 2 * size + dy * size / 3)
    wild = {"size": size, "bg": np.zeros((size, size, 3)), "objects": [
        {"shape": o["shape"], "color": o["color"], "center": centre, "scale": (x1 - x0) * size * scale, "angle": 0,
         "outline": False}]}  # fmt: skip
    return draw_wild(wild, palette=COLOUR_RGB, jitter=0) if world_colours else draw_wild(wild)


FACTORS = {
    "plain": None,
    "wild renderer, world colours, 72 px": dict(size=72),
    "wild renderer, world colours, 288 px": dict(size=288),
    "shifted 0.2 patch": dict(size=288, shift=0.2),
    "shifted 0.4 patch": dict(size=288, shift=0.4),
    "scaled x1.25": dict(size=288, scale=1.25),
    "scaled x1.5": dict(size=288, scale=1.5),
    "wild colours": dict(size=288, world_colours=False),
}


def factors(checkpoint, n: int = 120) -> dict:
    chat = ChatSession.from_pretrained(checkpoint, temperature=0.0, max_new_tokens=6)
    hits = {k: [] for k in FACTORS}
    for i in range(n):
        scene = sample_scene(scene_rng(5, "factors", i), n_objects=1)
        o = scene["objects"][0]
        if o["cell"][1] == 2:  # the right column: a shift would push the object off the page
            continue
        for name, how in FACTORS.items():
            chat.clear(image=True)
            chat.set_image(render_scene(scene) if how is None else redraw(scene, **how))
            hits[name].append(chat.ask(f"What shape is the {o['color']} object?").answer.strip() == o["shape"])
    return {k: round(sum(v) / len(v), 3) for k, v in hits.items()} | {"n": len(hits["plain"])}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--name", help="the results entry (default: the checkpoint's path)")
    ap.add_argument("--n", type=int, default=120, help="one-object scenes drawn (those in the right column skipped)")
    a = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[a.name or a.checkpoint] = r = factors(a.checkpoint, a.n)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(r, indent=1))
    return results


if __name__ == "__main__":
    main()
