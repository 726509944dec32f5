#!/usr/bin/env python
"""Write the tiny benchmark fixtures (run from the repository: `python data/make_benchmark_fixtures.py [--out DIR]`).

Files in the exact shapes of the published evaluation data, with content written for this project:

- `llava_bench_fixture/`: LLaVA-Bench's `questions.jsonl` (question_id, image, text, category conv/detail/complex),
  `context.jsonl` (per image: the COCO flavour's `captions` + `instances` boxes, or the in-the-wild flavour's
  `caption` description; both appear, one per line), `answers_gpt4.jsonl` (the reference answers: question_id, text,
  answer_id, model_id, metadata) and `images/`. Images 001 and 002 are small-world scenes whose questions and
  reference answers come from the symbolic teacher (so the offline symbolic judge can read them); 003 is a drawn
  picture with hand-written questions, answers and description.
  `rule.json` is the judge's instructions in the shape of LLaVA's `llava/eval/table/rule.json` (one key per
  category: `conv`, `detail`, `complex` for COCO contexts, `llava_bench_conv`, ... for in-the-wild ones, and
  `default`; each `{"role": ..., "prompt": ...}`), with wording written for this project.
- `scienceqa_fixture/`: ScienceQA's `problems.json` (pid -> question, choices, answer index, hint, image, subject,
  grade, ...), `pid_splits.json` and `images/<split>/<pid>/image.png` for the problems that have one. The same
  problems serve both prompt formats (LLaVA-1.5's and LLaVA v1's CQM-A): both are built from these fields.
- `coco_fixture/caps_boxes_fixture.jsonl`: LLaVA's `caps_boxes_coco2014_val_80.jsonl` shape (one image per line:
  `id`, `image`, `captions`, `instances` of `{category, bbox}` with normalised `[x1, y1, x2, y2]`), written from
  the COCO-shaped files beside it (their four captioned images) plus one image of our own with no boxes. The two
  COCO files themselves are hand-written, not made here.

Deterministic: running it twice gives the same files (same Pillow version).
"""

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from llava_nb.datagen.coco import read_coco
from llava_nb.smallworld.world import render_scene, sample_scene
from llava_nb.smallworld.judge import make_bench

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


_RATE = (
    "Rate each answer for helpfulness, relevance, accuracy and level of detail, and give each assistant one overall "
    "score from 1 to 10, higher being better.\nOn the first line write only the two scores, Assistant 1's and then "
    "Assistant 2's, with a space between them.\nFrom the next line on, explain the scores. Judge the content only: "
    "the order in which the answers appear and their length must not change your rating."
)
_IMAGE = "Two AI assistants have answered the user's question above about an image. Neither you nor they can see it; "
_COCO = (
    "what is in it is given as five sentences about it and the box of each object, written (x1, y1, x2, y2) with "
    "numbers from 0 to 1: the left, top, right and bottom edges as fractions of the image's width and height. "
)
_WILD = "what is in it is given as a short description written by a person who saw it. "


def rules() -> dict:
    "The judge's instructions per category, in the shape of LLaVA's rule.json (our own wording)."
    rule = lambda prompt: {"role": "Assistant", "prompt": prompt}
    out = {"default": rule("Two AI assistants have answered the user's question above. " + _RATE)}
    out |= {c: rule(_IMAGE + _COCO + _RATE) for c in CATEGORY.values()}
    out |= {f"llava_bench_{c}": rule(_IMAGE + _WILD + _RATE) for c in CATEGORY.values()}
    return out


def write_rules(path: Path) -> None:
    "One key per line, as LLaVA's own file is laid out."
    body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in rules().items())
    path.write_text("{\n" + body + "\n}\n")


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
    write_rules(out / "rule.json")


NO_BOXES = {
    "id": "000000000555",
    "image": "000000000555.jpg",
    "captions": [
        "A wooden signpost with two arrows at a fork in a forest path.",
        "Two trail signs pointing in different directions among tall trees.",
        "A path splits in two beside a post with painted wooden signs.",
        "Hiking signs on a post at a crossing of two dirt trails.",
        "A quiet woodland crossing marked by an old signpost.",
    ],
    "instances": [],
}


def caps_boxes(out: Path) -> None:
    "LLaVA's caps_boxes JSONL for the COCO fixture's captioned images, and one image without boxes."
    coco = HERE / "coco_fixture"
    scenes, _ = read_coco(coco / "captions_fixture2017.json", coco / "instances_fixture2017.json")
    rows = [{"id": s["id"], "image": s["image"], "captions": s["captions"], "instances": s["objects"]} for s in scenes]
    out.mkdir(parents=True, exist_ok=True)
    _jsonl(out / "caps_boxes_fixture.jsonl", rows + [NO_BOXES])


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
    ap.add_argument("--out", default=str(HERE), help="folder to write the fixture folders in")
    out = Path(ap.parse_args().out)
    llava_bench(out / "llava_bench_fixture")
    scienceqa(out / "scienceqa_fixture")
    caps_boxes(out / "coco_fixture")
