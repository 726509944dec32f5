"""Instruction data from captions and boxes (llava_nb.datagen.instruct, llava_nb.smallworld.symbolic): determinism, answers checked against
the scene records, parser errors, resume; `llava-nb datagen` on LLaVA's caps_boxes JSONL."""

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from llava_nb.cli import main
from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN, RecordError
from llava_nb.data.records import validate_records
from llava_nb.datagen.instruct import (
    DETAIL_INSTRUCTIONS,
    KINDS,
    Teacher,
    build_messages,
    make_instruct,
    parse_teacher_output,
    plan_kinds,
)
from llava_nb.smallworld.teacher import SymbolicTeacher, make_pretrain, make_vqa_eval
from llava_nb.datagen.teachers import generate_dataset
from llava_nb.data.masking import tokenize_conversation
from llava_nb.smallworld.symbolic import QTYPES, parse_context, question_type
from llava_nb.smallworld.world import (
    COLOURS,
    NUMBER_WORDS,
    POSITIONS,
    SHAPES,
    SIZES,
    cell_of,
    context_text,
    make_scene,
    sample_scene,
)
from llava_nb.tiny import tiny_llama_tokenizer

sys.path.insert(0, str(Path(__file__).parent))
from stub_openai import StubOpenAI  # noqa: E402

SCENES = [sample_scene(i, f"nw_{i:06d}") for i in range(120)]
SOLO = make_scene([{"shape": "star", "color": "white", "size": "small"}], "nw_solo")
TWINS = make_scene(
    [
        {"shape": "circle", "color": "red", "size": "large", "cell": [0, 0]},
        {"shape": "circle", "color": "red", "size": "large", "cell": [2, 2]},
    ],
    "nw_twins",
)
ALL = SCENES + [SOLO, TWINS]


# ---- an independent reader of the questions, working from the scene record (cells, not boxes) ----
def where(o):
    return POSITIONS[o["cell"][0]][o["cell"][1]]


PLURALS = {s + ("es" if s.endswith("s") else "s"): s for s in SHAPES}
_POS = "|".join(sorted({p for row in POSITIONS for p in row}, key=len, reverse=True))


def matching(phrase, objs):
    "Objects matching a noun phrase like 'the large red object in the top left', 'a circle', 'red shapes'."
    phrase = re.sub(r"^(the|a|an) ", "", phrase)
    m = re.match(rf"^(.*?)(?: (?:in|at|on) the ({_POS}))?$", phrase)
    words, pos = m.group(1).split(), m.group(2)
    out = []
    for o in objs:
        ok = pos is None or where(o) == pos
        for w in words:
            if w in SIZES:
                ok &= o["size"] == w
            elif w in COLOURS:
                ok &= o["color"] == w
            elif w in SHAPES or w in PLURALS:
                ok &= o["shape"] == PLURALS.get(w, w)
            else:
                assert w in ("object", "objects", "shape", "shapes"), (w, phrase)
        if ok:
            out.append(o)
    return out


def the(phrase, objs):
    found = matching(phrase, objs)
    assert len(found) == 1, f"{phrase!r} names {len(found)} objects"
    return found[0]


def rel(a, b, r):
    (ra, ca), (rb, cb) = a["cell"], b["cell"]
    return {"left of": ca < cb, "right of": ca > cb, "above": ra < rb, "below": ra > rb}[r]


