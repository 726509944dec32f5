"""What a checkpoint answers when it misses a held-out question, and whether the frame's words occur in its corpus.

The held-out tables (`llava_nb.smallworld.heldout`) score a type as a whole; this lists each frame's misses with the
reply, so a miss of the wrong *kind* ("Count the triangles." -> "yes") shows apart from a wrong value ("2" for "1"),
and counts how often each word of the frame occurs in the questions of the nano LLM's corpus (`lm_corpus`, seed 0):
a word the LLM never read cannot be followed, a known word in a new place can. Every table of `HELD_OUT_TABLES` is
asked (the third, fourth and fifth only here: the quickstart's summary has the first two), each with its accuracy
by type.

    .venv/bin/python bench/heldout_misses.py [--checkpoint data/nano/llava] [--name shipped]   # ~1 min on 2 cores

Writes bench/results/heldout_misses.json (an entry per --name) and prints the worst frames.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from llava_nb.core import IMAGE_TOKEN, shipped_path
from llava_nb.eval.metrics import answer_batch, exact_match, vqa_scores
from llava_nb.model.hf import load_model
from llava_nb.smallworld.heldout import HELD_OUT_TABLES, frame_pattern, make_heldout_vqa
from llava_nb.smallworld.llm import lm_corpus
from llava_nb.smallworld.world import make_world

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "heldout_misses.json"


def corpus_words(n_scenes: int = 3000, seed: int = 0) -> Counter:
    "How often each word occurs in the human turns of the nano LLM's corpus (its first `n_scenes` scenes)."
    words = Counter()
    for item in lm_corpus(n_scenes, seed):
        for turn in item.get("conversations", [])[::2]:
            words.update(re.findall(r"[a-z]+", turn["value"].split(IMAGE_TOKEN)[-1].lower()))
    return words


def frame_of(question: str, frames: list[str]) -> str:
    "The frame a held-out question was written from (`heldout.frame_pattern`, matched from end to end)."
    return next((f for f in frames if frame_pattern(f).fullmatch(question)), "?")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(shipped_path("nano") / "llava"))
    ap.add_argument("--name", default="shipped")
    ap.add_argument("--n-test", type=int, default=200)
    ap.add_argument("--examples", type=int, default=5, help="misses kept per frame")
    a = ap.parse_args(argv)
    model = load_model(a.checkpoint).eval()
    known = corpus_words()
    entry = {"checkpoint": a.checkpoint, "scores": {}, "tables": {}}
    with tempfile.TemporaryDirectory() as d:
        scenes = make_world(Path(d) / "test", a.n_test, seed=0, split="test")
        for table, (frames, tag, mark) in HELD_OUT_TABLES.items():
            items = make_heldout_vqa(scenes, 0, 3, frames=frames, tag=tag, mark=mark)
            replies = answer_batch(model, items, Path(d) / "test", progress=False)
            scores = vqa_scores(replies, items)
            by_type = {k: round(v, 3) for k, v in scores["by_type"].items()}
            entry["scores"][table] = {"accuracy": round(scores["accuracy"], 3), "by_type": by_type, "n": len(items)}
            rows = defaultdict(lambda: {"n": 0, "right": 0, "misses": []})
            for item, reply in zip(items, replies):
                frame = frame_of(item["question"], frames[item["type"]])
                row = rows[f"{item['type']}: {frame}"]
                row["n"] += 1
                row["right"] += int(exact_match(reply, item["answer"]))
                if not exact_match(reply, item["answer"]) and len(row["misses"]) < a.examples:
                    row["misses"].append([item["question"], item["answer"], reply])
            for key, row in rows.items():
                frame = key.split(": ", 1)[1]
                fixed = re.findall(r"[a-z]+", re.sub(r"\{[a-z0-9_]+\}", " ", frame.lower()))
                row["word counts in the corpus"] = {w: known[w] for w in fixed}
            entry["tables"][table] = dict(sorted(rows.items(), key=lambda kv: kv[1]["right"] / kv[1]["n"]))
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[a.name] = entry
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    for table, rows in entry["tables"].items():
        print(f"## {table}: {entry['scores'][table]}")
        for key, row in list(rows.items())[:6]:
            print(f"{row['right']}/{row['n']}  {key}  {row['word counts in the corpus']}")
            for q, want, got in row["misses"][:3]:
                print(f"      {q!r} {want} -> {got[:50]!r}")
    return entry


if __name__ == "__main__":
    main()
