"""Which words can the nano LLM pick an object by? Held-out scene-token VQA split by the words that name the object.

An attribute question ("What color is the triangle?", "What shape is the red object?") names one object of the scene
by some of its attributes (its *reference*: shape, colour, size, place) and asks for another. On a one-object scene
the model need not pick; on a 2+-object scene it must find the scene token the reference names and read it. This
script asks an LLM (default: the shipped `data/nano/llm`) held-out questions with the scene given as scene tokens (a
perfect projector, as `nano_llm.lm_scene_vqa`), teacher-forced, and reports accuracy by question type × the attributes
its reference uses, on 2+-object scenes, and for every wrong answer whether it is *another object's* value (a wrong
pick) or a value that is not in the scene (a wrong reading).

    .venv/bin/python bench/picking_by_reference.py                      # the shipped LLM
    .venv/bin/python bench/picking_by_reference.py --llm DIR --name NAME # e.g. a `bench/lm_scene_vqa_replica.py --save`

Measured on this project's 2-core CPU (2026-12-02, 600 held-out scenes, the format-2 LLM after 3,000 pretraining steps,
`--name shipped`; `bench/results/picking_by_reference.json`): every wrong answer is another object's value (the scene is
read right, the pick is wrong), and the model picks **only by colour**. Asked for the shape of "the red object" or "the
small red object" it is right 1.00 and 0.93 of the time; asked for the colour of "the triangle" 0.48, of "the large
triangle" 0.49, of "the object in the top left" 0.58 — about what choosing one of the 2–4 objects at random gives. A
fresh LLM after 300 steps of short-answer VQA (`bench/lm_scene_vqa_replica.py --steps 300 --save DIR`) picks by nothing
yet (every reference within a few points of a random pick), with 4 heads or 8. Retrieval keyed on shapes and places has
not emerged in 3,000 steps, and 200 more steps of colour questions alone (references by shape or place; `--init-from
data/nano/llm --qtypes color`) move colour-by-shape only from 0.49 to 0.56: this is the wall under the small world's
2+-object accuracy. In `bench/picking_plateau.py` (one-hot scene features through a small MLP, a 20-word vocabulary, no
chat template) shape-keyed picking is learned from scratch in 150 steps, so what stops it here lies in what differs:
scene tokens made of the LLM's own word embeddings, the chat template between question and answer, or the question mix.

One change at a time says which: `bench/picking_plateau.py --scene words` (scene tokens as sums of the LLM's own word
embeddings) still picks perfectly at step 150, so it is not the embeddings; the question mix is. A fresh LLM in the
real setting (tokenizer, chat template, scene tokens) trained for 300 steps on shape-keyed colour questions alone and
then 300 on the VQA mix (`bench/lm_scene_vqa_replica.py --curriculum 300 --steps 600 --save DIR`) picks **by shape**
(colour by shape 1.00, size by shape 0.97) and not by colour (shape by colour 0.57, random 0.48) — the shipped LLM's
mirror image. The reference kinds compete: whichever the model learns first it keeps, and the others stall.

The LLM shipped now (format 3 with shape-led keyed listings, `--name shape_led`) picks by every kind: colour of "the
triangle" 1.00, of "the object in the top left" 0.99, shape of "the red object" 1.00, of "the object in the top left"
0.99 (random picks 0.47-0.50); `--name keyed_descriptions` is the first format-3 LLM, which picked by colour and place
only (`nano_llm.keyed_description`, `bench/picking_circuit_probe.py`).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from llava_nb.smallworld.backbones import nano_backbones
from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN
from llava_nb.smallworld.teacher import make_vqa_eval
from llava_nb.smallworld.llm import _lm_batch, _lm_forward, _scene_of, encode_lm_item, scene_slots
from llava_nb.smallworld.world import COLOURS, POSITION_NAMES, POSITIONS, SHAPES, SIZES, sample_scene, scene_id, scene_rng

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTE_TYPES = ("color", "shape", "size", "position")


def reference(question: str) -> str:
    "The attributes a question's reference uses, e.g. 'size+shape' for 'What color is the large triangle?'."
    asked = re.sub(r"large or small|small or large", "", question.lower())  # the size question's own words
    words = re.findall(r"[a-z]+", asked)
    used = [k for k, vals in (("size", SIZES), ("color", COLOURS), ("shape", SHAPES)) if set(words) & set(vals)]
    if any(re.search(rf"\bthe {p}\b", asked) for p in POSITION_NAMES):
        used.append("place")
    return "+".join(used) or "none"


@torch.no_grad()
def picking_table(lm, tokenizer, n_scenes: int = 600, seed: int = 1) -> dict:
    "{question type: {reference: {n, accuracy, wrong pick, not in scene}}} on 2+-object scenes (+ one-object overall)."
    scenes = [sample_scene(scene_rng(seed, "lm_eval", i), scene_id(i, "lm_eval")) for i in range(n_scenes)]
    by_id = {s["id"]: s for s in scenes}
    questions = [q for q in make_vqa_eval(scenes, seed=seed) if q["type"] in ATTRIBUTE_TYPES]
    conv = lambda q: [
        {"from": "human", "value": f"{IMAGE_TOKEN}\n{q['question']}"},
        {"from": "gpt", "value": q["answer"]},
    ]
    examples = [
        encode_lm_item({"conversations": conv(q), "slots": scene_slots(_scene_of(q, by_id))}, tokenizer)
        for q in questions
    ]
    tally, chance = defaultdict(Counter), Counter()  # chance: the expected accuracy of picking an object at random
    lm.eval()
    for i in range(0, len(examples), 100):
        b = _lm_batch(examples[i : i + 100], tokenizer.pad_token_id)
        pred = _lm_forward(lm, b, tokenizer, labels=False).logits[:, :-1].argmax(-1)  # (B, T-1)
        labels = b.labels[:, 1:]  # (B, T-1)
        for j, q in enumerate(questions[i : i + 100]):
            objs = _scene_of(q, by_id)["objects"]
            answer_at = (labels[j] != IGNORE_INDEX).nonzero()[:-1, 0]  # the answer's tokens, not the STOP after it
            said = tokenizer.decode(pred[j, answer_at]).strip()
            right = bool(((pred[j] == labels[j]) | (labels[j] == IGNORE_INDEX)).all())
            ref = "one object" if len(objs) == 1 else reference(q["question"])
            values = [POSITIONS[o["cell"][0]][o["cell"][1]] if q["type"] == "position" else o[q["type"]] for o in objs]
            kind = "right" if right else ("wrong pick" if said in values else "not in scene")
            tally[q["type"], ref][kind] += 1
            chance[q["type"], ref] += values.count(q["answer"]) / len(values)
    table = defaultdict(dict)
    for (qt, ref), c in sorted(tally.items()):
        n = sum(c.values())
        table[qt][ref] = {
            "n": n,
            "accuracy": round(c["right"] / n, 3),
            "random pick": round(chance[qt, ref] / n, 3),
            **{k: c[k] for k in ("wrong pick", "not in scene") if k in c},
        }
    return dict(table)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llm", default=None, help="an LLM directory (default: the shipped nano LLM)")
    ap.add_argument("--name", default="latest")
    ap.add_argument("--scenes", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "picking_by_reference.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    llm = Path(a.llm or nano_backbones()["llm"])
    tok = AutoTokenizer.from_pretrained(llm if (llm / "tokenizer.json").is_file() else nano_backbones()["llm"])
    lm = LlamaForCausalLM.from_pretrained(llm)
    table = picking_table(lm, tok, a.scenes)
    for qt, refs in table.items():
        for ref, r in refs.items():
            print(
                f"{qt:9s} by {ref:18s} n={r['n']:4d} accuracy {r['accuracy']:.3f}  { ({k: r[k] for k in r if k not in ('n', 'accuracy')}) }"
            )
    out = Path(a.out)
    runs = json.loads(out.read_text()) if out.is_file() else {}
    runs[a.name] = {"llm": a.llm or "data/nano/llm", "scenes": a.scenes, "table": table}
    out.write_text(json.dumps(runs, indent=1))
    return table


if __name__ == "__main__":
    main()