def expected_answer(q, objs):
    "The right short answer to one of the teacher's questions, computed from the scene record."
    pats = [
        (
            r"^(?:What color is|What is the color of|Which color does) (the .+?)(?: have)?\?$",
            lambda m: the(m[1], objs)["color"],
        ),
        (r"^(?:What shape is|What kind of shape is|Which shape is) (the .+)\?$", lambda m: the(m[1], objs)["shape"]),
        (r"^Is (the .+) (?:large or small|small or large)\?$", lambda m: the(m[1], objs)["size"]),
        (r"^What size is (the .+)\?$", lambda m: the(m[1], objs)["size"]),
        (
            r"^(?:Where is|Where in the image is|In which part of the picture is) (the .+?)\?$",
            lambda m: where(the(m[1], objs)),
        ),
        (
            r"^How many (.+?) (?:are there|are in the image|can you see)(?: in the image)?\?$",
            lambda m: str(len(matching(m[1], objs))),
        ),
        (
            r"^(?:Is there|Can you see|Does the image contain) (an? .+?)(?: in the image)?\?$",
            lambda m: "yes" if matching(m[1], objs) else "no",
        ),
    ]
    if " relative to " in q:
        m = re.match(r"^Where is (the .+) relative to (the .+)\?$", q)
        a, b = the(m[1], objs), the(m[2], objs)
        holds = [r for r in ("left of", "right of", "above", "below") if rel(a, b, r)]
        assert len(holds) == 1, q
        return holds[0]
    m = re.match(
        r"^Is (the .+?) (to the left of|to the right of|above|below) or "
        r"(to the left of|to the right of|above|below) (the .+)\?$",
        q,
    )
    if m:
        a, b = the(m[1], objs), the(m[4], objs)
        r1, r2 = (x.replace("to the ", "") for x in (m[2], m[3]))
        assert rel(a, b, r1) != rel(a, b, r2), q
        return r1 if rel(a, b, r1) else r2
    m = re.match(r"^Is (the .+?) (to the left of|to the right of|above|below) (the .+)\?$", q)
    if m:
        return "yes" if rel(the(m[1], objs), the(m[3], objs), m[2].replace("to the ", "")) else "no"
    for pat, fn in pats:
        m = re.match(pat, q)
        if m:
            return fn(m)
    raise AssertionError(f"unknown question form: {q!r}")


# ---- determinism ----
def test_deterministic_by_seed():
    a, b, c = (make_instruct(SCENES, SymbolicTeacher(), seed=s) for s in (0, 0, 1))
    assert a == b and a != c
    assert make_pretrain(SCENES, seed=3) == make_pretrain(SCENES, seed=3) != make_pretrain(SCENES, seed=4)
    assert make_vqa_eval(SCENES, seed=3) == make_vqa_eval(SCENES, seed=3) != make_vqa_eval(SCENES, seed=4)


def test_teacher_does_not_depend_on_call_order():
    t = SymbolicTeacher()
    ctx = [context_text(s) for s in SCENES[:10]]
    first = [t.generate(c, "conversation", seed=5) for c in ctx]
    assert [t.generate(c, "conversation", seed=5) for c in ctx[::-1]][::-1] == first


def test_mix_and_ids():
    recs = make_instruct(SCENES[:30], SymbolicTeacher(), mix={"conversation": 1}, per_scene=2)
    assert Counter(r["type"] for r in recs) == {"conversation": 60}
    assert len({r["id"] for r in recs}) == 60
    assert Counter(plan_kinds(9, {"conversation": 1, "detail": 1, "complex": 1})) == {k: 3 for k in KINDS}
    with pytest.raises(ValueError, match="must be a finite number"):
        plan_kinds(3, {"detail": -1})
    with pytest.raises(ValueError, match="duplicate scene ids"):
        make_instruct([SOLO, SOLO], SymbolicTeacher())


# ---- answers consistent with the scene ----
def test_conversation_answers_match_scene():
    seen = Counter()
    for s in ALL:
        for seed in range(3):
            for q, a, qt in SymbolicTeacher(seed).conversation(
                parse_context(context_text(s))[1], random.Random(f"{seed}/{s['id']}")
            ):
                assert expected_answer(q, s["objects"]) == a, (s["id"], q, a)
                assert question_type(q) == qt, q
                seen[qt, a if a in ("yes", "no") else ""] += 1
    assert {qt for qt, _ in seen} == set(QTYPES)
    assert seen["existence", "yes"] > 10 and seen["existence", "no"] > 10


def test_instruct_records_consistent():
    for r, s in zip(make_instruct(ALL, SymbolicTeacher(), mix={"conversation": 1}), ALL):
        conv = r["conversations"]
        assert conv[0]["value"].startswith(IMAGE_TOKEN + "\n") and r["image"] == s["image"]
        assert len(r["qtypes"]) == len(conv) // 2 and "other" not in r["qtypes"]
        for q, a in zip(conv[::2], conv[1::2]):
            assert expected_answer(q["value"].replace(IMAGE_TOKEN + "\n", ""), s["objects"]) == a["value"]


def test_count_answers_equal_number_of_objects():
    for s in ALL:
        for q in make_vqa_eval([s], per_scene=len(QTYPES)):
            if q["question"] in (
                "How many objects are there?",
                "How many shapes are in the image?",
                "How many objects can you see?",
            ):
                assert q["answer"] == str(len(s["objects"]))


