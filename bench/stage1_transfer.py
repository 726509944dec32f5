"""Does stage 1 alone transfer the LLM's reading of scenes to images?

After stage 1 only the projector has learned (on captions, with the `plain` template); the LLM has never seen an image.
This script asks such a checkpoint held-out VQA questions in the chat template (`vicuna_v1`) the LLM was pretrained on,
and compares with the LLM's own accuracy when the scene is given as scene tokens (a perfect projector,
`nano_llm.lm_scene_vqa`). Equal numbers mean the projector writes the scene tokens the LLM learned to read.

    .venv/bin/python bench/stage1_transfer.py --checkpoint runs/quickstart/stage1/final \
        --world runs/quickstart/data/test
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from llava_nb.smallworld.llm import lm_scene_vqa
from llava_nb.smallworld.evaluate import accuracy_by_objects
from llava_nb.eval.metrics import answer_batch, exact_match, vqa_scores
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.world import load_world


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a stage-1 (or any) checkpoint")
    ap.add_argument("--world", required=True, help="a test world directory (scenes.json, images/); vqa_eval.json beside it")
    ap.add_argument("--template", default="vicuna_v1")
    ap.add_argument("--n", type=int, default=600, help="questions to ask")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "stage1_transfer.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = LlavaModel.from_pretrained(a.checkpoint)
    model.config = replace(model.config, template=a.template)   # ask in the LLM's chat format, not stage 1's `plain`
    world = Path(a.world)
    records = json.loads((world.parent / "vqa_eval.json").read_text())[:a.n]
    preds = answer_batch(model, records, world, max_new_tokens=8, progress=False, autocast_dtype="bfloat16")
    scored = [{**r, "correct": exact_match(p, r["answer"])} for r, p in zip(records, preds)]
    image = vqa_scores(preds, records)
    image["by_objects"] = accuracy_by_objects(scored, load_world(world))
    tokens = lm_scene_vqa(model.llm, model.tokenizer)
    res = {"checkpoint": a.checkpoint, "template": a.template, "n": len(records), "image_tokens": image,
           "scene_tokens": tokens}
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"images through the stage-1 projector: VQA {image['accuracy']:.3f} {image['by_objects']}")
    print(f"scene tokens (a perfect projector):   VQA {tokens['overall']:.3f}")
    print(a.out)


if __name__ == "__main__":
    main()
