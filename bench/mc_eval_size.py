"""Issue 27: how much of a multiple-choice figure is the draw of its items? The quickstart scored 90 (30 a modality).

The goal (>= 0.90 overall and on image items) was read from 90 items, 30 of them image items: a binomial standard
error of about 0.045 overall and 0.08 on images at 0.75 (`evaluate` now asks 630, 210 a modality). This re-asks
quickstart checkpoints (a run folder: its `stage2/final` and its `data/test` scenes) `--n` items of the same seed
(`make_mc_eval(scenes, seed, n)`, whose first 90 were the quickstart's own), and reports the figure by modality on
all of them and on the first 90, with the spread of 90-item draws (disjoint slices of the `--n`), so that two runs'
figures are read against their noise; the accuracy by the right option's letter (which the replies favour); and of
the wrong colour, shape and size letters, how many name another object in the picture; and the colour and shape items'
accuracy where only the answer is in the picture and where other options are too.

    .venv/bin/python bench/mc_eval_size.py RUN [RUN ...] [--n 630] [--name NAME ...]   # ~10 s a run on 2 cores

Writes bench/results/mc_eval_size.json (one entry per run, named by --name or the folder).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from llava_nb.core import cpu_has_fast_bf16
from llava_nb.eval.metrics import LETTERS, answer_batch, extract_letter, mc_prompt, mc_scores
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.judge import make_mc_eval
from llava_nb.smallworld.symbolic import parse_context
from llava_nb.smallworld.world import context_text, load_world

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mc_eval_size.json"
QUICKSTART_N = 90  # `evaluate`'s n_mc until issue 27's MC figures were read again (now 630)


def _figures(replies: list[str], items: list[dict]) -> dict:
    m = mc_scores(replies, items)
    return {"n": len(items), "all": round(m["accuracy"], 3), **{k: round(v, 3) for k, v in m["by_modality"].items()}}


def _by_letter(replies: list[str], items: list[dict]) -> dict:
    "Accuracy by the right option's letter, and how often each letter is replied: a lookup that favours the first?"
    right, picked = defaultdict(list), Counter(extract_letter(r, it["choices"]) for r, it in zip(replies, items))
    for r, it in zip(replies, items):
        right[it["answer"]].append(extract_letter(r, it["choices"]) == it["answer"])
    rows = sorted(right.items())
    return {L: {"n": len(v), "right": round(sum(v) / len(v), 3), "replied": picked[L]} for L, v in rows}


def _scene_values(scenes: list[dict]):
    "`values(item)`: the values of the item's kind (colours for a colour question) its scene's objects have."
    by_id = {s["id"]: s for s in scenes}

    def values(item: dict) -> set[str]:
        scene = by_id[item["id"].rsplit("_mc", 1)[0]]
        return {o[item["type"]] for o in parse_context(context_text(scene), scene["id"])[1]}

    return values


def _wrong_in_scene(replies: list[str], items: list[dict], scenes: list[dict]) -> dict:
    "Per attribute type: of the wrong letters on image and text items, how many name another object's value."
    values, out = _scene_values(scenes), defaultdict(lambda: [0, 0])
    for r, it in zip(replies, items):
        letter = extract_letter(r, it["choices"])
        if it["modality"] == "none" or it["type"] not in ("color", "shape", "size") or letter in (None, it["answer"]):
            continue
        out[it["type"]][0] += it["choices"][LETTERS.index(letter)] in values(it)
        out[it["type"]][1] += 1
    return {k: {"wrong": n, "naming another object's": hit} for k, (hit, n) in sorted(out.items())}


def _by_options_in_picture(replies: list[str], items: list[dict], scenes: list[dict]) -> dict:
    """Colour and shape items with a picture or text context, by how many of their options are in the scene: the
    accuracy where only the answer is (an option-in-the-picture shortcut suffices) and where others are too."""
    values, out = _scene_values(scenes), defaultdict(list)
    for r, it in zip(replies, items):
        if it["modality"] == "none" or it["type"] not in ("color", "shape"):
            continue
        present = sum(c in values(it) for c in it["choices"])
        out["only the answer" if present == 1 else "the answer and others"].append(
            extract_letter(r, it["choices"]) == it["answer"]
        )
    return {k: {"n": len(v), "right": round(sum(v) / len(v), 3)} for k, v in sorted(out.items())}


def score(run: Path, n: int, seed: int) -> dict:
    "The run's checkpoint on `n` lettered items of its test scenes: all, the quickstart's first 90, 90-item slices."
    model = LlavaModel.from_pretrained(run / "stage2" / "final").eval()
    folder = run / "data" / "test"
    scenes = load_world(folder)
    items = make_mc_eval(scenes, seed, n)
    autocast = "bfloat16" if cpu_has_fast_bf16() else None
    asked = [{**it, "question": mc_prompt(it)} for it in items]
    replies = answer_batch(model, asked, folder, 64, 16, progress=True, desc=run.name, autocast_dtype=autocast)
    cuts = range(0, n - QUICKSTART_N + 1, QUICKSTART_N)
    slices = [_figures(replies[i : i + QUICKSTART_N], items[i : i + QUICKSTART_N]) for i in cuts]
    spread = {k: round(statistics.pstdev(s[k] for s in slices), 3) for k in ("all", "image", "text", "none")}
    return {
        "all items": _figures(replies, items),
        "by the right letter": _by_letter(replies, items),
        "wrong letters in the picture": _wrong_in_scene(replies, items, scenes),
        "colour and shape items by options in the picture": _by_options_in_picture(replies, items, scenes),
        "the quickstart's 90": slices[0],
        "90-item slices": {"count": len(slices), "sd": spread, "all": [s["all"] for s in slices]},
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="quickstart run folders (stage2/final, data/test)")
    ap.add_argument("--n", type=int, default=630, help="items (a multiple of 90 keeps every slice whole)")
    ap.add_argument("--seed", type=int, default=0, help="the quickstart's seed (its items' draw)")
    ap.add_argument("--name", nargs="*", default=None, help="the entries' names (default: the folders)")
    a = ap.parse_args(argv)
    names = a.name or [str(r) for r in a.runs]
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    for name, run in zip(names, a.runs, strict=True):
        results[name] = {"seed": a.seed, **score(Path(run), a.n, a.seed)}
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(name, json.dumps(results[name]), flush=True)
    return results


if __name__ == "__main__":
    main()
