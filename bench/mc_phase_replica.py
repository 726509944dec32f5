"""Issue 27 replica: does a later LLM phase with more lettered items lift the second lookup of multiple choice?

The shipped nano LLM alone, given a scene as perfect grid tokens (`bench/mc_lookup_probe.py`), answers 0.98 of the
image questions free-form but puts the right letter to 0.72 of those; the quickstart's multiple choice on images
(0.73 / 0.77) is that lookup, not vision. Its corpus holds one lettered item per scene, whose loss is one letter among
the hundreds of answer tokens a scene's chats have. This goes on from the shipped LLM for `--steps` at the later
phases' learning rate on the corpus of a new seed (`lm_corpus`, the short-answer grammar's words as the shipped
third phase read), as it is (control) and with `--extra` more lettered items per scene (other draws of
`make_mc_eval`, `mc_item`), then probes both LLMs alone: the lookup (`mc_lookup_probe.probe`) and the held-out tables
(`heldout_llm_probe.probe`), so a gain that costs the rest shows.

    .venv/bin/python bench/mc_phase_replica.py [--steps 600] [--extra 2] [--out FILE]   # ~4.5 min a run on 2 cores
        [--distractors scene --no-control]  # the extra items' wrong options from the scene first; one run only
        [--passages 0.5 --extra 0 --seed 5]  # half the short-answer chats about the scene as a passage in words

`--passages`: the text items' side (ScienceQA's text context). The LLM alone answers text items free-form far worse
than image items (0.65 against 0.98 after its fourth later phase) although it reads the same questions; its corpus gives
a scene in words only as captions, never as the detailed description a text item's passage is. With `--passages P`
the second run's corpus asks a share P of the short-answer chats about the scene as such a passage
(`lm_corpus(passages=P)`) instead of its tokens. `--start` takes another LLM to go on from (default: the shipped one).

Writes bench/results/mc_phase_replica.json (runs under runs/mc_phase_replica/).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from transformers import AutoTokenizer, LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import heldout_llm_probe  # noqa: E402
import mc_lookup_probe  # noqa: E402

from llava_nb.core import shipped_path  # noqa: E402
from llava_nb.smallworld.backbones import LLM_CONTINUE_LR  # noqa: E402
from llava_nb.smallworld.judge import DISTRACTORS, mc_draws  # noqa: E402
from llava_nb.smallworld.llm import lm_corpus, mc_item, scene_slots, train_llm  # noqa: E402
from llava_nb.smallworld.world import sample_scene, scene_id, scene_rng  # noqa: E402

OUT = ROOT / "bench" / "results" / "mc_phase_replica.json"
RUNS = ROOT / "runs" / "mc_phase_replica"


def extra_items(n_scenes: int, seed: int, extra: int, distractors: str = "drawn") -> list[dict]:
    """`extra` more lettered items per scene of `lm_corpus(n_scenes, seed)`'s scenes, each another draw of options
    (`distractors` as `make_mc_eval`'s)."""
    scenes = [sample_scene(scene_rng(seed, "lm", i), scene_id(i, "lm")) for i in range(n_scenes)]
    draws = mc_draws(scenes, seed, extra + 1, distractors)[1:]  # the corpus holds draw 0
    return [mc_item(choice, scene_slots(s)) for mc in draws for s, choice in zip(scenes, mc)]


def probes(llm_dir: Path) -> dict:
    "The LLM alone: the multiple-choice lookup by modality and the first two held-out tables (bare)."
    lm, tok = LlamaForCausalLM.from_pretrained(llm_dir).eval(), AutoTokenizer.from_pretrained(llm_dir)
    mc = mc_lookup_probe.probe(lm, tok)
    tables = heldout_llm_probe.probe(lm, tok=tok)
    return {"mc": mc, "tables": {k: v["bare"]["overall"] for k, v in tables.items()}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--extra", type=int, default=2, help="more lettered items per scene in the second run")
    ap.add_argument("--seed", type=int, default=4, help="the corpus's seed (the shipped phases read 1, 2 and 3)")
    ap.add_argument("--scenes", type=int, default=10_000)
    ap.add_argument("--out", default=str(OUT), help="the results file (another one for other steps or items)")
    ap.add_argument(
        "--distractors",
        default="drawn",
        choices=DISTRACTORS,
        help="the extra items' wrong options: drawn, or the scene's other values first",
    )
    ap.add_argument("--no-control", action="store_true", help="train the extra items' run only (a control exists)")
    ap.add_argument("--passages", type=float, default=0.0, help="share of short-answer chats given a passage")
    ap.add_argument("--start", default=str(shipped_path("nano") / "llm"), help="the LLM to go on from")
    a = ap.parse_args(argv)
    corpus = lm_corpus(a.scenes, a.seed, answers="composed")
    more = extra_items(a.scenes, a.seed, a.extra, a.distractors) if a.extra else []
    name = f"{a.extra} more lettered items a scene" + (
        ", the scene's values as wrong options" if a.distractors == "scene" else ""
    )
    variant = corpus
    if a.passages:
        name = f"{a.passages:.0%} of the short-answer chats about a passage" + (f", {name}" if a.extra else "")
        variant = lm_corpus(a.scenes, a.seed, answers="composed", passages=a.passages)
    runs = {"control": corpus, name: variant + more}
    if a.no_control:
        del runs["control"]
    shipped = Path(a.start).resolve() == (shipped_path("nano") / "llm").resolve()
    results = {"shipped LLM" if shipped else f"start LLM ({a.start})": probes(Path(a.start))}
    for name, items in runs.items():
        llm_dir = RUNS / f"{a.steps}_steps" / name.replace(" ", "_").replace(",", "").replace("'", "") / "llm"
        shutil.rmtree(llm_dir, ignore_errors=True)
        shutil.copytree(a.start, llm_dir)
        t0 = time.perf_counter()
        how = dict(lr=LLM_CONTINUE_LR, init=llm_dir, corpus=items, eval_every=a.steps, verbose=False)
        train_llm(llm_dir, seed=a.seed, steps=a.steps, **how)
        results[name] = {"items": len(items), "seconds": round(time.perf_counter() - t0, 1), **probes(llm_dir)}
        print(name, json.dumps(results[name])[:400], flush=True)
    Path(a.out).write_text(json.dumps({"steps": a.steps, "corpus seed": a.seed, **results}, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