def test_detail_mentions_every_object_and_the_count():
    for r, s in zip(make_instruct(ALL, SymbolicTeacher(), mix={"detail": 1}), ALL):
        assert r["conversations"][0]["value"].split("\n", 1)[1] in DETAIL_INSTRUCTIONS
        text = r["conversations"][1]["value"]
        n = len(s["objects"])
        assert (NUMBER_WORDS[n] in text) if n > 1 else ("single object" in text or "only one object" in text)
        for o in s["objects"]:
            assert re.search(
                rf"{o['size']} {o['color']} {o['shape']}[^.]* the {where(o)}[.,]"
                rf"|the {where(o)}, there is a {o['size']} {o['color']} {o['shape']}",
                text,
            ), (text, o)


def test_complex_answers_match_scene():
    import math

    checked = Counter()
    recs = make_instruct(ALL, SymbolicTeacher(), mix={"complex": 1}, seed=2, per_scene=2)
    for r, s in zip(recs, [s for s in ALL for _ in range(2)]):
        objs = s["objects"]
        for q, a in zip(r["conversations"][::2], r["conversations"][1::2]):
            q, a = q["value"].replace(IMAGE_TOKEN + "\n", ""), a["value"]
            if m := re.match(
                r"^(?:If all the (.+) were removed, how many shapes would remain"
                r"|How many shapes would be left if the (.+) were taken away)\?$",
                q,
            ):
                assert a.startswith(f"{len(objs) - len(matching(m[1] or m[2], objs))}."), (q, a)
                checked["remove"] += 1
            elif m := re.match(r"^Are there more (\w+) shapes than (\w+) shapes\?$", q):
                more = len(matching(m[1], objs)) > len(matching(m[2], objs))
                assert a.startswith("Yes." if more else "No."), (q, a)
                checked["more"] += 1
            elif m := re.match(r"^Which object is closest to the (.+) corner, and what (\w+) is it\?$", q):
                pt = (float("right" in m[1]), float("bottom" in m[1]))
                o = min(
                    objs,
                    key=lambda o: math.dist(((o["bbox"][0] + o["bbox"][2]) / 2, (o["bbox"][1] + o["bbox"][3]) / 2), pt),
                )
                assert f"so it is {'a ' if m[2] == 'shape' else ''}{o[m[2]]}." in a, (q, a)
                checked["corner"] += 1
            elif q.startswith("Do any two objects have the same"):
                key = "color" if "color" in q else "shape"
                shared = [v for v, k in Counter(o[key] for o in objs).items() if k > 1]
                assert a.startswith("Yes" if shared else "No"), (q, a)
                checked["same"] += 1
            else:
                assert re.match(r"^Which object is the (leftmost|rightmost|highest|lowest) one", q), q
                checked["extreme"] += 1
    assert set(checked) == {"remove", "more", "corner", "same", "extreme"}


def test_vqa_eval_shape_balance_and_answers():
    vqa = make_vqa_eval(SCENES, per_scene=3)
    assert len(vqa) == 3 * len(SCENES) and len({r["id"] for r in vqa}) == len(vqa)
    by_id = {s["id"]: s for s in SCENES}
    counts = Counter(r["type"] for r in vqa)
    assert set(counts) == set(QTYPES) and max(counts.values()) - min(counts.values()) <= 0.2 * max(counts.values())
    for r in vqa:
        assert set(r) == {"id", "image", "question", "answer", "type"}
        assert len(r["answer"].split()) <= 2 and question_type(r["question"]) == r["type"]
        assert expected_answer(r["question"], by_id[r["id"].rsplit("_q", 1)[0]]["objects"]) == r["answer"]


def test_pretrain_shape():
    for r, s in zip(make_pretrain(SCENES), SCENES):
        h, g = r["conversations"]
        assert h["value"].startswith(IMAGE_TOKEN + "\n") or h["value"].endswith("\n" + IMAGE_TOKEN)
        assert g["value"] in s["captions"] and r["image"] == s["image"]
    assert len({r["conversations"][0]["value"] for r in make_pretrain(SCENES)}) > 8


