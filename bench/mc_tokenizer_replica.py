"""Replica: is the multiple-choice letter lookup blocked by the tokenizer? A nano LLM from scratch, two tokenizers.

`bench/mc_drill_replica.py` found that neither more lettered items nor a lookup drill moves the shipped nano LLM's
second lookup (0.44-0.51 of the items whose free-form twin it gets right). Its tokenizer split words on spaces only,
so a lettered list `A. small\\nB. large\\nAnswer ...` became `▁small\\nB`, `▁large\\nAnswer`: each option's word fused
with the *next* option's letter into a rare token of its own, the word's usual token absent from the list. Llama's
SentencePiece writes a newline as its own token. Here the same corpus (`lm_corpus`, fresh seed), the same model and
steps, trained from scratch with the newline fused (`fused`, as shipped) or isolated (`isolated`, the fix); then
the probe of `bench/mc_lookup_probe.py` and the scene-token VQA of `lm_scene_vqa`. ~3-4 minutes an arm on 2 cores.

    .venv/bin/python bench/mc_tokenizer_replica.py [--steps 800] [--scenes 1500] [--seed 0]

Writes bench/results/mc_tokenizer_replica.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mc_lookup_probe import probe  # noqa: E402

from llava_nb.core import seed_everything  # noqa: E402
from llava_nb.smallworld.fit import fit  # noqa: E402
from llava_nb.smallworld.llm import _lm_batch, _lm_forward, encode_lm_item, length_grouped_batches  # noqa: E402
from llava_nb.smallworld.llm import llm_config, lm_corpus, lm_scene_vqa, lm_texts  # noqa: E402
from llava_nb.tiny import llama_style_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mc_tokenizer_replica.json"


def run(arm: str, steps: int, scenes: int, seed: int) -> dict:
    seed_everything(seed)
    items = lm_corpus(scenes, seed=50 + seed, phrasing="templates", absent=0.0)  # as measured: the corpus before 27
    tok = llama_style_tokenizer(lm_texts(items), 1024, split_punctuation=True, split_newlines=arm == "isolated")
    batches = length_grouped_batches([encode_lm_item(it, tok) for it in items], 32, seed)
    lm = LlamaForCausalLM(llm_config(tok))
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-3, weight_decay=0.01, betas=(0.9, 0.98))
    lm.train()
    batch = lambda step: _lm_batch(batches[step % len(batches)], tok.pad_token_id)
    loss = lambda step: {"loss": _lm_forward(lm, batch(step), tok, 0.3).loss}
    t0 = time.time()
    fit(loss, list(lm.parameters()), opt, steps, 1e-3, warmup=30, verbose=False)
    seconds = round(time.time() - t0, 1)
    return {"seconds": seconds, "mc": probe(lm, tok), "scene_vqa": lm_scene_vqa(lm, tok, 200, seed + 1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--scenes", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="fused,isolated")
    a = ap.parse_args(argv)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for arm in a.arms.split(","):
        r = run(arm, a.steps, a.scenes, a.seed)
        results[f"{arm}/steps{a.steps}/seed{a.seed}"] = r
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(arm, r["seconds"], {m: r["mc"][m] for m in ("image", "text", "none", "all")}, r["scene_vqa"], flush=True)
    return results


if __name__ == "__main__":
    main()
