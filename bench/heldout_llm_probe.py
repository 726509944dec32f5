"""Where held-out phrasings fail: in the pretrained nano LLM itself, or after stage 2?

The quickstart's model answers questions in held-out words worse than in the training words (count, relative position
and existence most). This probe asks the pretrained nano LLM alone, the scene given as its grid tokens (a perfect
projector, as `lm_scene_vqa`), the same kinds of questions in three tables of frames: the teacher's training frames,
the held-out table and the second held-out table (`llava_nb.smallworld.heldout`), each bare and with LLaVA-1.5's
short-answer instruction after it. Teacher-forced exact match of the whole answer, by type. If the LLM alone already
misses the held-out frames, the gap was there before stage 2 began; if it reads them, stage 2 lost it.

    .venv/bin/python bench/heldout_llm_probe.py                      # the shipped data/nano/llm, ~30 s on 2 cores
    .venv/bin/python bench/heldout_llm_probe.py --llm runs/bb/llm --name mine

Writes bench/results/heldout_llm_probe.json (one entry per --name).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN, shipped_path
from llava_nb.datagen.instruct import SHORT_ANSWER_PROMPT
from llava_nb.smallworld.fit import bf16_autocast
from llava_nb.smallworld.heldout import HELD_OUT_QUESTIONS, HELD_OUT_QUESTIONS_B, heldout_question
from llava_nb.smallworld.llm import _lm_batch, _lm_forward, encode_lm_item, scene_slots
from llava_nb.smallworld.teacher import make_vqa_eval
from llava_nb.smallworld.world import sample_scene, scene_id, scene_rng

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "heldout_llm_probe.json"
TABLES = {  # name: (ask, tag, id mark); None: the teacher's own training frames
    "training frames": (None, "vqa", "q"),
    "held-out table": (lambda t, objs, rng: heldout_question(t, objs, rng, HELD_OUT_QUESTIONS), "heldout", "h"),
    "second held-out table": (
        lambda t, objs, rng: heldout_question(t, objs, rng, HELD_OUT_QUESTIONS_B), "heldout_b", "b"
    ),
}


@torch.no_grad()
def accuracy(lm, tok, questions: list[dict], scenes: dict, suffix: str = "") -> dict:
    "Teacher-forced exact match of each whole answer, overall and by type."
    items = [
        {
            "conversations": [
                {"from": "human", "value": f"{IMAGE_TOKEN}\n{q['question']}{suffix}"},
                {"from": "gpt", "value": q["answer"]},
            ],
            "slots": scene_slots(scenes[q["image"]]),
        }
        for q in questions
    ]
    hits = {}
    for i in range(0, len(items), 100):
        b = _lm_batch([encode_lm_item(it, tok) for it in items[i : i + 100]], tok.pad_token_id)
        with bf16_autocast():
            pred = _lm_forward(lm, b, tok, labels=False).logits[:, :-1].argmax(-1)  # (B, T-1)
        ok = ((pred == b.labels[:, 1:]) | (b.labels[:, 1:] == IGNORE_INDEX)).all(1)  # (B,)
        for q, hit in zip(questions[i : i + 100], ok.tolist()):
            hits.setdefault(q["type"], []).append(hit)
    every = [h for v in hits.values() for h in v]
    by_type = {k: round(sum(v) / len(v), 3) for k, v in sorted(hits.items())}
    return {"overall": round(sum(every) / len(every), 3), **by_type}


def probe(llm, n_scenes: int = 200, seed: int = 1, per_scene: int = 3, tok=None) -> dict:
    "Every table, bare and with the instruction, for `llm` (a folder, or a model with its tokenizer `tok`)."
    if tok is None:
        llm, tok = LlamaForCausalLM.from_pretrained(llm), AutoTokenizer.from_pretrained(llm)
    lm = llm.eval()
    scenes = [sample_scene(scene_rng(seed, "lm_eval", i), scene_id(i, "lm_eval")) for i in range(n_scenes)]
    by_image = {s["image"]: s for s in scenes}
    out = {}
    for name, (ask, tag, mark) in TABLES.items():
        questions = make_vqa_eval(scenes, seed, per_scene, ask=ask, tag=tag, mark=mark)
        out[name] = {
            "bare": accuracy(lm, tok, questions, by_image),
            "with the short-answer instruction": accuracy(lm, tok, questions, by_image, "\n" + SHORT_ANSWER_PROMPT),
            "n": len(questions),
        }
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", default=str(shipped_path("nano") / "llm"))
    ap.add_argument("--name", default="shipped", help="the entry of the results file")
    ap.add_argument("--scenes", type=int, default=200)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    entry = {"llm": a.llm, **probe(a.llm, a.scenes), "seconds": round(time.perf_counter() - t0, 1)}
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[a.name] = entry
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    for name in TABLES:
        for how, r in entry[name].items():
            if how != "n":
                print(f"{name:22s} {how:34s} {json.dumps(r)}")
    return entry


if __name__ == "__main__":
    main()
