"""Where in the nano LLM does picking happen, and why only for colours? Attention read off one forward pass.

A question like "What shape is the red object?" about a 2+-object scene needs two steps: find the scene token the
naming word ("red") names, and bring what it holds to the place where the answer is produced. This probe reads the
attention of every layer and head (eager attention) for three question forms, on 2+-object scenes whose named object is
unique, and reports, averaged over the questions:

- **match**: at the naming word's position in the question, the attention on the named object's scene token and the
  mean attention on each other object's scene token (a head that picks puts its mass on the named object);
- **fetch**: at the position the answer is produced from (the prompt's last token), the attention on the naming word.

    .venv/bin/python bench/picking_circuit_probe.py [--llm DIR] [--name NAME]

Measured on this project's 2-core CPU (2026-12-02, the format-2 `data/nano/llm`, `--name shipped`, 300 questions per
form; `bench/results/picking_circuit_probe.json` and `_shipped.png`): for colour words the circuit is plain to see. In
**layer 0, head 0** the word "red" puts 0.95 of its attention on the red object's scene token and 0.00 on the others:
the match happens at the naming word, one layer deep, between its own embedding and the scene token's sum of word
embeddings. Then in layers 1-3 five heads at the answer position attend to the colour word with 0.74-1.00 of their mass
and fetch what it found. For shape words and places neither step exists: no head at the shape word attends to the named
object more than to the others, and no head at the answer position looks at the shape word (at most 0.02). The LLM
learned a two-step circuit, match then fetch, both keyed on colour content, and no second one. Each step is useless
without the other, so a kind of reference for which neither exists gets almost no gradient towards either: once one kind
is learned, the others stall (`bench/lm_scene_vqa_replica.py`, `bench/picking_by_reference.py`).

The LLM re-pretrained with `nano_llm.keyed_description` in its corpus (format 3, `--name keyed`; `_keyed.png`) keeps
the colour circuit (match in layer 0, head 3: 0.98 against 0.00; fetch 0.57-1.00 in layers 1-3) and has grown one for
**places**: a match in layer 3, head 3 (0.53 on the named object against 0.08) fetched by layer 2, head 1 (0.80) and
layer 0, head 3 (0.68). For shapes there is still none (best match 0.25 against 0.21, fetch at most 0.05).

The LLM shipped now (`--name shape_led`; `_shape_led.png`: any kind may lead a keyed listing, shapes half of them) has
all three: shapes match in layer 0, head 0 (0.95 against 0.00, fetched with 0.99), colours in layer 0, head 3 (0.94
against 0.00, fetch 1.00), places in layer 1, head 0 (0.78 against 0.06, fetch 0.65).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from llava_nb.core import IMAGE_TOKEN
from llava_nb.smallworld.llm import N_SLOTS, _lm_batch, encode_lm_item, scene_embeddings, scene_slots
from llava_nb.smallworld.world import GRID, POSITIONS, sample_scene, scene_id, scene_rng

ROOT = Path(__file__).resolve().parents[1]
FORMS = {  # kind of reference: (asked attribute, the question with the naming words in braces)
    "shape": ("color", "What color is the {}?"),
    "color": ("shape", "What shape is the {} object?"),
    "place": ("color", "What color is the object in the {}?"),
}


def _questions(tokenizer, kind: str, n: int, seed: int) -> list[tuple]:
    "(encoded prompt, index of the naming word's last token, named cell, other objects' cells) on 2+-object scenes."
    ask, form = FORMS[kind]
    out, i = [], 0
    while len(out) < n:
        s = sample_scene(scene_rng(seed, "circuit", i), scene_id(i, "circuit"))
        i += 1
        objs = s["objects"]
        name = (lambda o: POSITIONS[o["cell"][0]][o["cell"][1]]) if kind == "place" else (lambda o: o[kind])
        unique = [o for o in objs if sum(name(x) == name(o) for x in objs) == 1]
        if len(objs) < 2 or not unique:
            continue
        o = random.Random(s["id"]).choice(unique)
        conv = [{"from": "human", "value": f"{IMAGE_TOKEN}\n" + form.format(name(o))}]
        ex = encode_lm_item({"conversations": conv, "slots": scene_slots(s)}, tokenizer, prompt=True)
        word = tokenizer(" " + name(o), add_special_tokens=False).input_ids[-1]  # the naming words' last token
        at = max(j for j, t in enumerate(ex.input_ids) if t == word)
        cell = lambda x: x["cell"][0] * GRID + x["cell"][1]
        out.append((ex, at, cell(o), [cell(x) for x in objs if x is not o]))
    return out


@torch.no_grad()
def probe(lm, tokenizer, kind: str, n: int = 300, seed: int = 3) -> dict:
    "Per layer x head: match (named object, mean other object) at the naming word, and fetch at the answer position."
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    L, H = lm.config.num_hidden_layers, lm.config.num_attention_heads
    named, other, fetch = torch.zeros(L, H), torch.zeros(L, H), torch.zeros(L, H)
    qs = _questions(tokenizer, kind, n, seed)
    for ex, at, target, others in qs:
        b = _lm_batch([ex], tokenizer.pad_token_id)
        attn = lm(inputs_embeds=scene_embeddings(lm, b, image_id), output_attentions=True).attentions
        first = ex.input_ids.index(image_id)  # the scene tokens: first ... first + N_SLOTS - 1
        for layer, a in enumerate(attn):  # a: (1, H, T, T)
            named[layer] += a[0, :, at, first + target]
            other[layer] += a[0, :, at, [first + c for c in others]].mean(-1)
            fetch[layer] += a[0, :, -1, at]
    r = lambda t: (t / len(qs)).round(decimals=3).tolist()
    return {"n": len(qs), "match named": r(named), "match other": r(other), "fetch": r(fetch)}


def plot(results: dict, path: Path) -> None:
    "Heat maps: per kind of reference, match (named minus other object) and fetch, layers x heads."
    import matplotlib.pyplot as plt

    kinds = list(results)
    fig, axes = plt.subplots(2, len(kinds), figsize=(3.2 * len(kinds), 5.2), squeeze=False)
    for j, k in enumerate(kinds):
        r = results[k]
        match = torch.tensor(r["match named"]) - torch.tensor(r["match other"])  # (L, H)
        for i, (m, title) in enumerate(((match, "match: named - other"), (torch.tensor(r["fetch"]), "fetch"))):
            ax = axes[i][j]
            ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
            ax.set_title(f"{k}: {title}", fontsize=9)
            ax.set_xlabel("head")
            ax.set_ylabel("layer")
            for (y, x), val in zip(((y, x) for y in range(m.shape[0]) for x in range(m.shape[1])), m.flatten()):
                ax.text(x, y, f"{val:.2f}", ha="center", va="center", fontsize=7, color="w" if val < 0.5 else "k")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llm", default=str(ROOT / "data" / "nano" / "llm"))
    ap.add_argument("--name", default="latest")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "picking_circuit_probe.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(a.llm)
    lm = LlamaForCausalLM.from_pretrained(a.llm, attn_implementation="eager").eval()
    res = {k: probe(lm, tok, k, a.n) for k in FORMS}
    for k, r in res.items():
        best = max(
            ((lay, h) for lay in range(len(r["fetch"])) for h in range(len(r["fetch"][0]))),
            key=lambda lh: r["match named"][lh[0]][lh[1]] - r["match other"][lh[0]][lh[1]],
        )
        print(
            f"{k:5s}: best match head L{best[0]}H{best[1]} named {r['match named'][best[0]][best[1]]:.2f} vs other "
            f"{r['match other'][best[0]][best[1]]:.2f}; most fetch {max(max(row) for row in r['fetch']):.2f}"
        )
    out = Path(a.out)
    runs = json.loads(out.read_text()) if out.is_file() else {}
    runs[a.name] = {"llm": a.llm, **res}
    out.write_text(json.dumps(runs, indent=1))
    plot(res, out.with_name(f"{out.stem}_{a.name}.png"))
    return res


if __name__ == "__main__":
    main()