# ---- loader and masking accept the output ----
def test_outputs_validate_and_tokenize():
    data = make_instruct(SCENES[:60], SymbolicTeacher()) + make_pretrain(SCENES[:20])
    records, summary = validate_records(data)
    assert summary.skipped == 0 and len(records) == len(data)
    tok = tiny_llama_tokenizer()
    for rec in records:
        t = tokenize_conversation(rec, tok, "vicuna_v1")
        trained = tok.decode([i for i, l in zip(t.input_ids, t.labels) if l != IGNORE_INDEX])
        for turn in rec.conversations[1::2]:
            assert turn["value"] in trained


# ---- prompts and backends ----
def test_messages():
    ctx = context_text(SCENES[0])
    conv, det = build_messages(ctx, "conversation"), build_messages(ctx, "detail")
    assert conv[0]["role"] == "system" and conv[-1]["role"] == "user" and len(conv) % 2 == 0
    assert "[" not in conv[-1]["content"] and conv[-1]["content"] == ctx.split("\n\n")[0]
    assert det[-1]["content"] == ctx
    # every hand-written example parses, and the example conversations are right about their contexts
    for kind in KINDS:
        msgs = build_messages(ctx, kind, boxes=True)
        for c, m in zip(msgs[1:-1:2], msgs[2:-1:2]):
            turns = parse_teacher_output(m["content"], kind, "example")
            objs = [dict(o, cell=list(cell_of(o["bbox"]))) for o in parse_context(c["content"])[1]]
            if kind == "conversation":
                for q, a in zip(turns[::2], turns[1::2]):
                    assert expected_answer(q["value"], objs) == a["value"], q


def test_llm_seams():
    class Canned(Teacher):
        name = "canned"

        def chat(self, messages, seed=None):
            self.last = messages
            return (
                "Question: How many objects are there?\nAnswer: 1"
                if "Answer with a single" in messages[0]["content"]
                else "A thing."
            )

    t = Canned()
    with pytest.raises(RecordError, match="record nw_solo: the scene has no 'context'"):
        make_instruct([SOLO], t, mix={"conversation": 1})  # an LLM teacher reads a context, never a scene's objects
    recs = make_instruct([{**SOLO, "context": context_text(SOLO)}], t, mix={"conversation": 1})
    assert recs[0]["conversations"][1]["value"] == "1"
    assert "qtypes" not in recs[0]  # the core does not type questions; the small world's teacher does
    assert t.last[-1]["content"] == SOLO["captions"][0] + "\n" + "\n".join(SOLO["captions"][1:])


# ---- malformed teacher output ----
@pytest.mark.parametrize(
    "text,kind,msg",
    [
        ("", "conversation", "record nw_9: empty teacher output"),
        (
            "Question: How many?\n===\nQuestion: Where?\nAnswer: top",
            "conversation",
            "record nw_9, turn 0: question has no 'Answer:'",
        ),
        (
            "Question: How many?\nAnswer: 2\n===\nQuestion: Where?",
            "conversation",
            "record nw_9, turn 2: the last question has no 'Answer:'",
        ),
        ("Question:\nAnswer: 2", "complex", "record nw_9, turn 0: empty question"),
        ("Question: How many?\nAnswer:\n===\nQuestion: Q\nAnswer: A", "complex", "record nw_9, turn 1: empty answer"),
        ("Answer: 2\nQuestion: How many?", "conversation", "record nw_9, turn 0: 'Answer:' without a 'Question:'"),
        (
            "Here are some questions.\nQuestion: Q\nAnswer: A",
            "conversation",
            "record nw_9: text before the first 'Question:'",
        ),
        ("I cannot see images.", "complex", "record nw_9: no 'Question:' block"),
        ("Question: Q\nAnswer: A", "detail", "record nw_9: a detailed description must be one answer"),
        ("Answer:   ", "detail", "record nw_9, turn 1: empty answer"),
        ("Question: Q\nAnswer: A", "poem", "unknown instruction kind"),
        (
            "I'm sorry, but I can't help with that.",
            "conversation",
            "record nw_9: the teacher refused (\"I'm sorry\" ...)",
        ),
        (
            "As an AI language model, I cannot see images.",
            "detail",
            "record nw_9: the teacher refused ('As an AI' ...)",
        ),
        ("Question: Q?\nAnswer: I\u2019m sorry, I cannot tell.", "complex", "record nw_9, turn 1: the teacher refused"),
    ],
)
def test_parser_errors(text, kind, msg):
    with pytest.raises((RecordError, ValueError)) as e:
        parse_teacher_output(text, kind, "nw_9")
    assert msg in str(e.value)


