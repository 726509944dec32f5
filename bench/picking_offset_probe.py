"""Does the nano LLM find the words that name an object by their *place* in the question, or by what they are?

The shipped LLM picks objects by colour only (`bench/picking_by_reference.py`). If it did so by position (say, "the
word two before the '?'", where the colour sits in "the red object"), moving the reference word would move its
accuracy. This probe asks the same scenes the same attribute with the reference word in different places, including
phrasings the LLM never saw in training ("the red one", "the object that is red", "the triangle object"), and scores
teacher-forced exact match on 2+-object scenes (the asked object's reference is unique in its scene), next to a random
pick among the scene's objects.

    .venv/bin/python bench/picking_offset_probe.py [--llm DIR]

Measured on this project's 2-core CPU (2026-12-02, the shipped `data/nano/llm`, ~1,000 questions per row):

| question | reference word | accuracy | random pick |
|---|---|---:|---:|
| What color is the triangle? | shape, 1 before '?' | 0.496 | 0.46 |
| What color is the triangle object? | shape, 2 before '?' | 0.505 | 0.46 |
| What color is the object that is a triangle? | shape, 1 before '?' | 0.484 | 0.46 |
| What shape is the red object? | colour, 2 before '?' | 1.000 | 0.46 |
| What shape is the red one? | colour, 2 before '?' | 0.982 | 0.46 |
| What shape is the object that is red? | colour, 1 before '?' | 1.000 | 0.46 |
| What shape is the red? | colour, 1 before '?' | 1.000 | 0.46 |

Position does not matter: any colour word anywhere in the question picks its object, in phrasings never trained on;
no shape word does, wherever it stands. The LLM learned one *content*-keyed lookup (colour word → the scene token that
holds it) and none for shapes.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN
from llava_nb.smallworld.llm import _lm_batch, _lm_forward, encode_lm_item, scene_slots
from llava_nb.smallworld.world import sample_scene, scene_id, scene_rng

ROOT = Path(__file__).resolve().parents[1]
FORMS = {  # name: (asked attribute, the attribute that names the object, the question)
    "colour of 'the {shape}'": ("color", "shape", "What color is the {}?"),
    "colour of 'the {shape} object'": ("color", "shape", "What color is the {} object?"),
    "colour of 'the object that is a {shape}'": ("color", "shape", "What color is the object that is a {}?"),
    "shape of 'the {colour} object'": ("shape", "color", "What shape is the {} object?"),
    "shape of 'the {colour} one'": ("shape", "color", "What shape is the {} one?"),
    "shape of 'the object that is {colour}'": ("shape", "color", "What shape is the object that is {}?"),
    "shape of 'the {colour}'": ("shape", "color", "What shape is the {}?"),
}


@torch.no_grad()
def probe(lm, tokenizer, n_scenes: int = 1500, seed: int = 7) -> dict:
    "Accuracy and random-pick accuracy per question form, on 2+-object scenes where the reference is unique."
    scenes = [sample_scene(scene_rng(seed, "probe", i), scene_id(i, "probe")) for i in range(n_scenes)]
    lm.eval()
    res = {}
    for name, (ask, by, form) in FORMS.items():
        items, rand = [], []
        for s in scenes:
            objs = s["objects"]
            unique = [o for o in objs if sum(x[by] == o[by] for x in objs) == 1]
            if len(objs) < 2 or not unique:
                continue
            o = random.Random(s["id"]).choice(unique)
            conv = [
                {"from": "human", "value": f"{IMAGE_TOKEN}\n" + form.format(o[by])},
                {"from": "gpt", "value": o[ask]},
            ]
            items.append(encode_lm_item({"conversations": conv, "slots": scene_slots(s)}, tokenizer))
            rand.append(sum(x[ask] == o[ask] for x in objs) / len(objs))
        hits = []
        for i in range(0, len(items), 100):
            b = _lm_batch(items[i : i + 100], tokenizer.pad_token_id)
            pred = _lm_forward(lm, b, tokenizer, labels=False).logits[:, :-1].argmax(-1)  # (B, T-1)
            hits += ((pred == b.labels[:, 1:]) | (b.labels[:, 1:] == IGNORE_INDEX)).all(1).tolist()
        res[name] = {
            "n": len(hits),
            "accuracy": round(sum(hits) / len(hits), 3),
            "random pick": round(sum(rand) / len(rand), 3),
        }
        print(name, res[name], flush=True)
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llm", default=str(ROOT / "data" / "nano" / "llm"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "picking_offset_probe.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(a.llm)
    res = {"llm": a.llm, "table": probe(LlamaForCausalLM.from_pretrained(a.llm), tok)}
    Path(a.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
