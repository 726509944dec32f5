"""Masking throughput: conversations/s of `tokenize_conversation` (one tokenizer call on the full rendered text, labels
from char-span overlap) against a per-turn re-tokenisation baseline (each segment tokenised separately, concatenated,
masked by segment: what the original LLaVA does), on the fixture data repeated to ~2000 conversations.

    .venv/bin/python bench/masking_throughput.py [--n 2000] [--repeats 3]

Prints a markdown table and writes bench/results/masking_throughput.json. The baseline's "ids differ" column counts
conversations whose per-segment ids are not the ids of the full rendered prompt (what generation sees)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import tokenizers
import torch
import transformers

from llava_nb.data.templates import get_template
from llava_nb.core import IGNORE_INDEX, RecordError
from llava_nb.data.records import validate_records
from llava_nb.data.masking import tokenize_conversation
from llava_nb.tiny import tiny_bytelevel_tokenizer, tiny_llama_tokenizer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ["blip_laion_cc_sbu_558k.json", "llava_instruct_150k.json", "llava_v1_5_mix665k.json"]

def fixture_conversations() -> tuple[list[list[dict]], str]:
    "Normalised conversations from data/fixtures (or generated ones if the fixtures are absent)."
    convs = []
    for name in FIXTURES:
        path = ROOT / "data" / "fixtures" / name
        if path.exists(): convs += [r.conversations for r in validate_records(path)[0]]
    if convs: return convs, "data/fixtures (" + ", ".join(FIXTURES) + ")"
    colours, shapes = ["red", "green", "blue"], ["circle", "star", "square"]
    for i in range(30):
        conv = []
        for k in range(1 + i % 4):
            c, s = colours[(i + k) % 3], shapes[(i * k) % 3]
            conv += [{"from": "human", "value": ("<image>\n" if k == 0 else "") + f"What color is the {s}?"},
                     {"from": "gpt", "value": f"The {s} is {c}. It is on the left of the picture."}]
        convs.append(conv)
    return convs, "generated"

def per_turn_baseline(conv, tokenizer, template) -> tuple[list[int], list[int]]:
    "Tokenise each rendered segment on its own, concatenate, label by segment."
    rendered = template.render(conv, tokenizer)
    ids, labels = [], []
    if template.special_tokens_for(rendered.text, tokenizer) and tokenizer.bos_token_id is not None:
        ids.append(tokenizer.bos_token_id); labels.append(IGNORE_INDEX)
    for text, trained in rendered.segments():
        seg = tokenizer(text, add_special_tokens=False).input_ids
        ids += seg; labels += seg if trained else [IGNORE_INDEX] * len(seg)
    return ids, labels

def throughput(fn, convs, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for c in convs: fn(c)
        rates.append(len(convs) / (time.perf_counter() - t0))
    return statistics.median(rates)

def main(n: int = 2000, repeats: int = 3) -> dict:
    base, source = fixture_conversations()
    setups = [("vicuna_v1", "llama (tiny, BOS, byte fallback)", tiny_llama_tokenizer()),
              ("chatml", "byte-level (tiny, Qwen-style)", tiny_bytelevel_tokenizer())]
    rows = []
    for tname, tokname, tok in setups:
        template = get_template(tname)
        convs = []
        for c in base:
            try: tokenize_conversation(c, tok, template); convs.append(c)
            except RecordError: pass
        convs = (convs * (n // len(convs) + 1))[:n]
        ours = throughput(lambda c: tokenize_conversation(c, tok, template), convs, repeats)
        baseline = throughput(lambda c: per_turn_baseline(c, tok, template), convs, repeats)
        differ = sum(per_turn_baseline(c, tok, template)[0] != tokenize_conversation(c, tok, template).input_ids for c in convs)
        n_tokens = sum(len(tokenize_conversation(c, tok, template).input_ids) for c in convs) / len(convs)
        rows.append(dict(template=tname, tokenizer=tokname, conversations=len(convs), mean_tokens=round(n_tokens, 1),
                         ours_conv_per_s=round(ours, 1), baseline_conv_per_s=round(baseline, 1), speedup=round(ours / baseline, 2),
                         baseline_ids_differ=differ))
    result = dict(source=source, unique_conversations=len(base), repeats=repeats, rows=rows,
                  machine=dict(python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
                               tokenizers=tokenizers.__version__, cpus=os.cpu_count(), processor=platform.processor() or platform.machine()))
    print(f"Masking throughput on {source}: {len(base)} conversations repeated to {n}, median of {repeats} runs\n")
    print("| template | tokenizer | mean tokens | tokenize_conversation (conv/s) | per-turn baseline (conv/s) | speed-up | baseline ids ≠ rendered ids |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['template']} | {r['tokenizer']} | {r['mean_tokens']} | {r['ours_conv_per_s']:,.0f} | {r['baseline_conv_per_s']:,.0f} | "
              f"{r['speedup']}× | {r['baseline_ids_differ']} of {r['conversations']} |")
    out = ROOT / "bench" / "results" / "masking_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return result

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="conversations per measurement (fixtures repeated)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    main(a.n, a.repeats)
