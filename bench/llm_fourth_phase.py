"""Issue 27: the nano LLM's fourth later phase, which drills the multiple-choice lookup, before and after.

The LLM with three later phases letters 0.72 of the image items it answers free-form (`bench/mc_lookup_probe.py`), and
the quickstart on it picks the option that is in the picture, not the one naming its answer (`bench/mc_eval_size.py`).
The fourth phase (`LLM_LATER_PHASES[3]`) reads the scenes of seed 4 for 3,000 steps with five lettered items a scene
instead of one: the first drawn as the evaluation draws them, the other four with the scene's other values as their
wrong options (`lm_corpus(lettered=5, distractors="scene")`), so that being in the picture stops giving the answer away.

    .venv/bin/python bench/llm_fourth_phase.py --before runs/qs_mc630_s0 runs/qs_mc630_s1 \\
        --after runs/phase4_mc/qs_s0 runs/phase4_mc/qs_s1            # ~30 s: compare two pairs of quickstart runs
    .venv/bin/python bench/llm_fourth_phase.py --train LLM_DIR ...    # + the phase (~23 min) and two quickstarts

`--train LLM_DIR` (an LLM with the three earlier later phases, e.g. `pretrain-backbones --llm-continue-phases 3`)
copies it to runs/phase4_mc/llm, trains the phase there with `continue_llm` exactly as `pretrain_backbones` does, and
runs `make quickstart` on it for seeds 0 and 1 (runs/phase4_mc/qs_s0, qs_s1), the shipped tower beside it.

Each run's row: the summary's figures, and the descriptions asked for in held-out ways on 120 test scenes a set (as
`evaluate` asks them since this change; the runs before asked 30). Writes bench/results/llm_fourth_phase.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from everyday_words import backbones_with  # noqa: E402

from llava_nb.eval.metrics import answer_batch  # noqa: E402
from llava_nb.model.hf import load_model  # noqa: E402
from llava_nb.smallworld.backbones import continue_llm, later_phase_steps, later_phase_words  # noqa: E402
from llava_nb.smallworld.heldout import HELD_OUT_DESCRIBE, HELD_OUT_DESCRIBE_B, make_heldout_describe  # noqa: E402
from llava_nb.smallworld.judge import description_scores  # noqa: E402
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402
from llava_nb.smallworld.world import load_world  # noqa: E402

OUT = ROOT / "bench" / "results" / "llm_fourth_phase.json"
RUNS = ROOT / "runs" / "phase4_mc"
DESCRIBE = {"first": (HELD_OUT_DESCRIBE, "d"), "second": (HELD_OUT_DESCRIBE_B, "db")}


def train(llm_dir: Path) -> list[Path]:
    "The fourth phase on a copy of `llm_dir`, then the quickstart on it for seeds 0 and 1; the runs."
    llm = RUNS / "llm"
    shutil.rmtree(llm, ignore_errors=True)
    shutil.copytree(llm_dir, llm)
    stats = continue_llm(llm, 3, later_phase_steps(4)[3], **later_phase_words(4)[3])  # the scenes of seed 4
    (RUNS / "fourth_phase_stats.json").write_text(json.dumps(stats, indent=1))
    backbones = backbones_with(RUNS / "backbones", "llm", source=llm)[0]
    runs = [RUNS / f"qs_s{seed}" for seed in (0, 1)]
    for seed, run in enumerate(runs):
        quickstart(run, QuickstartConfig(seed=seed), backbones=backbones, say=lambda *x: None)
    return runs


def described(run: Path, n: int = 120) -> dict:
    "Descriptions asked for in both held-out sets of ways on the run's first `n` test scenes: described, object F1."
    seed = json.loads((run / "summary.json").read_text())["config"]["seed"]
    model = load_model(run / "stage2" / "final").eval()
    folder = run / "data" / "test"
    scenes = load_world(folder)[:n]
    out = {}
    for key, (ways, mark) in DESCRIBE.items():
        items = make_heldout_describe(scenes, seed, ways, mark)
        replies = answer_batch(model, items, folder, 64, 160, progress=False, autocast_dtype="bfloat16")
        scores = [description_scores(r, it["objects"]) for r, it in zip(replies, items)]
        out[key] = {
            "described": round(sum(s["mentions"] > 0 for s in scores) / len(scores), 3),
            "F1": round(sum(s["f1"] for s in scores) / len(scores), 3),
        }
    return out


def row(run: Path) -> dict:
    "The figures the phase could move, from a quickstart run."
    e = json.loads((run / "summary.json").read_text())["eval"]
    h, r3 = e["heldout"], lambda d: {k: round(v, 3) for k, v in d.items()}
    return {
        "run": str(run.relative_to(ROOT)) if run.is_relative_to(ROOT) else str(run),
        "multiple choice": round(e["mc_accuracy"], 3),
        "multiple choice by modality": r3(e["mc"]["by_modality"]),
        "in-template VQA": round(e["vqa_accuracy"], 3),
        "in-template by type": r3(e["by_type"]),
        "2+ objects": round(e["by_objects"]["2+ objects"], 3),
        "held-out words": round(h["vqa_accuracy"], 3),
        "held-out words by type": r3(h["by_type"]),
        "second held-out table": round(h["second_set"]["vqa_accuracy"], 3),
        "relative score, held-out words": round(h["relative_score"]["overall"], 1),
        "honest about absent things": round(h["unanswerable"]["honest"], 3),
        "descriptions in held-out ways (120 scenes a set)": described(run),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, nargs=2, required=True, help="the quickstart runs before (seeds 0, 1)")
    ap.add_argument("--after", type=Path, nargs=2, help="the runs on the LLM with the fourth phase (seeds 0, 1)")
    ap.add_argument("--train", type=Path, help="an LLM with three later phases: train the fourth and the runs")
    a = ap.parse_args(argv)
    if bool(a.after) == bool(a.train):
        ap.error("give --after (two runs) or --train (an LLM to train the phase on), one of them")
    after = train(a.train) if a.train else a.after
    results = {
        f"seed {seed}": {"three later phases": row(b.resolve()), "four later phases": row(f.resolve())}
        for seed, (b, f) in enumerate(zip(a.before, after))
    }
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    for seed, rows in results.items():
        for name, r in rows.items():
            short = {k: v for k, v in r.items() if not isinstance(v, dict) and k != "run"}
            print(seed, name, short)
    return results


if __name__ == "__main__":
    main()
