"""Anyres (LLaVA-1.6 dynamic high resolution) on the small world at two resolutions.

Two worlds of 2-4 objects with distinct colours:
  - `base`: ordinary 72 x 72 px scenes, the nano tower's own input size (24 px cells, one patch per object);
  - `high`: wide (144 x 72) or high (72 x 144) scenes made of two 72 px boards side by side, objects still in 24 px
    cells: twice the base resolution. `pad` shrinks them to 72 px (12 px objects, two per patch); `anyres` cuts them
    into 1x2 or 2x1 tiles at the tower's own scale, after a squashed global view.

For each world and image mode the shipped nano LLaVA (`data/nano/llava`, trained in `pad` mode on 72 px scenes) is
trained further on the same short-answer conversations through `llava_nb.train.loop.train` (projector + LLM, the nano
stage-2 preset, no feature cache), then answers held-out questions greedily. The questions need the small objects:
the shape or size of "the <colour> object", whether "a <colour> <shape>" is there (absent ones share a present
colour), and how many objects there are. Reported: accuracy by type, image tokens per image, seconds per optimizer
step, wall time.

    OMP_NUM_THREADS=1 .venv/bin/python bench/anyres_smallworld.py            # ~10-15 min on one CPU core
    .venv/bin/python bench/anyres_smallworld.py --quick                      # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from llava_nb.data.anyres import AnyresImages
from llava_nb.datagen.instruct import SHORT_ANSWER_PROMPT
from llava_nb.eval.metrics import exact_match
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.world import COLOURS, IMAGE_SIZE, SHAPES, SIZES, make_scene, render_scene
from llava_nb.train.loop import train
from llava_nb.train.config import get_preset

ROOT = Path(__file__).resolve().parents[1]
CKPT = ROOT / "data" / "nano" / "llava"
S = IMAGE_SIZE  # 72: the nano tower's input side, one tile
PINPOINTS = [[S, S], [S, 2 * S], [2 * S, S], [2 * S, 2 * S]]  # 1x1, 1x2, 2x1, 2x2 tiles


def _objects(rng: random.Random, n: int) -> list[dict]:
    return [{"shape": rng.choice(SHAPES), "color": c, "size": rng.choice(SIZES)} for c in rng.sample(COLOURS, n)]


def make_image(rng: random.Random, world: str) -> tuple[Image.Image, list[dict], str]:
    "A picture of `world` ('base' or 'high'), its objects and its layout ('square', 'wide' or 'high')."
    objs = _objects(rng, rng.randint(2, 4))
    if world == "base":
        return render_scene(make_scene(objs, rng=rng)), objs, "square"
    k = rng.randint(1, len(objs) - 1)  # objects on the first board; the rest on the second
    boards = [render_scene(make_scene(part, rng=rng)) for part in (objs[:k], objs[k:])]
    layout = rng.choice(("wide", "high"))
    canvas = Image.new("RGB", (2 * S, S) if layout == "wide" else (S, 2 * S))
    for i, b in enumerate(boards):
        canvas.paste(b, (i * S, 0) if layout == "wide" else (0, i * S))
    return canvas, objs, layout


def questions(objs: list[dict], rng: random.Random) -> list[tuple[str, str, str]]:
    "(type, question, answer): four questions that need the objects themselves, not just their colours."
    a, b = rng.choice(objs), rng.choice(objs)
    if rng.random() < 0.5:
        exists = (f"Is there a {a['color']} {a['shape']} in the image?", "yes")
    else:  # a colour that is there, on another shape
        exists = (f"Is there a {a['color']} {rng.choice([s for s in SHAPES if s != a['shape']])} in the image?", "no")
    return [
        ("shape", f"What shape is the {a['color']} object?", a["shape"]),
        ("size", f"Is the {b['color']} object large or small?", b["size"]),
        ("existence", *exists),
        ("count", "How many objects are there?", str(len(objs))),
    ]


def make_split(folder: Path, world: str, n: int, seed: int) -> list[dict]:
    "`n` pictures written to `folder/images`, with their questions."
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng, items = random.Random(f"anyres/{world}/{seed}"), []
    for i in range(n):
        img, objs, layout = make_image(rng, world)
        name = f"images/{world}_{seed}_{i:05d}.png"
        img.save(folder / name)
        items.append({"id": f"{world}_{seed}_{i}", "image": name, "layout": layout, "qa": questions(objs, rng)})
    return items


def to_records(items: list[dict], rng: random.Random) -> list[dict]:
    "One conversation per picture: its four questions in a random order, each answered with one word."
    out = []
    for it in items:
        conv = []
        for _, q, a in rng.sample(it["qa"], len(it["qa"])):
            prefix = "<image>\n" if not conv else ""
            conv += [{"from": "human", "value": f"{prefix}{q}\n{SHORT_ANSWER_PROMPT}"}, {"from": "gpt", "value": a}]
        out.append({"id": it["id"], "image": it["image"], "conversations": conv})
    return out


def load_model(mode: str) -> LlavaModel:
    "The shipped nano LLaVA; for anyres, the same weights with a fresh newline embedding."
    base = LlavaModel.from_pretrained(CKPT, dtype=torch.float32)
    if mode == "pad":
        return base
    cfg = replace(base.config, image_mode="anyres", image_grid_pinpoints=PINPOINTS)
    model = LlavaModel(cfg, base.vision_tower, base.image_processor, base.llm, base.tokenizer)
    missing = model.projector.load_state_dict(base.projector.state_dict(), strict=False).missing_keys
    assert missing == ["image_newline"], missing
    return model


@torch.no_grad()
def evaluate(model: LlavaModel, items: list[dict], folder: Path, batch: int = 32) -> dict:
    "Greedy short answers to every held-out question; accuracy overall, by type and by layout."
    model.eval()
    proc, stop = model.processor, model.processor.stop_strings()
    asks = [(it, t, q, a) for it in items for t, q, a in it["qa"]]
    right = []
    for s in range(0, len(asks), batch):
        chunk = asks[s : s + batch]
        inputs = [proc(f"{q}\n{SHORT_ANSWER_PROMPT}", folder / it["image"]) for it, _, q, _ in chunk]
        px = [x["pixel_values"] for x in inputs]
        pixels = AnyresImages.cat(px) if isinstance(px[0], AnyresImages) else torch.cat(px)
        gen = model.generate(
            [x["input_ids"][0] for x in inputs],
            pixel_values=pixels,
            image_counts=[1] * len(chunk),
            max_new_tokens=4,
            stop=stop,
        )
        right += [exact_match(text, a) for text, (_, _, _, a) in zip(gen.texts, chunk)]
    by = lambda key: {
        k: round(statistics.mean(r for r, x in zip(right, asks) if key(x) == k), 3) for k in sorted({key(x) for x in asks})
    }
    return {"accuracy": round(statistics.mean(right), 3), "by_type": by(lambda x: x[1]), "by_layout": by(lambda x: x[0]["layout"])}


def image_tokens(model: LlavaModel, items: list[dict], folder: Path) -> float:
    "Mean image tokens per picture of `items` for `model`."
    if model.anyres is None:
        return float(model.num_image_tokens)
    sizes = [Image.open(folder / it["image"]).size[::-1] for it in items]
    return statistics.mean(model.anyres.num_tokens(s) for s in sizes)


def run(world: str, mode: str, args, root: Path) -> dict:
    folder = root / world
    train_items, test_items = json.loads((folder / "train.json").read_text()), json.loads((folder / "test.json").read_text())
    model = load_model(mode)
    cfg = get_preset(
        "nano",
        2,
        data_path=str(folder / "records.json"),
        image_folder=str(folder),
        output_dir=str(root / f"run_{world}_{mode}"),
        cache_features=False,
        image_mode=mode,
        image_grid_pinpoints=PINPOINTS if mode == "anyres" else None,
        max_steps=args.steps,
        batch_size=args.batch_size,
        progress=False,
        seed=args.seed,
    )
    before = evaluate(model, test_items, folder) if args.eval_before else None
    t0 = time.perf_counter()
    res = train(cfg, model=model)
    wall = time.perf_counter() - t0
    after = evaluate(res.model, test_items, folder)
    out = {
        "world": world,
        "mode": mode,
        "image_tokens_per_image": round(image_tokens(res.model, test_items, folder), 1),
        "steps": res.steps,
        "batch_size": args.batch_size,
        "seconds_per_step": round(res.wall_seconds / res.steps, 3),
        "train_samples_per_second": round(res.samples_per_second, 1),
        "train_tokens_per_second": round(res.tokens_per_second, 0),
        "final_loss": round(res.final_loss, 4),
        "wall_seconds_with_eval": round(time.perf_counter() - t0, 1),
        "train_wall_seconds": round(wall, 1),
        "before": before,
        "after": after,
        "n_train_images": len(train_items),
        "n_test_questions": sum(len(it["qa"]) for it in test_items),
    }
    print(json.dumps({k: out[k] for k in ("world", "mode", "image_tokens_per_image", "seconds_per_step")} | {"after": after}), flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", default="high,base")
    p.add_argument("--modes", default="pad,anyres")
    p.add_argument("--train-images", type=int, default=800)
    p.add_argument("--test-images", type=int, default=120)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-before", action="store_true", help="also score the shipped model before training")
    p.add_argument("--quick", action="store_true", help="a smoke run: few images and steps")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "anyres_smallworld.json"))
    args = p.parse_args(argv)
    if args.quick:
        args.train_images, args.test_images, args.steps, args.batch_size = 16, 4, 2, 4
    torch.manual_seed(args.seed)
    t0, results = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="anyres_sw_") as tmp:
        root = Path(tmp)
        for world in args.worlds.split(","):
            folder = root / world
            train_items = make_split(folder, world, args.train_images, args.seed)
            test_items = make_split(folder, world, args.test_images, args.seed + 1000)
            (folder / "train.json").write_text(json.dumps(train_items))
            (folder / "test.json").write_text(json.dumps(test_items))
            records = to_records(train_items, random.Random(args.seed))
            (folder / "records.json").write_text(json.dumps(records))
            for mode in args.modes.split(","):
                results.append(run(world, mode, args, root))
    report = {
        "command": "OMP_NUM_THREADS=1 .venv/bin/python bench/anyres_smallworld.py"
        + (" --quick" if args.quick else "")
        + (f" --steps {args.steps}" if args.steps != 100 and not args.quick else ""),
        "pinpoints": PINPOINTS,
        "threads": torch.get_num_threads(),
        "total_wall_seconds": round(time.perf_counter() - t0, 1),
        "runs": results,
    }
    if not args.quick:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"total_wall_seconds": report["total_wall_seconds"]}))
    return report


if __name__ == "__main__":
    main()
