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

from transformers import AutoTokenizer, LlamaForCausalLM

from llava_nb.core import shipped_path
from llava_nb.datagen.instruct import SHORT_ANSWER_PROMPT
from llava_nb.smallworld.heldout import HELD_OUT_TABLES, heldout_question
from llava_nb.smallworld.llm import lm_scene_vqa

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "heldout_llm_probe.json"
TABLES = {  # name: (frames, tag, id mark); None: the teacher's own training frames
    "training frames": (None, "vqa", "q"),
    "held-out table": HELD_OUT_TABLES["first"],
    "second held-out table": HELD_OUT_TABLES["second"],
}


def probe(llm, n_scenes: int = 200, seed: int = 1, tok=None) -> dict:
    "Every table, bare and with the instruction, for `llm` (a folder, or a model with its tokenizer `tok`)."
    if tok is None:
        llm, tok = LlamaForCausalLM.from_pretrained(llm), AutoTokenizer.from_pretrained(llm)
    lm, out = llm.eval(), {}
    for name, (frames, tag, mark) in TABLES.items():
        ask = None if frames is None else lambda t, objs, rng, frames=frames: heldout_question(t, objs, rng, frames)
        vqa = lambda suffix="": lm_scene_vqa(lm, tok, n_scenes, seed, ask, tag=tag, mark=mark, suffix=suffix)
        out[name] = {"bare": vqa(), "with the short-answer instruction": vqa("\n" + SHORT_ANSWER_PROMPT)}
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
            print(f"{name:22s} {how:34s} {json.dumps(r)}")
    return entry


if __name__ == "__main__":
    main()
