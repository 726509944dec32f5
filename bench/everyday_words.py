"""Does an LLM that has read everyday words follow held-out phrasings better?

The shipped nano LLM never read *big*, *find*, *present*, *call*, *anywhere* or *sort*: its corpus is the teacher's
questions and the world's captions. Several held-out frames (`llava_nb.smallworld.heldout`) use exactly such words ("Would you call
the star large or small?", "Where would you find the star?"), and a word an LLM has never read is a string of letters to
it. Vicuna has read them all. Here the nano LLM is pretrained as `pretrain-backbones` does, with
`symbolic.everyday_statements` added to its corpus (`lm_corpus(everyday=3)`: three true statements a scene in everyday
words, never questions), then the quickstart runs on it; both are compared with the shipped LLM's quickstart (seed 0,
`bench/results/quickstart_summary.json`, its checkpoint `data/nano/llava`), overall and per held-out frame.

    .venv/bin/python bench/everyday_words.py               # pretrain (~11 min on 2 cores), quickstart (~3 min), probe
    .venv/bin/python bench/everyday_words.py --llm DIR     # an LLM already pretrained with everyday statements

Writes bench/results/everyday_words.json (runs under runs/everyday_words/).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stage2_llm_lr import row  # noqa: E402

from llava_nb.core import shipped_path  # noqa: E402
from llava_nb.datagen.instruct import SHORT_ANSWER_PROMPT  # noqa: E402
from llava_nb.smallworld.teacher import make_vqa_eval  # noqa: E402
from llava_nb.smallworld.heldout import HELD_OUT_QUESTIONS  # noqa: E402
from llava_nb.model.hf import load_model  # noqa: E402
from llava_nb.eval.metrics import answer_batch, vqa_scores  # noqa: E402
from llava_nb.smallworld.llm import train_llm  # noqa: E402
from llava_nb.smallworld.world import make_world  # noqa: E402
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402
from llava_nb.smallworld.symbolic import ask_in_frames  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "everyday_words.json"
RUNS = ROOT / "runs" / "everyday_words"


def frame_probe(checkpoint, n: int = 80, seed: int = 0, table=None) -> dict:
    """Per held-out frame (of `table`, default `HELD_OUT_QUESTIONS`): accuracy on `n` test-world questions asked in that
    frame alone, the commonest wrong answers."""
    model = load_model(checkpoint).eval()
    out = {}
    with tempfile.TemporaryDirectory() as d:
        scenes = make_world(Path(d) / "test", 200, seed=seed, split="test")
        for qtype, frames in (table or HELD_OUT_QUESTIONS).items():
            for f in frames:
                ask = lambda t, objs, rng, f=f: ask_in_frames(t, objs, rng, {t: (f,)})
                items = make_vqa_eval(scenes, seed, 1, (qtype,), ask=ask, tag="frame")[:n]
                answers = answer_batch(model, items, Path(d) / "test", suffix=SHORT_ANSWER_PROMPT, progress=False)
                right = [vqa_scores([a], [it])["accuracy"] == 1 for a, it in zip(answers, items)]
                wrong = Counter(a for a, ok in zip(answers, right) if not ok).most_common(3)
                out[f] = {"type": qtype, "accuracy": round(sum(right) / len(right), 3), "wrong": wrong}
    return out


def backbones_with(folder: Path, part: str, source=None) -> tuple[Path, dict]:
    """`folder`: the shipped nano backbones with `part` ('vision' or 'llm') taken from `source` (its `stats.json`, if
    the run that trained it wrote one, returned) or left for the caller to train into `folder / part` (source None)."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(shipped_path("nano"), folder, ignore=shutil.ignore_patterns("llava", part))
    if source is None:
        return folder, {}
    shutil.copytree(source, folder / part)
    stats = folder / part / "stats.json"
    return folder, json.loads(stats.read_text()) if stats.is_file() else {}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", help="an LLM pretrained with everyday statements (default: pretrain one)")
    ap.add_argument("--everyday", type=int, default=3, help="statements per scene in the LLM's corpus")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    backbones, stats = backbones_with(RUNS / "backbones", "llm", a.llm)
    if not a.llm:
        _, _, stats = train_llm(backbones / "llm", seed=a.seed, steps=3000, eval_every=300, everyday=a.everyday)
        (backbones / "llm" / "stats.json").write_text(json.dumps(stats, indent=1))
    summary = quickstart(RUNS / f"quickstart_seed{a.seed}", QuickstartConfig(seed=a.seed), backbones)
    shipped = json.loads((ROOT / "bench" / "results" / "quickstart_summary.json").read_text())
    results = {
        "everyday statements per scene": a.everyday,
        "llm scene-token VQA": stats.get("scene_vqa"),
        "llm pretraining seconds": stats.get("seconds"),
        "shipped LLM": row(shipped),
        "LLM with everyday words": row(summary),
        "frames": {
            "shipped LLM": frame_probe(shipped_path("nano") / "llava"),
            "LLM with everyday words": frame_probe(summary["checkpoint"]),
        },
    }
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    for name in ("shipped LLM", "LLM with everyday words"):
        print(name, json.dumps(results[name]))
    for f, r in results["frames"]["shipped LLM"].items():
        print(f"{r['accuracy']:.2f} -> {results['frames']['LLM with everyday words'][f]['accuracy']:.2f}  {f}")
    print(f"wrote {OUT}")
    return results


if __name__ == "__main__":
    main()
