"""Replica: do lead words decide the kind of answer the nano LLM gives, and does varying them in its corpus help?

`bench/heldout_llm_probe.py` shows the pretrained LLM alone misses held-out frames whose first words belong to another
kind of question ("Tell me: is the star above the circle?" -> "center"; "Would you say ...?" -> "right"). Here two
fresh nano LLMs train `--steps` steps on the shipped recipe's corpus (`lm_corpus`, seed 0), one as it is and one with a
quarter of its direct questions led by a request ("Answer this: is the star above the circle?", "I want to know: how
many stars are there?"; `LEADS`, none of them a held-out frame's words: the script checks every item against every
held-out frame), then both are probed on the two held-out tables (`heldout_llm_probe.probe`). Same seed, same steps,
same items otherwise, trained by `train_llm` (its recipe, its 300 held-back items); ~6 minutes an arm on 2 cores
at 1,500 steps.

    .venv/bin/python bench/lead_words_replica.py [--steps 1500] [--share 0.25]

Measured (teacher-forced exact match, bare questions; shipped corpus -> led):

    seed 0: training frames 0.872 -> 0.860, held-out table 0.813 -> 0.788, second table 0.848 -> 0.805
    seed 1: training frames 0.833 -> 0.785, held-out table 0.757 -> 0.695, second table 0.802 -> 0.722

Varied lead words cost every table in both seeds at this length of training: not adopted. (A first version of this
script trained with a loop of its own and saw mixed results, 0.72-0.81; it now trains with `train_llm` itself.)

Writes bench/results/lead_words_replica.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heldout_llm_probe import probe  # noqa: E402

from llava_nb.core import IMAGE_TOKEN  # noqa: E402
from llava_nb.smallworld.heldout import HELD_OUT_TABLES, frame_pattern  # noqa: E402
from llava_nb.smallworld.llm import lm_corpus, lm_texts, train_llm  # noqa: E402

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
    patterns = [frame_pattern(f) for frames, _, _ in HELD_OUT_TABLES.values() for fs in frames.values() for f in fs]
    turns = [t["value"] for it in items for t in it.get("conversations", ()) if t["from"] == "human"]
    for text in turns + [it["text"] for it in items if "text" in it]:
        for p in patterns:
            if p.search(text.lower()):
                raise AssertionError(f"a held-out frame ({p.pattern}) in a training question: {text[:200]!r}")


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
        lm, tok, _ = train_llm(None, a.seed, steps=a.steps, corpus=items, max_minutes=None, eval_every=0, verbose=False)
        r = {"seconds": round(time.time() - t0, 1), **probe(lm, tok=tok)}
        results[f"{arm}, {a.steps} steps, seed {a.seed}"] = r
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(arm, {k: v["bare"]["overall"] for k, v in r.items() if isinstance(v, dict)}, flush=True)
    return results


if __name__ == "__main__":
    main()