def test_parser_accepts_both_layouts():
    a = parse_teacher_output("Question: Q1\nAnswer: A1\n===\nQuestion: Q2\nAnswer: A2 line\nmore", "conversation", "s")
    b = parse_teacher_output(
        "Question:\nQ1\n===\nAnswer:\nA1\n===\nQuestion:\nQ2\n===\nAnswer:\nA2 line\nmore\n", "conversation", "s"
    )
    assert a == b and a[3]["value"] == "A2 line\nmore"


def test_bad_context_names_the_scene():
    bad = dict(SOLO, objects=[dict(SOLO["objects"][0], color="pink")])
    with pytest.raises(RecordError, match="record nw_solo: context line 6: unknown category 'pink star'"):
        make_instruct([bad], SymbolicTeacher(), mix={"detail": 1})


# ---- the resumable writer ----
class Counting(SymbolicTeacher):
    def __init__(self, fail_on=()):
        super().__init__()
        self.calls, self.fail_on = [], set(fail_on)

    def generate(self, context, kind, seed=None):
        self.calls.append(context)
        return "Question: Q" if any(f in context for f in self.fail_on) else super().generate(context, kind, seed)


def test_resume_after_interruption(tmp_path):
    scenes, out = SCENES[:24], tmp_path / "instruct.json"
    full, summary = generate_dataset(scenes, Counting(), out, progress=False)
    assert full == make_instruct(scenes, SymbolicTeacher()) and json.loads(out.read_text()) == full
    assert summary.skipped == 0
    assert not out.with_suffix(".jsonl").exists()
    out.unlink()
    # a run killed after 10 records, in the middle of writing the 11th line
    log = out.with_suffix(".jsonl")
    meta = {"teacher": "symbolic", "seed": 0, "mix": {k: 1 for k in KINDS}, "per_scene": 1, "llava_shape": False}
    log.write_text(
        json.dumps({"_meta": meta})
        + "\n"
        + "".join(json.dumps(r) + "\n" for r in full[:10])
        + json.dumps(full[10])[:37]
    )
    t = Counting()
    resumed, _ = generate_dataset(scenes, t, out, progress=False)
    assert resumed == full and json.loads(out.read_text()) == full
    assert len(t.calls) == 14  # only the 14 records not in the log


def test_resume_refuses_other_settings(tmp_path):
    out = tmp_path / "instruct.json"
    out.with_suffix(".jsonl").write_text(json.dumps({"_meta": {"teacher": "symbolic", "seed": 7}}) + "\n")
    with pytest.raises(ValueError, match="delete it to start over"):
        generate_dataset(SCENES[:3], SymbolicTeacher(), out, progress=False)
    out.with_suffix(".jsonl").write_text("{broken\n{\"id\": 1}\n")
    with pytest.raises(ValueError, match="line 1: not JSON"):
        generate_dataset(SCENES[:3], SymbolicTeacher(), out, progress=False)


def test_skip_malformed_then_retry(tmp_path):
    scenes, out = SCENES[:12], tmp_path / "instruct.json"
    bad = {context_text(s).split("\n")[0] for s in scenes[:3]}
    recs, summary = generate_dataset(
        scenes, Counting(fail_on=bad), out, mix={"conversation": 1}, on_error="skip", progress=False
    )
    assert summary.skipped == 3 and len(recs) == 9 and out.with_suffix(".jsonl").exists()
    assert "nw_000000" in str(summary)
    t = Counting()
    recs, summary = generate_dataset(scenes, t, out, mix={"conversation": 1}, progress=False)
    assert len(recs) == 12 and summary.skipped == 0 and len(t.calls) == 3
    with pytest.raises(RecordError, match="record nw_000000, turn 0: the last question"):
        out.with_suffix(".jsonl").unlink(missing_ok=True)
        out.unlink()
        generate_dataset(scenes, Counting(fail_on=bad), out, mix={"conversation": 1}, progress=False)


# ---- `llava-nb datagen` on LLaVA's caps_boxes JSONL (told from COCO's captions file by its content) ----
COCO = Path(__file__).resolve().parents[1] / "data" / "coco_fixture"
CAPS_BOXES = COCO / "caps_boxes_fixture.jsonl"


