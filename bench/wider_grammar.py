"""Does a wider training grammar make the small world follow held-out phrasings better?

The teacher's grammar (`llava_nb.smallworld.symbolic`: `_HANDWRITTEN`, `REQUESTS`, `ASKED_FOR`) as it stands in the
code is used twice, exactly as `pretrain-backbones` and `make quickstart` use it: the nano LLM is re-pretrained on
it (3,000 steps, seed 0, the shipped tower kept), then the quickstart runs on that LLM. Both held-out sets are
scored (`HELD_OUT_QUESTIONS`, and `HELD_OUT_QUESTIONS_B`, written before any of these grammars and never used to
tune them), with a per-frame probe of both. The first entry is the run shipped before (commit 87a57c9's
`bench/results/quickstart_summary.json`; its second-set score from `heldout_phrasings.py` on that checkpoint).

    .venv/bin/python bench/wider_grammar.py --name NAME            # pretrain (~23 min on 2 cores) + quickstart (~3 min)
    .venv/bin/python bench/wider_grammar.py --name NAME --run DIR  # a finished run (DIR/backbones, DIR/qs0)
    .venv/bin/python bench/wider_grammar.py --name NAME --run DIR --qs qs3 --mix conversation=4,detail=3,complex=1

The grammars measured (`git show COMMIT:nbs/07a_smallworld_symbolic.ipynb`):
- "wide, alternatives + checks" (b00a9cd): 8 more requests, about six more handwritten frames a type, chat openers
  and closers (`in_chat_words`), colour and shape alternatives ("Is the star red or blue?") and yes/no checks ("Is the
  star red?"), four more relative-position frames;
- "wide, alternatives": the same without the checks, with one more relative frame ("Which is it: is A above or
  below B?");
- "wide, same kinds (3,000 LLM steps)": c2d98f4 without its `VARIED_DESCRIPTION_REQUESTS` (the alternatives, checks and
  new relative-position frames removed);
- "wide, same kinds + description requests, 6,000 LLM steps": c2d98f4, `train_llm(steps=6000)`;
- "... (shipped)": the same LLM, `make quickstart` with two description records a scene (`QuickstartConfig.mix`);
- "... three description records a scene": the same LLM, `--mix conversation=4,detail=3,complex=1`.

The 3,000-step runs used `--llm-steps 3000`.

Writes bench/results/wider_grammar.json (one entry per --name).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from everyday_words import backbones_with, frame_probe  # noqa: E402
from stage2_llm_lr import row  # noqa: E402

from llava_nb.eval.metrics import answer_batch  # noqa: E402
from llava_nb.model.hf import load_model  # noqa: E402
from llava_nb.smallworld.heldout import HELD_OUT_QUESTIONS_B, make_heldout_describe  # noqa: E402
from llava_nb.smallworld.llm import train_llm  # noqa: E402
from llava_nb.smallworld.quickstart import QuickstartConfig, quickstart  # noqa: E402
from llava_nb.smallworld.world import make_world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "wider_grammar.json"


def with_second_set(summary: dict, second: dict | None = None) -> dict:
    "`row` plus the second held-out set (from the summary, or `second`) and the description F1."
    h = summary["eval"]["heldout"]
    b = second or h.get("second_set", {})
    return {
        **row(summary),
        "second held-out set": round(b["vqa_accuracy"], 3) if b else None,
        "second set by type": {k: round(v, 3) for k, v in b.get("by_type", {}).items()},
        "description F1": round(h["describe"]["f1"], 3),
    }


def description_replies(checkpoint, n: int = 20) -> dict:
    "Per held-out way to ask for a description: the replies on `n` test scenes (greedy, up to 80 tokens), shortened."
    model = load_model(checkpoint).eval()
    with tempfile.TemporaryDirectory() as d:
        scenes = make_world(Path(d) / "test", n, seed=0, split="test")
        items = make_heldout_describe(scenes)
        replies = answer_batch(model, items, Path(d) / "test", max_new_tokens=80, progress=False)
    out = {}
    for it, r in zip(items, replies):
        out.setdefault(it["question"], []).append(r[:90])
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="which grammar this is (the results' key)")
    ap.add_argument("--run", help="a finished run's folder (backbones/, qs0/) to summarise instead of training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--llm-steps", type=int, default=6000, help="LLM pretraining steps (the shipped recipe's: 6,000)")
    ap.add_argument("--mix", default=None, help="stage-2 instruction kinds, e.g. conversation=4,detail=2,complex=1")
    ap.add_argument("--qs", default="qs0", help="the quickstart's folder inside the run")
    a = ap.parse_args(argv)
    mix = {k: int(v) for k, v in (kv.split("=") for kv in a.mix.split(","))} if a.mix else None
    run = Path(a.run) if a.run else ROOT / "runs" / "wider_grammar" / a.name.replace(" ", "_")
    if not a.run:
        backbones, _ = backbones_with(run / "backbones", "llm")
        _, _, stats = train_llm(backbones / "llm", seed=a.seed, steps=a.llm_steps, eval_every=300, save_every=300)
        (backbones / "llm" / "stats.json").write_text(json.dumps(stats, indent=1))
    if not (run / a.qs / "summary.json").is_file():
        cfg = QuickstartConfig(seed=a.seed, **({"mix": mix} if mix else {}))
        quickstart(run / a.qs, cfg, run / "backbones")
    stats = json.loads((run / "backbones" / "llm" / "stats.json").read_text())
    summary = json.loads((run / a.qs / "summary.json").read_text())
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    ckpt = run / a.qs / "stage2" / "final"
    probe = lambda table=None: {f: [r["accuracy"], r["wrong"]] for f, r in frame_probe(ckpt, table=table).items()}
    results[a.name] = {
        "llm scene-token VQA": stats.get("scene_vqa"),
        "llm pretraining seconds": stats.get("seconds"),
        **with_second_set(summary),
        "frames (first set): accuracy, commonest wrong answers": probe(),
        "frames (second set): accuracy, commonest wrong answers": probe(HELD_OUT_QUESTIONS_B),
        "description replies (held-out ways, 20 test scenes)": description_replies(ckpt),
    }
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results[a.name], indent=1))
    print(f"wrote {OUT}")
    return results


if __name__ == "__main__":
    main()
