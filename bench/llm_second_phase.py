"""Issue 27: does a second pretraining phase of the nano LLM, on scenes it never read, make it follow held-out words?

The nano LLM's first phase trains 6,000 steps on one corpus (10,000 scenes, ~2.6 epochs) and was still improving on
scene-token VQA (relative position 0.94). Going on with the same corpus learns the training frames better; this asks
whether *new* scenes (`continue_llm`: the corpus of seed + 1, 1,500 steps at half the learning rate) also move what
the quickstart's model does with phrasings no training data uses, without (`--stray 0`) and with stray words put in a
share of the questions (`with_stray_words`: known words at random places, so that the LLM must find the question
among words it does not need). The LLM of `--start` (a phase-1 LLM) is copied, trained on in the copy, probed alone
with perfect scene tokens (`heldout_llm_probe.probe`), and `make quickstart` runs on it for each seed; rows beside the
quickstart summaries of the phase-1 LLM (`--before`).

The committed rows started from the LLM of the first phase alone (shipped until commit e931d77: `git worktree add
/tmp/phase1 e931d77`, then `--start /tmp/phase1/data/nano/llm --before bench/results/phase1_llm`), the baselines from
its quickstart summaries (kept in `bench/results/phase1_llm/`). The phase with stray request words is shipped, twice
over: the row "a third phase: ..." went on from the LLM with one such phase (shipped at commit 882dae6: `--start` its
`data/nano/llm`, `--before bench/results/phase2_llm --phase-seed 1`), and `pretrain_backbones` now runs both. The one
with stray words from the questions lost plain questions (`bench/plain_questions.py`).

    .venv/bin/python bench/llm_second_phase.py --start DIR [--stray 0] [--stray-from requests] [--grammar [answers]]
        [--name NAME --seeds 1 --reuse]  # a quickstart seed more on the phase the entry NAME trained

Writes bench/results/llm_second_phase.json (runs under runs/llm_second_phase/).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from everyday_words import backbones_with  # noqa: E402
from heldout_llm_probe import probe  # noqa: E402
from stage2_llm_lr import row  # noqa: E402

from llava_nb.smallworld.backbones import LLM_CONTINUE_STEPS, STRAY_FROM, continue_llm  # noqa: E402
from llava_nb.smallworld.llm import STRAY_RATE  # noqa: E402
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "llm_second_phase.json"
BEFORE = {0: "quickstart_summary.json", 1: "quickstart_summary_seed1.json"}  # the phase-1 LLM's quickstart per seed


def figures(summary: dict) -> dict:
    "`row`'s figures and the ones issue 27 also sets goals for: the second held-out table, description F1."
    h = summary["eval"]["heldout"]
    second, f1 = h["second_set"]["vqa_accuracy"], h["describe"]["f1"]
    return {**row(summary), "second held-out table": round(second, 3), "description f1": round(f1, 3)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", required=True, help="the phase-1 LLM to go on from (see above)")
    ap.add_argument("--before", default=str(ROOT / "bench" / "results" / "phase1_llm"),
                    help="its quickstart summaries' folder")
    ap.add_argument("--stray", type=float, default=STRAY_RATE, help="share of questions with stray words (0: none)")
    ap.add_argument("--stray-from", default="questions", choices=STRAY_FROM,
                    help="the stray words' vocabulary: 'questions' (every question word) or 'requests' (the wrappers')")
    ap.add_argument("--steps", type=int, default=LLM_CONTINUE_STEPS, help="steps of the phase")
    ap.add_argument("--seeds", default="0,1", help="quickstart seeds")
    ap.add_argument("--phase-seed", type=int, default=0, help="the phase reads the corpus of this seed + 1")
    ap.add_argument("--order", default="mixed", choices=("mixed", "reading"),
                    help="the objects' order in the phase's detailed descriptions (`describe`)")
    ap.add_argument("--grammar", nargs="?", const="both", choices=("both", "answers"),
                    help="the phase's corpus in the grammars' words: descriptions and short answers, or answers only")
    ap.add_argument("--name", default=None, help="the results entry (default: named by the stray words)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "llm_second_phase"))
    ap.add_argument("--reuse", action="store_true",
                    help="the entry's phase is trained (under --runs): add --seeds to its entry, train nothing")
    a = ap.parse_args(argv)
    name = f"stray words {a.stray}" if a.stray else "no stray words"
    name += ", from the requests' words" if a.stray and a.stray_from == "requests" else ""
    name = a.name or name
    before_key, after_key = ("phase-1 LLM", "after the second phase") if a.phase_seed == 0 else ("before", "after")
    runs = Path(a.runs) / name.replace(" ", "_")
    before = {k: json.loads((Path(a.before) / f).read_text()) for k, f in BEFORE.items()}  # read before any rerun
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    folder = runs / "backbones"
    if a.reuse:  # the phase this entry trained before: add quickstart seeds to its entry
        res = results[name]
    else:
        backbones_with(folder, "llm", source=a.start)
        t0 = time.perf_counter()
        grammars = {"both": dict(requests="composed", answers="composed"), "answers": dict(answers="composed")}
        words = grammars.get(a.grammar, {})
        how = dict(steps=a.steps, stray=a.stray, stray_from=a.stray_from, verbose=False, order=a.order, **words)
        stats = continue_llm(folder / "llm", seed=a.phase_seed, **how)
        seconds = round(time.perf_counter() - t0, 1)
        (runs / "second_phase_stats.json").write_text(json.dumps(stats, indent=1))
        phase = {"steps": stats["steps"], "seconds": seconds, "scene vqa": stats["scene_vqa"], "order": a.order}
        res = results[name] = {
            "second phase": {**phase, "grammar": a.grammar},
            "llm alone, perfect scene tokens": probe(str(folder / "llm")),
        }
    for seed in (int(s) for s in a.seeds.split(",")):
        summary = quickstart(runs / f"seed{seed}", QuickstartConfig(seed=seed), backbones=folder, say=lambda *x: None)
        res[f"seed {seed}"] = {before_key: figures(before[seed]), after_key: figures(summary)}
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{name}, seed {seed}:", json.dumps(res[f"seed {seed}"]), flush=True)
    return res


if __name__ == "__main__":
    main()
