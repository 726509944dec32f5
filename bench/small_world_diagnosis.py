"""Why the small-world model does not use the image: can the nano LLM learn to *read* a scene at all?

Short-answer VQA on the small world needs in-context retrieval: find the object the question names, among the scene's
objects, and copy one of its attributes. This script trains exactly that, with a scene given either in WORDS (the
canonical caption, e.g. "Three objects: a small blue square in the top left, ..."), as IMAGE tokens (the shipped
tower's cached layer -2 features through an `mlp2x_gelu` projector), or as ORACLE tokens (perfect vision: one token
per grid cell holding one-hot shape-or-empty, colour, size and cell, through the same projector), and reports held-out
exact-match accuracy per question type, and on one-object against 2+-object scenes, every `--eval-every` steps
(teacher-forced: every answer token and `</s>` must be the argmax). The split tells *reading* an object (one-object
scenes) from *picking* the named one among several (2+ objects); `--types` trains and evaluates fewer question types.

    .venv/bin/python bench/small_world_diagnosis.py --mode text   [--llm shipped|fresh] [--steps 600] [--lr 2e-3] [--save-llm DIR]
    .venv/bin/python bench/small_world_diagnosis.py --mode image  [--llm shipped|fresh] [--steps 400] [--lr 1e-3] [--vision DIR] [--llm-dir DIR]
    .venv/bin/python bench/small_world_diagnosis.py --mode oracle --feature-scale 15 [--steps 400] [--lr 1e-3]
    .venv/bin/python bench/small_world_diagnosis.py --mode oracle --llm fresh --feature-scale 15 --types color --steps 2000
    .venv/bin/python bench/small_world_diagnosis.py --mode words --question bare --llm fresh --steps 1000 --save-llm DIR
    .venv/bin/python bench/small_world_diagnosis.py --mode image --question bare --llm-dir DIR --align-steps 250 --steps 500

`--mode words` gives each grid cell one token, the sum of the LLM's own input embeddings of its object's words
("small blue square top left"; empty cells zero): a perfect projector into the LLM's word space. `--question bare`
asks only a shape word that is unique in the scene and wants that object's colour (it implies `--types color`), the
easiest form of picking the named object. `--align-steps N` keeps the LLM frozen for the first N steps while the
projector learns, as LLaVA's stage 1 does.

Each training sequence is one scene with `--turns` short-answer questions in `vicuna_v1` (a multi-turn conversation,
the scene in the first turn); held-out questions come from `make_vqa_eval` on unseen scenes, one per sequence. The LLM
is the shipped nano Llama (`--llm shipped`), another one (`--llm-dir`), or the same architecture freshly initialised
(`--llm fresh`). A model that reads the scene reaches ~1.0 on color/shape/size/position; the question-only prior is
~0.35 overall. `--feature-scale 15` brings the one-hot oracle tokens near the projected size of the tower's features (the script prints
the sizes at the start: rms 0.45 for the scaled oracle, 0.57 for the tower, 0.03 for the word embeddings).
Results are printed and written to bench/results/small_world_diagnosis_<mode>_<llm>.json (or `--out`)."""
from __future__ import annotations

import argparse
import json
import math
import platform
import random
import time
from pathlib import Path

import torch

from llava_nb.smallworld.backbones import nano_backbones
from llava_nb.smallworld.llm import scene_slots
from llava_nb.smallworld.vision import canonical_caption, scene_pixels
from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN, seed_everything
from llava_nb.smallworld.teacher import make_vqa_eval
from llava_nb.data.masking import tokenize_conversation
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.world import COLOURS, GRID, SHAPES, SIZES, context_text, sample_scene, scene_id, scene_rng
from llava_nb.smallworld.symbolic import ASK, QTYPES, parse_context

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Answer the question using a single word or phrase."


def scenes(split: str, n: int) -> list[dict]:
    return [sample_scene(scene_rng(0, split, i), scene_id(i, split)) for i in range(n)]


def conversation(scene: dict, qas: list[tuple[str, str]], mode: str, prompt: str | None = PROMPT) -> list[dict]:
    "`vicuna_v1` turns: the scene (words or `<image>`) in the first, one short-answer question per turn."
    head = canonical_caption(scene) if mode == "text" else IMAGE_TOKEN
    conv = []
    for j, (q, a) in enumerate(qas):
        conv += [{"from": "human", "value": (head + "\n" if j == 0 else "") + q + (f"\n{prompt}" if prompt else "")},
                 {"from": "gpt", "value": a}]
    return conv


