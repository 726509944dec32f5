"""Multiple choice is a second lookup: can the nano LLM itself do it, with the scene given as oracle tokens?

The quickstart's multiple choice is 0.42-0.49 while its free-form twin questions score 0.93. This probe asks the
pretrained nano LLM alone (no tower, no projector: the scene as its grid tokens, as in `lm_scene_vqa`) the same kind
of lettered items `make_mc_eval` builds, teacher-forced, and splits the accuracy three ways:

- `free`: the same question asked free-form (the first lookup: scene -> answer word);
- `letter`: the lettered item (answer word -> the option naming it -> its letter);
- `letter | free right`: the letter where the free-form answer was right, i.e. the second lookup alone.

    .venv/bin/python bench/mc_lookup_probe.py                     # the shipped data/nano/llm, ~20 s
    .venv/bin/python bench/mc_lookup_probe.py --llm runs/bb/llm --name mine

The committed entry "before: ..." is the LLM shipped before issue 27:
    mkdir -p /tmp/before && git archive fbca131 data/nano/llm | tar -x -C /tmp/before
    .venv/bin/python bench/mc_lookup_probe.py --llm /tmp/before/data/nano/llm \
        --name "before: template corpus, fused newlines"

    .venv/bin/python bench/mc_lookup_probe.py --distractors scene --name NAME   # wrong options from the scene first

Writes bench/results/mc_lookup_probe.json (one entry per --name).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from answer_requests import save_entry  # noqa: E402

from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN, shipped_path  # noqa: E402
from llava_nb.smallworld.fit import bf16_autocast  # noqa: E402
from llava_nb.eval.metrics import LETTERS, mc_prompt  # noqa: E402
from llava_nb.smallworld.llm import _lm_batch, _lm_forward, encode_lm_item, scene_slots  # noqa: E402
from llava_nb.smallworld.world import sample_scene, scene_id, scene_rng  # noqa: E402
from llava_nb.smallworld.judge import DISTRACTORS, make_mc_eval  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mc_lookup_probe.json"


def _item(question: str, answer: str, scene: dict | None, context: str | None = None) -> dict:
    head = f"{IMAGE_TOKEN}\n" if scene is not None else ""
    ctx = f"Context: {context}\n" if context else ""
    conv = [{"from": "human", "value": head + ctx + question}, {"from": "gpt", "value": answer}]
    return {"conversations": conv, **({"slots": scene_slots(scene)} if scene is not None else {})}


@torch.no_grad()
def _hits(lm, tok, items: list[dict]) -> list[bool]:
    out = []
    for i in range(0, len(items), 100):
        b = _lm_batch([encode_lm_item(it, tok) for it in items[i : i + 100]], tok.pad_token_id)
        with bf16_autocast():
            pred = _lm_forward(lm, b, tok, labels=False).logits[:, :-1].argmax(-1)  # (B, T-1)
        out += ((pred == b.labels[:, 1:]) | (b.labels[:, 1:] == IGNORE_INDEX)).all(1).tolist()
    return out


def paired_items(n_scenes: int = 300, seed: int = 1, distractors: str = "drawn") -> tuple[list, list, list]:
    """`make_mc_eval`'s items on new scenes (`distractors` as its), each as the LLM reads it free-form and lettered:
    `(mc, free, lettered)`."""
    scenes = [sample_scene(scene_rng(seed, "lm_eval", i), scene_id(i, "lm_eval")) for i in range(n_scenes)]
    by_id = {s["id"]: s for s in scenes}
    mc = make_mc_eval(scenes, seed=seed, distractors=distractors)
    free, lettered = [], []
    for it in mc:
        scene = by_id[it["id"].rsplit("_mc", 1)[0]] if it["modality"] == "image" else None
        word = it["choices"][LETTERS.index(it["answer"])]
        free.append(_item(it["question"], word, scene, it["context"]))
        lettered.append(_item(mc_prompt(it), it["answer"], scene))  # mc_prompt holds the context itself
    return mc, free, lettered


def probe(lm, tok, n_scenes: int = 300, seed: int = 1, distractors: str = "drawn") -> dict:
    "Free-form, lettered and second-lookup-only accuracy by modality (image = oracle scene tokens, text, none)."
    mc, free, lettered = paired_items(n_scenes, seed, distractors)
    lm.eval()
    f, letter = _hits(lm, tok, free), _hits(lm, tok, lettered)
    res = {}
    for m in ("image", "text", "none", "all"):
        idx = [i for i, it in enumerate(mc) if m in ("all", it["modality"])]
        right = [i for i in idx if f[i]]
        res[m] = {
            "n": len(idx),
            "free": round(sum(f[i] for i in idx) / len(idx), 3),
            "letter": round(sum(letter[i] for i in idx) / len(idx), 3),
            "letter | free right": round(sum(letter[i] for i in right) / max(1, len(right)), 3),
        }
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", default=str(shipped_path("nano") / "llm"))
    ap.add_argument("--name", default="shipped")
    ap.add_argument("--n-scenes", type=int, default=300)
    ap.add_argument(
        "--distractors",
        default="drawn",
        choices=DISTRACTORS,
        help="the items' wrong options: drawn (as the quickstart asks), or the scene's other values first",
    )
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    lm, tok = LlamaForCausalLM.from_pretrained(a.llm), AutoTokenizer.from_pretrained(a.llm)
    entry = {"llm": a.llm, **probe(lm, tok, a.n_scenes, distractors=a.distractors)}
    entry["seconds"] = round(time.perf_counter() - t0, 1)
    return save_entry(OUT, a.name, entry)


if __name__ == "__main__":
    main()
