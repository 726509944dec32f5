#!/usr/bin/env python
"""Write the tiny benchmark fixtures (run from the repository: `python data/make_benchmark_fixtures.py [--out DIR]`).

Files in the exact shapes of the published evaluation data, with content written for this project:

- `llava_bench_fixture/`: LLaVA-Bench's `questions.jsonl` (question_id, image, text, category conv/detail/complex),
  `context.jsonl` (per image: the COCO flavour's `captions` + `instances` boxes, or the in-the-wild flavour's
  `caption` description; both appear, one per line), `answers_gpt4.jsonl` (the reference answers: question_id, text,
  answer_id, model_id, metadata) and `images/`. Images 001 and 002 are small-world scenes whose questions and
  reference answers come from the symbolic teacher (so the offline symbolic judge can read them); 003 is a drawn
  picture with hand-written questions, answers and description.
- `scienceqa_fixture/`: ScienceQA's `problems.json` (pid -> question, choices, answer index, hint, image, subject,
  grade, ...), `pid_splits.json` and `images/<split>/<pid>/image.png` for the problems that have one.

Deterministic: running it twice gives the same files (same Pillow version).
"""

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from llava_nb.nanoworld import render_scene, sample_scene
from llava_nb.smallworld_eval import make_bench

HERE = Path(__file__).resolve().parent
CATEGORY = {"conversation": "conv", "detail": "detail", "complex": "complex"}  # our kinds -> LLaVA-Bench's names


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def house_picture() -> Image.Image:
    "A small drawn picture: a house with a red roof on grass, under a yellow sun in a blue sky."
    im = Image.new("RGB", (96, 72), (120, 180, 235))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 52, 95, 71], fill=(70, 160, 60))  # grass
    d.ellipse([70, 6, 88, 24], fill=(250, 215, 40))  # sun
    d.rectangle([22, 34, 54, 58], fill=(160, 110, 70))  # walls
    d.polygon([(18, 35), (38, 18), (58, 35)], fill=(200, 40, 40))  # roof
    d.rectangle([34, 44, 41, 58], fill=(90, 60, 30))  # door
    return im


HOUSE = {
    "caption": "A simple drawing of a small brown house with a red triangular roof and a dark door, standing on green "
    "grass under a clear blue sky. A yellow sun shines in the top right corner. There are no people, animals or "
    "clouds.",
    "questions": [
        ("conv", "What colour is the roof of the house?", "The roof of the house is red."),
        (
            "detail",
            "Describe this picture in detail.",
            "The picture is a simple drawing of a small brown house with a red, triangular roof and a dark brown door. "
            "The house stands on a strip of green grass. Above it is a clear blue sky with a bright yellow sun in the "
            "top right corner. There are no people, animals or clouds in the picture.",
        ),
        (
            "complex",
            "What time of day does it seem to be, and why?",
            "It seems to be daytime: the sun is shining high in a clear blue sky, and the scene is bright, with no "
            "sign of night such as stars, a moon or lit windows.",
        ),
    ],
}


def llava_bench(out: Path) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    rngs = [random.Random(f"llava-bench-fixture/{i}") for i in range(2)]
    scenes = [sample_scene(rng, f"{i + 1:03d}", n_objects=2 + i) for i, rng in enumerate(rngs)]
    questions, contexts, answers = [], [], []
    for s in scenes:
        name = f"{s['id']}.png"
        render_scene(s).save(out / "images" / name)
        instances = [{"category": f"{o['color']} {o['shape']}", "bbox": o["bbox"]} for o in s["objects"]]
        contexts.append({"id": s["id"], "image": name, "captions": s["captions"], "instances": instances})
        for b in make_bench([s], seed=0):
            questions.append({"image": name, "text": b["question"], "category": CATEGORY[b["type"]]})
            answers.append((b["reference"], "symbolic-teacher"))
    house_picture().save(out / "images" / "003.png")
    contexts.append({"id": "003", "image": "003.png", "caption": HOUSE["caption"]})
    for cat, q, a in HOUSE["questions"]:
        questions.append({"image": "003.png", "text": q, "category": cat})
        answers.append((a, "hand-written"))
    questions = [{"question_id": i, **q} for i, q in enumerate(questions)]
    _jsonl(out / "questions.jsonl", questions)
    _jsonl(out / "context.jsonl", contexts)
    refs = [
        {"question_id": q["question_id"], "prompt": q["text"], "text": a, "answer_id": f"ref-{q['question_id']}",
         "model_id": who, "metadata": {}}
        for q, (a, who) in zip(questions, answers)
    ]
    _jsonl(out / "answers_gpt4.jsonl", refs)