def unique_shapes(scene: dict) -> list[dict]:
    "The objects whose shape no other object in the scene has: those a bare shape word names."
    return [o for o in scene["objects"] if sum(x["shape"] == o["shape"] for x in scene["objects"]) == 1]


def bare_qa(scene: dict, rng: random.Random) -> tuple[str, str] | None:
    "The simplest lookup: the bare shape word of an object whose shape is unique in the scene, answered with its colour."
    objs = unique_shapes(scene)
    if not objs: return None   # every shape in the scene is shared: no bare question names one object
    o = rng.choice(objs)
    return o["shape"], o["color"]


def training_qas(scene: dict, rng: random.Random, turns: int, types=QTYPES, bare: bool = False) -> list[tuple[str, str]]:
    "Up to `turns` short-answer questions about `scene`: each of `types` once (all seven: a mix), or drawn with repeats (fewer types)."
    if bare: return [qa for _ in range(turns) if (qa := bare_qa(scene, rng))]
    objs = parse_context(context_text(scene), scene["id"])[1]
    kinds = rng.sample(QTYPES, len(QTYPES)) if tuple(types) == QTYPES else rng.choices(types, k=3 * turns)
    qas = [ASK[t](objs, rng) for t in kinds]
    return [qa for qa in qas if qa][:turns]


def oracle_features(scs: list[dict], dim: int) -> torch.Tensor:
    "Perfect object tokens: one per grid cell (row-major), one-hot shape (or empty), colour, size and cell, zero-padded to `dim`."
    F = torch.zeros(len(scs), GRID * GRID, dim)
    at = len(SHAPES) + 1 + len(COLOURS) + len(SIZES)
    F[:, range(GRID * GRID), range(at, at + GRID * GRID)] = 1.0     # where the token is, as a vision tower's position embedding says
    for i, s in enumerate(scs):
        F[i, :, len(SHAPES)] = 1.0                                  # "empty" unless an object sits there
        for o in s["objects"]:
            c = o["cell"][0] * GRID + o["cell"][1]
            F[i, c, len(SHAPES)] = 0.0
            F[i, c, SHAPES.index(o["shape"])] = 1.0
            F[i, c, len(SHAPES) + 1 + COLOURS.index(o["color"])] = 1.0
            F[i, c, len(SHAPES) + 1 + len(COLOURS) + SIZES.index(o["size"])] = 1.0
    return F


def object_words(scs: list[dict], tok) -> torch.Tensor:
    "Per grid cell (row-major) the token ids of its object's words (`nano_llm.scene_slots`), -1 padded; empty cells all -1."
    slots = [[tok(w, add_special_tokens=False).input_ids if w else [] for w in scene_slots(s)] for s in scs]
    ids = torch.full((len(scs), GRID * GRID, max(len(w) for cells in slots for w in cells)), -1)
    for i, cells in enumerate(slots):
        for c, w in enumerate(cells):
            if w: ids[i, c, :len(w)] = torch.tensor(w)
    return ids


class WordSum(torch.nn.Module):
    "Stands in for the projector in `--mode words`: each cell's token is the sum of the LLM's own embeddings of its object's words."
    def __init__(self, embeddings: torch.nn.Embedding): super().__init__(); self.embeddings = embeddings
    def forward(self, ids): return (self.embeddings(ids.clamp(min=0)) * (ids >= 0).unsqueeze(-1)).sum(-2)


@torch.no_grad()
def scene_tower_features(model: LlavaModel, scs: list[dict]) -> torch.Tensor:
    "(N, P, D_vision) the model's own tower features of the scenes, before the projector."
    return torch.cat([model.image_features(scene_pixels(scs[i:i + 250])) for i in range(0, len(scs), 250)])


def pad(items, pad_id):
    T = max(len(x) for x, _ in items)
    X, Y = torch.full((len(items), T), pad_id), torch.full((len(items), T), IGNORE_INDEX)
    for j, (x, y) in enumerate(items): X[j, :len(x)], Y[j, :len(y)] = torch.tensor(x), torch.tensor(y)
    return X, Y


