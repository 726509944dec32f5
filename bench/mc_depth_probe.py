"""Issue 27: is multiple choice short of layers? At which layer does the nano LLM know the answer, and the letter?

A lettered item asks two lookups in one forward pass: the answer (scene -> word), then the option naming it (word ->
the option's position -> its letter). The second can only start once the first is done, in a later layer. This reads
the shipped nano LLM alone (perfect scene tokens, as `bench/mc_lookup_probe.py`) with a logit lens: the hidden state
after each layer at the position that predicts the reply's first token, put through the final norm and the output
head. Per layer: how often the free-form answer's first token is already the top guess there, and how often the
lettered item's letter is; and the letter's accuracy split by whether the free-form answer was readable a layer
before the last. If the answer only becomes readable in the last layer, the letter has no layer left to be fetched in.

    .venv/bin/python bench/mc_depth_probe.py [--llm DIR] [--name NAME]   # ~30 s on 2 cores

Writes bench/results/mc_depth_probe.json (one entry per --name).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parent))
from answer_requests import save_entry  # noqa: E402
from mc_lookup_probe import paired_items  # noqa: E402

from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN, shipped_path  # noqa: E402
from llava_nb.smallworld.llm import _lm_batch, encode_lm_item, scene_embeddings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mc_depth_probe.json"


@torch.no_grad()
def lens(lm, tok, items: list[dict]) -> list[list[bool]]:
    "Per item, per layer (0 = the embeddings): is the reply's first token the lens's top guess at that depth?"
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    out = []
    for i in range(0, len(items), 100):
        b = _lm_batch([encode_lm_item(it, tok) for it in items[i : i + 100]], tok.pad_token_id)
        mask = (b.input_ids != tok.pad_token_id).long()
        hidden = lm(inputs_embeds=scene_embeddings(lm, b, image_id), attention_mask=mask, output_hidden_states=True)
        first = (b.labels != IGNORE_INDEX).float().argmax(1)  # (B,) the reply's first token
        rows = torch.arange(len(first))
        target = b.labels[rows, first]  # (B,)
        layers = hidden.hidden_states  # n_layers + 1 of (B, T, H); the last one already normed
        hits = []
        for k, h in enumerate(layers):
            at = h[rows, first - 1]  # (B, H) the position that predicts the first reply token
            normed = at if k == len(layers) - 1 else lm.model.norm(at)
            hits.append((lm.lm_head(normed).argmax(-1) == target).tolist())
        out += [list(col) for col in zip(*hits)]
    return out


def probe(lm, tok, n_scenes: int = 300, seed: int = 1) -> dict:
    "Per modality: the share of items whose free-form answer / letter is the lens's top guess after each layer."
    mc, free, lettered = paired_items(n_scenes, seed)
    lm.eval()
    f, letter = lens(lm, tok, free), lens(lm, tok, lettered)
    res = {}
    for m in ("image", "text", "none"):
        idx = [i for i, it in enumerate(mc) if it["modality"] == m]
        share = lambda hits: [round(sum(hits[i][k] for i in idx) / len(idx), 3) for k in range(len(hits[0]))]
        res[m] = {"n": len(idx), "free-form answer by layer": share(f), "letter by layer": share(letter)}
        ready = [i for i in idx if f[i][-2]]  # the answer readable one layer before the last
        late = [i for i in idx if f[i][-1] and not f[i][-2]]  # ... only in the last layer
        rate = lambda group: round(sum(letter[i][-1] for i in group) / max(1, len(group)), 3)
        res[m]["letter | answer ready a layer before the last"] = {"n": len(ready), "right": rate(ready)}
        res[m]["letter | answer only in the last layer"] = {"n": len(late), "right": rate(late)}
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", default=str(shipped_path("nano") / "llm"))
    ap.add_argument("--name", default="shipped")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    lm, tok = LlamaForCausalLM.from_pretrained(a.llm), AutoTokenizer.from_pretrained(a.llm)
    entry = {"llm": a.llm, "layers": lm.config.num_hidden_layers, **probe(lm, tok)}
    entry["seconds"] = round(time.perf_counter() - t0, 1)
    return save_entry(OUT, a.name, entry)


if __name__ == "__main__":
    main()