def _problem(question, choices, answer, hint, image, subject, grade, topic, split, lecture="", solution=""):
    return {
        "question": question, "choices": choices, "answer": answer, "hint": hint, "image": image,
        "task": "closed choice", "grade": grade, "subject": subject, "topic": topic, "category": topic.title(),
        "skill": topic, "lecture": lecture, "solution": solution, "split": split,
    }


PROBLEMS = {
    "1": _problem("Which is a liquid?", ["a rock", "milk"], 1, "", None, "natural science", "grade4", "chemistry",
                  "train", solution="Milk takes the shape of its container: it is a liquid."),
    "2": _problem("Which month comes right after March?", ["February", "April"], 1,
                  "Ana's birthday is in the month after March.", None, "social science", "grade6", "calendars", "val"),
    "3": _problem("Which ball is larger?", ["the red ball", "the blue ball"], 0, "The picture shows two balls.",
                  "image.png", "natural science", "grade3", "physics", "test",
                  solution="The red ball takes up more space in the picture."),
    "4": _problem("What happened to the water?", ["It boiled.", "It froze.", "It melted."], 1,
                  "Maria put a glass of water in the freezer. The next morning the water was solid.", None,
                  "natural science", "grade5", "physics", "test"),
    "5": _problem("Which direction is the yellow dot from the center of the map?", ["north", "south", "east", "west"],
                  2, "", "image.png", "social science", "grade8", "geography", "test",
                  lecture="On a map, north is up, south is down, east is right and west is left."),
    "6": _problem("Which figure of speech is used?", ["hyperbole", "personification", "onomatopoeia"], 1,
                  "The author writes: 'The wind whispered through the old trees.'", None, "language science",
                  "grade9", "figurative language", "test"),
    "7": _problem("Which word would you find on a dictionary page with the guide words apple - bread?",
                  ["carrot", "banana"], 1, "", None, "language science", "grade2", "reference skills", "test"),
    "8": _problem("What is the capital of France?", ["Lyon", "Marseille", "Paris", "Nice", "Lille"], 2, "", None,
                  "social science", "grade11", "geography", "test"),
}
SPLITS = {"train": ["1"], "val": ["2"], "test": ["3", "4", "5", "6", "7", "8"], "trainval": ["1", "2"],
          "minitrain": ["1"], "minival": ["2"], "minitest": ["3", "4", "5"]}


def balls_picture() -> Image.Image:
    im = Image.new("RGB", (64, 40), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.ellipse([4, 4, 36, 36], fill=(210, 40, 40))
    d.ellipse([44, 20, 56, 32], fill=(40, 70, 210))
    return im


def map_picture() -> Image.Image:
    im = Image.new("RGB", (64, 64), (170, 210, 240))
    d = ImageDraw.Draw(im)
    d.polygon([(8, 20), (30, 6), (56, 16), (58, 46), (30, 58), (6, 44)], fill=(120, 190, 110))  # land
    d.ellipse([46, 28, 54, 36], fill=(250, 215, 40))  # the dot, east of the centre
    d.line([(8, 8), (8, 2)], fill=(0, 0, 0))  # a north arrow in the corner
    d.polygon([(5, 4), (8, 0), (11, 4)], fill=(0, 0, 0))
    return im


def scienceqa(out: Path) -> None:
    for pid, picture in (("3", balls_picture), ("5", map_picture)):
        folder = out / "images" / PROBLEMS[pid]["split"] / pid
        folder.mkdir(parents=True, exist_ok=True)
        picture().save(folder / "image.png")
    (out / "problems.json").write_text(json.dumps(PROBLEMS, indent=1))
    (out / "pid_splits.json").write_text(json.dumps(SPLITS, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE), help="folder to write llava_bench_fixture/ and scienceqa_fixture/ in")
    out = Path(ap.parse_args().out)
    llava_bench(out / "llava_bench_fixture")
    scienceqa(out / "scienceqa_fixture")
