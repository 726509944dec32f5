"""Replica: do lead words decide the kind of answer the nano LLM gives, and does varying them in its corpus help?

`bench/heldout_llm_probe.py` shows the pretrained LLM alone misses held-out frames whose first words belong to another
kind of question ("Tell me: is the star above the circle?" -> "center"; "Would you say ...?" -> "right"). Here two
fresh nano LLMs train `--steps` steps on the shipped recipe's corpus (`lm_corpus`, seed 0), one as it is and one with a
quarter of its direct questions led by a request ("Answer this: is the star above the circle?", "I want to know: how
many stars are there?"; `LEADS`, none of them a held-out frame's words: the script checks every item against every
held-out frame), then both are probed on the two held-out tables (`heldout_llm_probe.probe`). Same seed, same steps,
same items otherwise; ~6 minutes an arm on 2 cores at 1,500 steps.

    .venv/bin/python bench/lead_words_replica.py [--steps 1500] [--share 0.25]

Measured (teacher-forced exact match, bare questions; shipped corpus -> led):

    seed 0: training frames 0.785 -> 0.813, held-out table 0.720 -> 0.715, second table 0.732 -> 0.808
    seed 1: training frames 0.767 -> 0.797, held-out table 0.743 -> 0.768, second table 0.765 -> 0.727

Both seeds gain about 0.03 in the training frames; the held-out tables move by up to 0.08 either way, in opposite
directions across seeds: varied lead words do not close the gap between training and held-out phrasings at this
length of training. Not adopted.

Writes bench/results/lead_words_replica.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_llm_probe import probe  # noqa: E402

from llava_nb.core import IMAGE_TOKEN, seed_everything  # noqa: E402
from llava_nb.smallworld.fit import fit  # noqa: E402
from llava_nb.smallworld.heldout import HELD_OUT_QUESTIONS, HELD_OUT_QUESTIONS_B, frame_pattern  # noqa: E402
from llava_nb.smallworld.llm import (  # noqa: E402
    _lm_batch,
    _lm_forward,
    build_tokenizer,
    encode_lm_item,
    length_grouped_batches,
    llm_config,
    lm_corpus,
    lm_texts,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "lead_words_replica.json"
LEADS = (
    "Answer this:", "Please answer:", "I want to know:", "I need to know:", "Say:", "Work it out:", "Let me know:",
    "Look at the picture and answer:", "Check this:",
)  # fmt: skip


def with_leads(items: list[dict], share: float, seed: int) -> list[dict]:
    "A copy of `items` with `share` of the direct questions (one line, ending in '?') led by one of `LEADS`."
    rng, out = random.Random(f"leads/{seed}"), []
    for it in items:
        if "conversations" not in it:
            out.append(it)
            continue
        turns = []
        for t in it["conversations"]:
            head, sep, body = t["value"].rpartition(f"{IMAGE_TOKEN}\n")
            if t["from"] == "human" and body.endswith("?") and "\n" not in body and rng.random() < share:
                t = dict(t, value=f"{head}{sep}{rng.choice(LEADS)} {body[0].lower()}{body[1:]}")
            turns.append(t)
        out.append({**it, "conversations": turns})
    return out


def check_held_out(items: list[dict]) -> None:
    """No training question holds a held-out frame (as `tests/test_heldout.py` checks the shipped data; here each human
    turn on its own, since over a whole rendered chat the frames' gaps can span two turns)."""
    tables = (HELD_OUT_QUESTIONS, HELD_OUT_QUESTIONS_B)
    patterns = [frame_pattern(f) for table in tables for fs in table.values() for f in fs]
    turns = [t["value"] for it in items for t in it.get("conversations", ()) if t["from"] == "human"]
    for text in turns + [it["text"] for it in items if "text" in it]:
        for p in patterns:
            if p.search(text.lower()):
                raise AssertionError(f"a held-out frame ({p.pattern}) in a training question: {text[:200]!r}")


def train(items: list[dict], steps: int, seed: int, batch_size: int = 32, lr: float = 1e-3):
    "A fresh nano LLM trained as `train_llm` trains it (tokenizer from the items, AdamW, warmup, embedding noise)."
    seed_everything(seed)
    tok = build_tokenizer(lm_texts(items), 1024)
    examples = [encode_lm_item(it, tok) for it in items]
    random.Random(seed).shuffle(examples)
    lm = LlamaForCausalLM(llm_config(tok))
    opt = torch.optim.AdamW(lm.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    batches = length_grouped_batches(examples, batch_size, seed)
    lm.train()
    loss = lambda step: {
        "loss": _lm_forward(lm, _lm_batch(batches[step % len(batches)], tok.pad_token_id), tok, 0.3).loss
    }
    fit(loss, list(lm.parameters()), opt, steps, lr, warmup=30, verbose=False)
    return lm, tok


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--share", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    corpus = lm_corpus(a.steps * 32 // 8 + 100, a.seed)  # ~8 items a scene: each item seen about once
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for arm, items in (
        ("corpus as shipped", corpus),
        (f"{a.share:.0%} of questions led", with_leads(corpus, a.share, a.seed)),
    ):
        check_held_out(items)
        t0 = time.time()
        lm, tok = train(items, a.steps, a.seed)
        r = {"seconds": round(time.time() - t0, 1), **probe(lm, tok=tok)}
        results[f"{arm}, {a.steps} steps, seed {a.seed}"] = r
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(arm, {k: v["bare"]["overall"] for k, v in r.items() if isinstance(v, dict)}, flush=True)
    return results


if __name__ == "__main__":
    main()