def teacher_reply(body) -> str:
    "Question/answer blocks for conversations, one paragraph for descriptions; about the first caption it was shown."
    first = body["messages"][-1]["content"].splitlines()[0]
    system = body["messages"][0]["content"]
    qa = f"Question: What does the image show?\nAnswer: {first}"
    return first if "Describe the image in detail" in system else qa


def datagen_args(url, out, kind, *source):
    return ["datagen", *source, "--kind", kind, "--teacher", "openai", "--base-url", url, "--model", "m",
            "--out", str(out), "--no-progress"]  # fmt: skip


@pytest.mark.parametrize("kind", ["conversation", "detail"])
def test_cli_datagen_reads_llava_caps_boxes_jsonl(tmp_path, kind):
    rows = [json.loads(line) for line in CAPS_BOXES.read_text().splitlines()]
    with StubOpenAI(reply=teacher_reply) as s:
        assert main(datagen_args(s.url, tmp_path / "o.json", kind, "--coco-captions", str(CAPS_BOXES))) == 0
        shown = {b["messages"][-1]["content"].splitlines()[0]: b["messages"][-1]["content"] for b in s.requests}
        coco = ["--coco-captions", str(COCO / "captions_fixture2017.json"), "--coco-instances",
                str(COCO / "instances_fixture2017.json")]  # fmt: skip
        assert main(datagen_args(s.url, tmp_path / "c.json", kind, *coco)) == 0
        shown_coco = {b["messages"][-1]["content"].splitlines()[0]: b["messages"][-1]["content"] for b in s.requests}
    recs = json.loads((tmp_path / "o.json").read_text())
    assert [(r["id"], r["image"]) for r in recs] == [(r["id"], r["image"]) for r in rows]
    assert validate_records(recs)[1].skipped == 0 and recs[0]["conversations"][0]["value"].startswith(IMAGE_TOKEN)
    dog, sign = rows[0], rows[4]
    boxes = "dog: [0.1, 0.1, 0.6, 0.6]\nfrisbee: [0.47, 0.251, 0.532, 0.313]\nperson: [0.75, 0.417, 0.906, 0.896]\n"
    boxes += "bench: [0.656, 0.625, 1.0, 0.875]"
    if kind == "detail":  # the teacher sees LLaVA's context: captions, a blank line, the boxes as Python prints them
        assert shown[dog["captions"][0]] == "\n".join(dog["captions"]) + "\n\n" + boxes
        assert shown[sign["captions"][0]] == "\n".join(sign["captions"]) + "\n\n"  # no boxes: the blank line stays
    else:  # conversations are written from the captions alone
        assert shown[dog["captions"][0]] == "\n".join(dog["captions"])
    assert all(shown[k] == v for k, v in shown_coco.items())  # COCO's two files give the same text


def test_cli_datagen_caps_boxes_errors_name_file_and_line(tmp_path, capsys):
    lines = CAPS_BOXES.read_text().splitlines()
    bad = tmp_path / "cb.jsonl"
    bad.write_text(lines[0] + "\n" + json.dumps({"id": "7", "image": "7.jpg", "instances": []}) + "\n")
    url = "http://127.0.0.1:9/v1"  # never reached: the input is refused first
    assert main(datagen_args(url, tmp_path / "o.json", "detail", "--coco-captions", str(bad))) == 2
    assert "cb.jsonl line 2: no captions" in capsys.readouterr().err
    bad.write_text(lines[0] + "\n" + json.dumps({"image": "7.jpg", "captions": ["A cat."], "instances": [{}]}) + "\n")
    assert main(datagen_args(url, tmp_path / "o.json", "detail", "--coco-captions", str(bad))) == 2
    assert "cb.jsonl line 2: instance 0 should be" in capsys.readouterr().err
    inst = ["--coco-instances", str(COCO / "instances_fixture2017.json")]
    assert main(datagen_args(url, tmp_path / "o.json", "detail", "--coco-captions", str(CAPS_BOXES), *inst)) == 2
    assert "caps_boxes JSONL): drop instances" in capsys.readouterr().err
    caps = ["--coco-captions", str(COCO / "captions_fixture2017.json")]
    assert main(datagen_args(url, tmp_path / "o.json", "complex", *caps)) == 2
    assert "has captions only; the boxes are in instances_*.json: give --coco-instances too" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
