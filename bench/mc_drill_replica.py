"""Replica: does the nano LLM learn the multiple-choice letter lookup from more of the same items, or from a drill?

`bench/mc_lookup_probe.py` shows the shipped nano LLM picks the right letter in 0.44 of the items whose free-form
twin it answers right: the second lookup (answer word -> the option naming it -> its letter) never formed, though
its corpus holds one lettered item per scene. Here the shipped LLM trains `--steps` more steps on its own kind of
corpus (fresh scenes), a quarter of each batch given to one arm:

- `more`: more lettered items of the corpus's kind (`make_mc_eval` on fresh scenes);
- `drill`: the second lookup alone: "Which option is red?", the options, the letter (`mc_lookup_drill`);
- `none`: the corpus only (the control for the steps themselves).

The probe (`mc_lookup_probe.probe`, its held-out scenes) after each. ~1-2 minutes an arm on 2 cores.
`--alone` trains on the drill alone instead, every batch, and logs the drill's own held-out accuracy: can the
second lookup be learned at all, and after how many steps?

    .venv/bin/python bench/mc_drill_replica.py [--steps 300] [--seed 0]
    .venv/bin/python bench/mc_drill_replica.py --alone --steps 1000 --name "shipped LLM: "
    .venv/bin/python bench/mc_drill_replica.py --alone --steps 800 --llm fresh --name "fresh LLM: "

    .venv/bin/python bench/mc_drill_replica.py --alone --steps 800 --llm fresh --layers 8 --name "fresh 8-layer LLM: "

On the LLM shipped now (the wider grammar, 6,000 steps; `--corpus varied`, its own corpus's phrasing), 600 steps with
a quarter of each batch lettered items (4,800 of them) leave the image questions' letter where the control leaves it
(0.63 vs 0.67 given a right free-form answer; text 0.74 vs 0.65, none 0.78 vs 0.72): more of the same items is not
the lever at these budgets.

    .venv/bin/python bench/mc_drill_replica.py --arms none,more --steps 600 --corpus varied \
        --name "wider-grammar LLM (6,000 steps), varied corpus: "

A fresh LLM learns the drill no faster (0.55 after 800 steps, the shipped one 0.74): the lookup is slow to form in
this model at all, not blocked by what pretraining taught it.

The committed arms none/more/drill were measured on the LLM shipped before issue 27 (`--llm` after
`git archive fbca131 data/nano/llm | tar -x -C /tmp/before`: `--llm /tmp/before/data/nano/llm`); `--alone` on the
shipped one.

Writes bench/results/mc_drill_replica.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mc_lookup_probe import _hits, probe  # noqa: E402

from llava_nb.core import IMAGE_TOKEN, seed_everything, shipped_path  # noqa: E402
from llava_nb.smallworld.fit import fit  # noqa: E402
from llava_nb.smallworld.llm import _lm_batch, _lm_forward, encode_lm_item, lm_corpus, scene_slots  # noqa: E402
from llava_nb.smallworld.llm import length_grouped_batches  # noqa: E402
from llava_nb.smallworld.world import sample_scene, scene_id, scene_rng  # noqa: E402
from llava_nb.smallworld.judge import make_mc_train  # noqa: E402
from llava_nb.eval.metrics import mc_prompt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mc_drill_replica.json"


_DRILL_ASK = ("Which option is {w}?", "Which option says {w}?", "Find {w} among the options.", "The answer is {w}.")


def mc_lookup_drill(n: int, seed: int) -> list[dict]:
    from llava_nb.smallworld.judge import _DOMAINS, _options

    out = []
    for i in range(n):
        rng = random.Random(f"mcdrill/{seed}/{i}")
        pool = _DOMAINS[rng.choice(sorted(_DOMAINS))]
        w = rng.choice(pool)
        choices, letter = _options(rng, w, pool)
        it = {"question": rng.choice(_DRILL_ASK).format(w=w), "choices": choices, "context": None}
        s = sample_scene(scene_rng(seed, "mcdrill", i), scene_id(i, "mcdrill")) if rng.random() < 0.5 else None
        head = f"{IMAGE_TOKEN}\n" if s else ""
        conv = [{"from": "human", "value": head + mc_prompt(it)}, {"from": "gpt", "value": letter}]
        out.append({"conversations": conv, **({"slots": scene_slots(s)} if s else {})})
    return out


def _more(n: int, seed: int) -> list[dict]:
    "The quickstart's lettered records (`make_mc_train`) on fresh scenes, the image as scene tokens."
    scenes = [sample_scene(scene_rng(seed, "more", i), scene_id(i, "more")) for i in range(n)]
    records = make_mc_train(scenes, seed=seed)
    return [{"conversations": r["conversations"], **({"slots": scene_slots(s)} if "image" in r else {})}
            for s, r in zip(scenes, records)]


def _load(llm: str, layers: int | None = None):
    """The LLM at `llm` and its tokenizer; `fresh`: the shipped LLM's architecture (with `layers` layers if given) and
    tokenizer, freshly initialised."""
    if llm != "fresh":
        return LlamaForCausalLM.from_pretrained(llm), AutoTokenizer.from_pretrained(llm)
    shipped = shipped_path("nano") / "llm"
    config = LlamaConfig.from_pretrained(shipped)
    config.num_hidden_layers = layers or config.num_hidden_layers
    return LlamaForCausalLM(config), AutoTokenizer.from_pretrained(shipped)


def run(arm: str, steps: int, seed: int, llm: str, corpus: str = "templates") -> dict:
    seed_everything(seed)
    lm, tok = _load(llm)
    # ~8 items a scene, 3/4 of each batch; `templates`: the corpus the LLM before issue 27 read, `varied`: the shipped's
    corpus_name = corpus
    phrasing = {"templates": dict(phrasing="templates", absent=0.0), "varied": {}}[corpus]
    corpus = lm_corpus(steps * 24 // 8 + 50, seed=100 + seed, **phrasing)
    extra = {"more": lambda n: _more(n, 200 + seed), "drill": lambda n: mc_lookup_drill(n, 200 + seed)}
    add = extra[arm](steps * 8) if arm != "none" else []
    rng = random.Random(seed)
    corpus_b = length_grouped_batches([encode_lm_item(it, tok) for it in corpus], 24, seed)
    add_ex = [encode_lm_item(it, tok) for it in add]
    batches = []
    for i in range(steps):
        b = corpus_b[i % len(corpus_b)]
        batches.append(b + (add_ex[8 * i : 8 * i + 8] if add_ex else rng.sample(corpus_b[-1 - i % 5], 8)))
    opt = torch.optim.AdamW(lm.parameters(), lr=3e-4, weight_decay=0.01, betas=(0.9, 0.98))
    lm.train()
    loss = lambda step: {"loss": _lm_forward(lm, _lm_batch(batches[step], tok.pad_token_id), tok, 0.3).loss}
    t0 = time.time()
    fit(loss, list(lm.parameters()), opt, steps, 3e-4, warmup=20, verbose=False)
    return {"llm": llm, "corpus": corpus_name, "seconds": round(time.time() - t0, 1), **probe(lm, tok)}


def alone(steps: int, seed: int, llm: str, every: int = 100, layers: int | None = None, lr: float = 1e-3) -> dict:
    "The drill alone, from `llm`: its held-out accuracy every `every` steps."
    seed_everything(seed)
    lm, tok = _load(llm, layers)
    drill = [encode_lm_item(it, tok) for it in mc_lookup_drill(steps * 32, 300 + seed)]
    batches = length_grouped_batches(drill, 32, seed)
    test = mc_lookup_drill(300, 400 + seed)
    opt = torch.optim.AdamW(lm.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    log = []

    def after(step: int) -> None:
        if step % every == 0 or step == steps - 1:
            lm.eval()
            hits = _hits(lm, tok, test)
            lm.train()
            log.append({"step": step, "drill": round(sum(hits) / len(hits), 3)})
            print(log[-1], flush=True)

    lm.train()
    loss = lambda step: {"loss": _lm_forward(lm, _lm_batch(batches[step], tok.pad_token_id), tok, 0.3).loss}
    t0 = time.time()
    fit(loss, list(lm.parameters()), opt, steps, lr, warmup=20, verbose=False, on_step=after)
    return {"llm": llm, "seconds": round(time.time() - t0, 1), "log": log, **probe(lm, tok)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="none,more,drill")
    ap.add_argument("--llm", default=str(shipped_path("nano") / "llm"), help="a folder, or 'fresh' (initialised)")
    ap.add_argument("--alone", action="store_true", help="the drill alone, its accuracy logged")
    ap.add_argument("--lr", type=float, default=1e-3, help="with --alone: the learning rate")
    ap.add_argument("--layers", type=int, help="with --llm fresh: the number of layers (default: the shipped LLM's)")
    ap.add_argument("--corpus", default="templates", choices=("templates", "varied"), help="the corpus's phrasing")
    ap.add_argument("--name", default="", help="a prefix for the results' keys (e.g. which LLM)")
    a = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if a.alone:
        results[f"{a.name}alone/steps{a.steps}/seed{a.seed}"] = alone(a.steps, a.seed, a.llm, layers=a.layers, lr=a.lr)
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        return results
    for arm in a.arms.split(","):
        r = run(arm, a.steps, a.seed, a.llm, a.corpus)
        results[f"{a.name}{arm}/steps{a.steps}/seed{a.seed}"] = r
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(arm, r["seconds"], {m: r[m] for m in ("image", "text", "none", "all")}, flush=True)
    return results


if __name__ == "__main__":
    main()
