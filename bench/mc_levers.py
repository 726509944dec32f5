"""Issue 27: two levers on multiple choice, each one change from the shipped recipe, read on 630 items.

- `fourth phase`: the quickstart on the LLM of `bench/mc_phase_replica.py --steps 1500 --extra 4` (a fourth later
  phase from the shipped LLM, the corpus of seed 4 with four more lettered items a scene; `lm_corpus(lettered=5)`
  draws the same items, `continue_llm(lettered=)` trains such a phase).
- `stage 2`: three lettered records a scene in stage 2 (`QuickstartConfig(mc_train=3)`) at the shipped number of
  steps (`stage2_epochs` 2 x 12,000 / 18,000 records).
- `fourth phase, 3,000 steps, scene distractors`: the quickstart on the LLM of `bench/mc_phase_replica.py --steps
  3000 --extra 4 --distractors scene --no-control` (the extra items' wrong options the scene's values first).
- `scene distractors`: stage 2's lettered records take their wrong options from the scene's other objects first
  (`QuickstartConfig(mc_distractors="scene")`): the shipped model's wrong colour and shape letters name another object
  in the picture, so an option being in the picture must stop meaning it is the answer.

Each row: the quickstart's figures (`llm_second_phase.figures`) and multiple choice on 630 items by modality and by the
right option's letter (`mc_eval_size.score`), beside the shipped run's.

    .venv/bin/python bench/mc_phase_replica.py --steps 1500 --extra 4 --out bench/results/mc_phase_replica_1500.json
    .venv/bin/python bench/mc_levers.py [--seed 0] [--reuse] [--only NAME ...]   # ~5 min a lever on 2 cores

Writes bench/results/mc_levers.json (runs under runs/mc_levers/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from everyday_words import backbones_with  # noqa: E402
from llm_second_phase import figures  # noqa: E402
from mc_eval_size import score  # noqa: E402
from mc_phase_replica import RUNS as REPLICA_RUNS  # noqa: E402

from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402

OUT = ROOT / "bench" / "results" / "mc_levers.json"
RUNS = ROOT / "runs" / "mc_levers"
REPLICA_LLM = REPLICA_RUNS / "1500_steps" / "4_more_lettered_items_a_scene" / "llm"
SCENE_LLM = REPLICA_RUNS / "3000_steps" / "4_more_lettered_items_a_scene_the_scenes_values_as_wrong_options" / "llm"


def levers(seed: int) -> dict:
    "Each lever's quickstart config and backbones (None: the shipped ones)."
    shipped = QuickstartConfig(seed=seed)
    records = shipped.n_train * (shipped.instruct_per_scene + 1)  # instruct + one lettered record a scene
    more = shipped.n_train * 2  # two more lettered records a scene
    same_steps = round(shipped.stage2_epochs * records / (records + more), 4)
    return {
        "shipped": (shipped, None),
        "fourth phase": (shipped, REPLICA_LLM),
        "stage 2": (QuickstartConfig(seed=seed, mc_train=3, stage2_epochs=same_steps), None),
        "scene distractors": (QuickstartConfig(seed=seed, mc_distractors="scene"), None),
        "fourth phase, 3,000 steps, scene distractors": (shipped, SCENE_LLM),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="score the runs already under runs/mc_levers, train nothing")
    ap.add_argument("--only", nargs="*", default=None, help="these levers only (names as above)")
    a = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for name, (cfg, llm) in levers(a.seed).items():
        if a.only is not None and name not in a.only:
            continue
        run = RUNS / f"{name.replace(' ', '_')}_seed{a.seed}"
        if not a.reuse:
            backbones = backbones_with(run.with_name(run.name + "_backbones"), "llm", source=llm)[0] if llm else None
            quickstart(run, cfg, backbones=backbones, say=lambda *x: None)
        summary = json.loads((run / "summary.json").read_text())
        results[f"{name}, seed {a.seed}"] = {"quickstart": figures(summary), "multiple choice": score(run, 630, a.seed)}
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(name, json.dumps(results[f"{name}, seed {a.seed}"])[:300], flush=True)
    return results


if __name__ == "__main__":
    main()
