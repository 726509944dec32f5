"""Plain questions a student types about one shape ("What color is it?"): does a checkpoint still answer them?

The held-out tables (`llava_nb.smallworld.heldout`) ask in whole frames no training data uses; this asks five short,
everyday questions about 20 lone shapes drawn by the training renderer (random colour, shape, size and cell, seed 0),
greedy, and counts the replies that start with the right colour or shape. Written when the LLM's second phase with
stray words (`bench/llm_second_phase.py`) lifted the held-out tables but lost "What color is it?".

    .venv/bin/python bench/plain_questions.py CHECKPOINT [CHECKPOINT ...] [--names "a;b"]

Writes bench/results/plain_questions.json (an entry per name; default: the checkpoint paths).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import torch

from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.world import COLOURS, SHAPES, make_scene, render_scene

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "plain_questions.json"
QUESTIONS = {  # question: the attribute its answer names
    "What color is it?": "color",
    "What color is the object?": "color",
    "Which color is the thing?": "color",
    "What colour is the shape?": "color",
    "What shape is the object?": "shape",
}


def lone_shapes(n: int = 20, seed: int = 0) -> list[dict]:
    "`n` one-object scenes: random colour, shape, size and cell."
    rng = random.Random(seed)
    pick = lambda: {"shape": rng.choice(SHAPES), "color": rng.choice(COLOURS), "size": rng.choice(["large", "small"]),
                    "cell": [rng.randrange(3), rng.randrange(3)]}
    return [make_scene([pick()]) for _ in range(n)]


@torch.no_grad()
def right_answers(checkpoint, scenes: list[dict], questions: dict = QUESTIONS) -> tuple[dict, dict]:
    """Per question of `questions` (question: the attribute its answer names), how many of `scenes` the checkpoint
    answers with the right word first, and how the other replies begin (their first four words, counted)."""
    model = LlavaModel.from_pretrained(checkpoint).eval()
    right, misses = {}, {}
    for q, attr in questions.items():
        replies = [model.answer(render_scene(s), q, max_new_tokens=6).lower() for s in scenes]
        ok = [r.startswith(s["objects"][0][attr]) for r, s in zip(replies, scenes)]
        right[q] = sum(ok)
        misses[q] = dict(Counter(" ".join(r.split()[:4]) for r, k in zip(replies, ok) if not k).most_common())
    return right, misses


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--names", help="semicolon-separated entry names, one per checkpoint")
    a = ap.parse_args(argv)
    names = a.names.split(";") if a.names else a.checkpoints
    scenes = lone_shapes()
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for name, ckpt in zip(names, a.checkpoints):
        right, misses = right_answers(ckpt, scenes)
        results[name] = {"checkpoint": ckpt, "scenes": len(scenes), "right": right, "misses begin": misses}
        print(name, json.dumps(results[name]["right"]), flush=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