def forward(model, X, feats=None, labels=None):
    "The LLM on `X` with the projected features (one image per row) at the `<image>` positions."
    is_img = X == model.image_token_id
    emb = model.llm.get_input_embeddings()(X.masked_fill(is_img, 0))
    if feats is not None:
        emb = emb.clone(); emb[is_img] = model.projector(feats).reshape(-1, emb.shape[-1]).to(emb.dtype)
    return model.llm(inputs_embeds=emb, attention_mask=(X != model.tokenizer.pad_token_id).long(), labels=labels)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("text", "image", "oracle", "words"), default="text")
    ap.add_argument("--llm", choices=("shipped", "fresh"), default="shipped")
    ap.add_argument("--steps", type=int, default=600); ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--lr", type=float, default=2e-3); ap.add_argument("--projector-lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=32); ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--train-scenes", type=int, default=3000); ap.add_argument("--test-scenes", type=int, default=200)
    ap.add_argument("--threads", type=int, default=None); ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vision", default=None, help="another vision tower directory (default: the shipped data/nano/vision)")
    ap.add_argument("--llm-dir", default=None, help="another nano LLM directory, e.g. from nano_llm.train_llm (with --llm shipped)")
    ap.add_argument("--feature-scale", type=float, default=1.0, help="multiply the image/oracle features by this")
    ap.add_argument("--save-llm", default=None, help="save the trained LLM and its tokenizer to this directory (e.g. for a later --llm-dir)")
    ap.add_argument("--align-steps", type=int, default=0,
                    help="keep the LLM frozen for the first N steps (only the projector learns, as in stage 1)")
    ap.add_argument("--question", choices=("full", "bare"), default="full",
                    help="bare: just a shape word that is unique in the scene, answered with that object's colour (no prompt)")
    ap.add_argument("--types", default=",".join(QTYPES), help="train and evaluate only these question types (comma-separated)")
    ap.add_argument("--init", type=float, default=None, help="with --llm fresh: the init std (default: the config's initializer_range)")
    ap.add_argument("--out", default=None, help="results JSON (default bench/results/small_world_diagnosis_<mode>_<llm>.json)")
    a = ap.parse_args()
    types = tuple(a.types.split(","))
    if not set(types) <= set(QTYPES): ap.error(f"--types: unknown {sorted(set(types) - set(QTYPES))}; choose from {', '.join(QTYPES)}")
    if a.threads: torch.set_num_threads(a.threads)
    seed_everything(a.seed)
    parts = nano_backbones()
    if a.vision: parts["vision"] = a.vision
    if a.llm_dir: parts["llm"] = a.llm_dir
    model = LlavaModel.from_parts(parts["vision"], parts["llm"], "mlp2x_gelu")
    if a.llm == "fresh" and a.init: model.llm.config.initializer_range = a.init
    if a.llm == "fresh": model.llm.apply(model.llm._init_weights)
    N, tok = model.num_image_tokens, model.tokenizer
    train_sc, test_sc = scenes("diag_train", a.train_scenes), scenes("diag_test", a.test_scenes)
    F_tr = F_te = None
    if a.mode == "image": F_tr, F_te = scene_tower_features(model, train_sc), scene_tower_features(model, test_sc)
    if a.mode == "oracle":
        dim = model.vision_tower.config.hidden_size
        F_tr, F_te = oracle_features(train_sc, dim), oracle_features(test_sc, dim)
        N = F_tr.shape[1]
    if a.mode == "words":
        model.projector = WordSum(model.llm.get_input_embeddings())
        F_tr, F_te = object_words(train_sc, tok), object_words(test_sc, tok); N = F_tr.shape[1]
    if a.mode not in ("image", "oracle") and a.feature_scale != 1: ap.error("--feature-scale scales image or oracle features only")
    if a.mode not in ("image", "oracle") and a.align_steps: ap.error("--align-steps needs a projector to train (--mode image or oracle)")
    if F_tr is not None and a.feature_scale != 1: F_tr, F_te = F_tr * a.feature_scale, F_te * a.feature_scale
    if F_tr is not None:   # the size the LLM sees, next to its word embeddings' (what --feature-scale is for)
        with torch.no_grad(): rms = model.projector(F_tr[:200]).pow(2).mean().sqrt().item()
        print(f"{'scene' if a.mode == 'words' else 'projected image'} tokens: rms {rms:.3f}; word embeddings: rms "
              f"{model.llm.get_input_embeddings().weight.pow(2).mean().sqrt().item():.3f}", flush=True)
    bare, prompt = a.question == "bare", None if a.question == "bare" else PROMPT
    if bare: types = ("color",)
    enc = lambda conv: (lambda t: (t.input_ids, t.labels))(tokenize_conversation(conv, tok, "vicuna_v1", num_image_tokens=N))
    by_id = {s["id"]: i for i, s in enumerate(test_sc)}
    held = [(by_id[q["id"].rsplit("_q", 1)[0]], q) for q in make_vqa_eval(test_sc, seed=a.seed, per_scene=3)
            if q["type"] in types]
    if bare:   # one bare question per held-out scene that has a unique shape
        qrng = random.Random(f"bare/{a.seed}")
        held = [(i, {"question": qa[0], "answer": qa[1], "type": "color"}) for i, s in enumerate(test_sc) if (qa := bare_qa(s, qrng))]
    held_enc = [enc(conversation(test_sc[i], [(q["question"], q["answer"])], a.mode, prompt)) for i, q in held]

    @torch.no_grad()
    def evaluate() -> dict:
        model.eval(); hits = {}
        for s in range(0, len(held), 100):
            X, Y = pad(held_enc[s:s + 100], tok.pad_token_id)
            feats = F_te[[i for i, _ in held[s:s + 100]]] if F_te is not None else None
            with torch.autocast("cpu", torch.bfloat16): pred = forward(model, X, feats).logits[:, :-1].argmax(-1)
            ok = ((pred == Y[:, 1:]) | (Y[:, 1:] == IGNORE_INDEX)).all(1)
            for (i, q), o in zip(held[s:s + 100], ok.tolist()):
                hits.setdefault(q["type"], []).append(o)
                hits.setdefault("one object" if len(test_sc[i]["objects"]) == 1 else "2+ objects", []).append(o)
        model.train()
        every = [o for k, v in hits.items() if k in QTYPES for o in v]
        return {"overall": round(sum(every) / len(every), 3), **{k: round(sum(v) / len(v), 3) for k, v in sorted(hits.items())}}

    model.requires_grad_(False); model.llm.requires_grad_(True); model.projector.requires_grad_(a.mode in ("image", "oracle"))
    groups = [{"params": list(model.llm.parameters()), "lr": a.lr}]
    if a.mode in ("image", "oracle"): groups.append({"params": list(model.projector.parameters()), "lr": a.projector_lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    pool = [i for i, sc in enumerate(train_sc) if not bare or unique_shapes(sc)]   # bare: scenes a shape word can ask about
    peaks, rng, log = [g["lr"] for g in opt.param_groups], random.Random(a.seed), []
    log.append({"step": 0, "seconds": 0.0, **evaluate()}); print(log[-1], flush=True)
    model.train(); t0 = time.perf_counter()
    for step in range(1, a.steps + 1):
        idx = rng.sample(pool, a.batch_size)
        X, Y = pad([enc(conversation(train_sc[i], training_qas(train_sc[i], rng, a.turns, types, bare), a.mode, prompt)) for i in idx],
                   tok.pad_token_id)
        f = min(1.0, step / 20) * 0.5 * (1 + math.cos(math.pi * (step - 1) / a.steps))
        for g, peak in zip(opt.param_groups, peaks): g["lr"] = peak * f
        if step <= a.align_steps: opt.param_groups[0]["lr"] = 0.0   # stage-1-like: only the projector learns
        with torch.autocast("cpu", torch.bfloat16): loss = forward(model, X, F_tr[idx] if F_tr is not None else None, Y).loss
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
        if step % a.eval_every == 0 or step == a.steps:
            log.append({"step": step, "seconds": round(time.perf_counter() - t0, 1), "loss": round(loss.item(), 4), **evaluate()})
            print(log[-1], flush=True)
    if a.save_llm: model.llm.save_pretrained(a.save_llm); model.tokenizer.save_pretrained(a.save_llm)
    out = Path(a.out) if a.out else ROOT / "bench" / "results" / f"small_world_diagnosis_{a.mode}_{a.llm}.json"
    out.write_text(json.dumps({"args": vars(a), "log": log, "machine": {"cpus": torch.get_num_threads(), "torch": torch.__version__,
                                                                        "python": platform.python_version()}}, indent=1))
    print(out)


if __name__ == "__main__":
    main()
