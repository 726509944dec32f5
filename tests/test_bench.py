"Smoke tests of the benchmark scripts whose figures the README quotes: they must run, and what they feed the model must be right."
import json
import tempfile
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from small_world_diagnosis import WordSum, bare_qa, object_words, oracle_features, scenes, training_qas  # noqa: E402

import random  # noqa: E402

from llava_nb.smallworld.world import COLOURS, GRID, SHAPES, SIZES  # noqa: E402
from llava_nb.smallworld.backbones import nano_backbones  # noqa: E402
from llava_nb.smallworld.symbolic import QTYPES, question_type  # noqa: E402


def test_oracle_tokens_hold_each_cell_exactly():
    scs = scenes("diag_test", 20)
    F = oracle_features(scs, 128)
    assert F.shape == (20, GRID * GRID, 128)
    n_shape, n_col, n_size = len(SHAPES) + 1, len(COLOURS), len(SIZES)
    at = n_shape + n_col + n_size
    assert (F[:, :, at:at + GRID * GRID].argmax(-1) == torch.arange(GRID * GRID)).all()   # cell one-hot
    assert (F[:, :, :n_shape].sum(-1) == 1).all() and (F[:, :, at + GRID * GRID:] == 0).all()
    for s, f in zip(scs, F):
        by_cell = {o["cell"][0] * GRID + o["cell"][1]: o for o in s["objects"]}
        for c in range(GRID * GRID):
            o = by_cell.get(c)
            if o is None:
                assert f[c, len(SHAPES)] == 1 and f[c, n_shape:at].sum() == 0
            else:
                assert SHAPES[int(f[c, :len(SHAPES)].argmax())] == o["shape"]
                assert COLOURS[int(f[c, n_shape:n_shape + n_col].argmax())] == o["color"]
                assert SIZES[int(f[c, n_shape + n_col:at].argmax())] == o["size"]


@pytest.mark.parametrize("mode", ["oracle", "image"])
def test_diagnosis_runs_and_logs(tmp_path, mode):
    out, llm = tmp_path / "r.json", tmp_path / "llm"
    cmd = [sys.executable, str(ROOT / "bench" / "small_world_diagnosis.py"), "--mode", mode, "--steps", "2", "--eval-every", "1",
           "--train-scenes", "40", "--test-scenes", "8", "--batch-size", "4", "--threads", "1", "--out", str(out), "--save-llm", str(llm)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, timeout=300)
    log = json.loads(out.read_text())["log"]
    assert [r["step"] for r in log] == [0, 1, 2]
    assert all(0 <= r["overall"] <= 1 for r in log) and "loss" in log[-1]
    assert (llm / "model.safetensors").is_file() and (llm / "tokenizer.json").is_file()


def test_training_questions_keep_to_the_asked_types():
    rng = random.Random(0)
    for s in scenes("diag_train", 30):
        mixed = training_qas(s, rng, 6)
        assert len({question_type(q) for q, _ in mixed}) == len(mixed)          # the full mix: each type at most once
        only = training_qas(s, rng, 6, ("color", "shape"))
        assert len(only) == 6 and {question_type(q) for q, _ in only} <= {"color", "shape"}
        assert all(a in COLOURS + SHAPES for _, a in only)


def test_diagnosis_splits_by_object_count_and_rejects_unknown_types(tmp_path):
    out = tmp_path / "r.json"
    base = [sys.executable, str(ROOT / "bench" / "small_world_diagnosis.py"), "--mode", "oracle", "--steps", "1", "--train-scenes", "40",
            "--test-scenes", "12", "--batch-size", "4", "--threads", "1", "--out", str(out)]
    for extra in (["--types", "color", "--feature-scale", "15"], ["--mode", "words", "--question", "bare", "--llm", "fresh"]):
        subprocess.run(base + extra, check=True, cwd=ROOT, capture_output=True, timeout=300)
        last = json.loads(out.read_text())["log"][-1]
        assert set(last) >= {"overall", "color", "one object", "2+ objects"} and not set(last) & (set(QTYPES) - {"color"})
    bad = subprocess.run(base + ["--types", "colour"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown ['colour']" in bad.stderr
    bad = subprocess.run(base + ["--mode", "words", "--align-steps", "5"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--align-steps needs a projector" in bad.stderr


def test_object_words_spell_each_object_and_sum_its_embeddings():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(nano_backbones()["llm"])
    scs = scenes("diag_test", 10)
    ids = object_words(scs, tok)
    assert ids.shape[:2] == (10, GRID * GRID)
    for s, cells in zip(scs, ids):
        by_cell = {o["cell"][0] * GRID + o["cell"][1]: o for o in s["objects"]}
        for c in range(GRID * GRID):
            words = tok.decode([i for i in cells[c].tolist() if i >= 0]).split()
            o = by_cell.get(c)
            assert words[:3] == ([o["size"], o["color"], o["shape"]] if o else [])
    emb = torch.nn.Embedding(len(tok), 8)
    tokens = WordSum(emb)(ids)
    o = scs[0]["objects"][0]; c = o["cell"][0] * GRID + o["cell"][1]
    assert torch.allclose(tokens[0, c], emb.weight[[i for i in ids[0, c].tolist() if i >= 0]].sum(0))
    assert tokens[0][(ids[0] < 0).all(-1)].abs().sum() == 0          # empty cells are zero


def test_bare_question_names_a_shape_unique_in_its_scene():
    rng, asked = random.Random(0), 0
    for s in scenes("diag_train", 60):
        qa = bare_qa(s, rng)
        shapes = [o["shape"] for o in s["objects"]]
        if qa is None:
            assert all(shapes.count(x) > 1 for x in shapes)
            continue
        asked += 1
        (o,) = [o for o in s["objects"] if o["shape"] == qa[0]]
        assert qa[1] == o["color"]
    assert asked > 40


def test_picking_plateau_runs_and_scene_features_are_exact(tmp_path):
    from picking_plateau import CELLS, FEATURES, scene_features
    objs = [{"shape": "star", "color": "blue", "size": "large", "cell": 4}]
    f = scene_features(objs)
    assert f.shape == (CELLS, FEATURES) and f[4, SHAPES.index("star")] == 1 and f[0, len(SHAPES)] == 1  # cell 0 empty
    out = tmp_path / "p.json"
    cmd = [sys.executable, str(ROOT / "bench" / "picking_plateau.py"), "--steps", "2", "--eval-every", "1", "--width", "32",
           "--heads", "2", "--layers", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, timeout=300)
    log = json.loads(out.read_text())["log"]
    assert [r["step"] for r in log] == [0, 1, 2] and all(0 <= r["2+ objects"] <= 1 for r in log)


@pytest.mark.skipif(not (ROOT / "data" / "nano" / "llava" / "config.json").is_file(), reason="no shipped checkpoint")
def test_stage1_transfer_asks_a_checkpoint_in_the_chat_template(tmp_path):
    from llava_nb.smallworld.teacher import make_vqa_eval
    from llava_nb.smallworld.world import make_world
    world = make_world(tmp_path / "test", 6, seed=3, split="test")
    (tmp_path / "vqa_eval.json").write_text(json.dumps(make_vqa_eval(world, per_scene=2)))
    out = tmp_path / "t.json"
    cmd = [sys.executable, str(ROOT / "bench" / "stage1_transfer.py"), "--checkpoint", str(ROOT / "data" / "nano" / "llava"),
           "--world", str(tmp_path / "test"), "--threads", "1", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, timeout=300)
    res = json.loads(out.read_text())
    assert res["template"] == "vicuna_v1" and res["n"] == 12
    assert 0 <= res["image_tokens"]["accuracy"] <= 1 and 0 <= res["scene_tokens"]["overall"] <= 1


def test_lm_scene_vqa_replica_runs_and_keeps_earlier_runs(tmp_path):
    out = tmp_path / "replica.json"
    out.write_text(json.dumps({"earlier": {"evals": []}}))
    cmd = [sys.executable, str(ROOT / "bench" / "lm_scene_vqa_replica.py"), "--name", "tiny", "--steps", "2",
           "--eval-every", "2", "--scenes", "12", "--width", "64", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    runs = json.loads(out.read_text())
    assert set(runs) == {"earlier", "tiny"}
    last = runs["tiny"]["evals"][-1]
    assert last["step"] == 2 and 0 <= last["overall"] <= 1 and "2+ objects" in last


def test_replica_questions_are_the_training_corpus_shape():
    from lm_scene_vqa_replica import vqa_items
    items = vqa_items(5, seed=0, reps=2, turns=6)
    assert len(items) == 10 and all(len(it["slots"]) == GRID * GRID for it in items)
    assert all(len(it["conversations"]) == 12 and it["conversations"][0]["value"].startswith("<image>\n") for it in items)


def test_reference_names_the_attributes_a_question_picks_by():
    from picking_by_reference import reference
    assert reference("What color is the large triangle?") == "size+shape"
    assert reference("What shape is the red object?") == "color"
    assert reference("Is the circle large or small?") == "shape"  # the size question's own words are not a reference
    assert reference("What color is the object in the top left?") == "place"
    assert reference("Where is the small blue star?") == "size+color+shape"


def test_picking_by_reference_runs_on_a_saved_llm_and_keeps_earlier_runs(tmp_path):
    out = tmp_path / "picking.json"
    out.write_text(json.dumps({"earlier": {}}))
    cmd = [sys.executable, str(ROOT / "bench" / "lm_scene_vqa_replica.py"), "--name", "tiny", "--steps", "2",
           "--eval-every", "2", "--scenes", "12", "--width", "64", "--qtypes", "color", "--turns", "2",
           "--out", str(tmp_path / "replica.json"), "--save", str(tmp_path / "lm")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    cmd = [sys.executable, str(ROOT / "bench" / "picking_by_reference.py"), "--llm", str(tmp_path / "lm"), "--name", "tiny",
           "--scenes", "30", "--threads", "1", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    runs = json.loads(out.read_text())
    assert set(runs) == {"earlier", "tiny"}
    table = runs["tiny"]["table"]
    assert set(table) <= {"color", "shape", "size", "position"} and "one object" in table["color"]
    for refs in table.values():
        for r in refs.values():
            assert 0 <= r["accuracy"] <= 1 and r["n"] > 0
            if "random pick" in r:
                assert r["n"] - round(r["accuracy"] * r["n"]) == r.get("wrong pick", 0) + r.get("not in scene", 0)


def test_replica_words_mode_describes_the_scene_in_words():
    from lm_scene_vqa_replica import vqa_items
    from llava_nb.smallworld.vision import canonical_caption
    items = vqa_items(3, seed=0, reps=1, turns=2, words=True)
    assert all("slots" not in it and "<image>" not in it["conversations"][0]["value"] for it in items)
    first = items[0]["conversations"][0]["value"]
    from llava_nb.smallworld.world import sample_scene, scene_id, scene_rng
    first_scene = sample_scene(scene_rng(0, "lm", 0), scene_id(0, "lm"))
    assert first.startswith(canonical_caption(first_scene) + "\n")


def test_picking_offset_probe_moves_the_reference_and_scores_every_form():
    from picking_offset_probe import FORMS, probe
    from transformers import AutoTokenizer, LlamaForCausalLM
    from llava_nb.smallworld.llm import llm_config
    for ask, by, form in FORMS.values():
        assert ask != by and form.count("{}") == 1
    tok = AutoTokenizer.from_pretrained(nano_backbones()["llm"])
    torch.manual_seed(0)
    lm = LlamaForCausalLM(llm_config(tok, hidden_size=32, layers=1, intermediate_size=64, heads=2))
    res = probe(lm, tok, n_scenes=40)
    assert set(res) == set(FORMS)
    assert all(r["n"] > 0 and 0 <= r["accuracy"] <= 1 and 0 < r["random pick"] < 1 for r in res.values())


def test_laptop_settings_runs_one_setting_and_names_the_machine(tmp_path):
    out = tmp_path / "laptop.json"
    cmd = [sys.executable, str(ROOT / "bench" / "laptop_settings.py"), "--steps", "2", "--threads", "1",
           "--precisions", "no", "--stages", "2", "--share-prefix", "on,off", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["machine"]["cores"] >= 1 and res["machine"]["cpu"]
    shared, each = res["rows"]
    assert (shared["stage"], shared["threads"], shared["precision"]) == (2, 1, "fp32") and shared["samples_per_second"] > 0
    assert (shared["share_prefix"], each["share_prefix"]) == (True, False)
    assert shared["final_loss"] == pytest.approx(each["final_loss"], rel=1e-4)  # the shared prefix changes no result


def test_phrasing_variety_replica_keeps_variants_comparable_and_held_out_frames_out():
    "The variants differ only in wording: same scenes, answers and turns; no varied frame is a held-out one."
    import phrasing_variety_replica as R
    from llava_nb.smallworld.world import sample_scene, scene_rng

    R.check_disjoint()
    scs = [sample_scene(scene_rng(0, "replica_test", i), f"r_{i}") for i in range(30)]
    tmpl, var, one = (R.records(scs, v, 0, 6) for v in ("templates", "variety", "one"))
    assert [len(r["conversations"]) for r in tmpl] == [len(r["conversations"]) for r in var]
    assert [len(r["conversations"]) for r in one] == [len(r["conversations"]) for r in var]
    assert {len(frames) for frames in R.ONE.values()} == {1} and set(R.ONE) == set(R.VARIED)
    assert sum(t["value"].startswith("<image>\n") for r in var for t in r["conversations"]) == len(scs)
    orders = {tuple(question_type(t["value"].split("\n")[-1]) for t in r["conversations"][::2]) for r in tmpl}
    assert len(orders) > 1  # the type of a turn is not given by its position
    absent = R.records(scs, "variety+absent", 0, 6)
    assert all(r["conversations"][-1]["value"].startswith("There is no ") for r in absent)


def test_phrasing_variety_replica_runs(tmp_path):
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "phrasing_variety_replica.py"), "--quick",
                        "--variants", "templates"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert '"variant": "templates"' in p.stdout


def test_mc_lookup_probe_and_drill_items_are_right():
    "The probe's lettered and free-form twins share their answer; the drill's letter names the option it asks for."
    from transformers import AutoTokenizer, LlamaForCausalLM

    import mc_drill_replica as D
    import mc_lookup_probe as P
    from llava_nb.eval.metrics import LETTERS

    for it in D.mc_lookup_drill(40, 0):
        human, letter = it["conversations"][0]["value"], it["conversations"][1]["value"]
        lines = human.split("\n")
        question = lines[1] if lines[0] == "<image>" else lines[0]
        options = dict(line.split(". ", 1) for line in lines if line[1:3] == ". ")
        assert letter in options and f" {options[letter]}" in f" {question}", human
    llm = nano_backbones()["llm"]
    lm, tok = LlamaForCausalLM.from_pretrained(llm), AutoTokenizer.from_pretrained(llm)
    res = P.probe(lm, tok, n_scenes=30)
    assert set(res) == {"image", "text", "none", "all"} and res["all"]["n"] == 30
    assert all(0 <= res[m][k] <= 1 for m in res for k in ("free", "letter", "letter | free right"))
    assert res["image"]["free"] > 0.5  # with a perfect projector the LLM answers most image questions free-form
    assert LETTERS == "ABCDE"


def test_mc_depth_probe_reads_each_layer():
    "The logit lens: one share per layer and modality, nothing at the embeddings, the free-form answer by the last."
    from transformers import AutoTokenizer, LlamaForCausalLM

    import mc_depth_probe as P

    llm = nano_backbones()["llm"]
    lm, tok = LlamaForCausalLM.from_pretrained(llm), AutoTokenizer.from_pretrained(llm)
    res = P.probe(lm, tok, n_scenes=30)
    image = res["image"]
    assert len(image["free-form answer by layer"]) == lm.config.num_hidden_layers + 1 == len(image["letter by layer"])
    assert image["free-form answer by layer"][0] == 0  # an embedding is not the answer
    assert image["free-form answer by layer"][-1] > 0.5  # with a perfect projector the LLM answers most of them
    split = [image[f"letter | answer {w}"]["n"] for w in ("ready a layer before the last", "only in the last layer")]
    assert sum(split) <= image["n"]


def test_mc_eval_size_by_letter_and_levers_at_the_same_steps():
    "Accuracy by the right letter counts replies; the stage-2 lever trains as many steps as the shipped recipe."
    import mc_eval_size as E
    import mc_levers as L

    items = [{"choices": ["red", "blue"], "answer": a} for a in "AABB"]
    rows = E._by_letter(["A", "B", "B", "B"], items)
    assert rows == {"A": {"n": 2, "right": 0.5, "replied": 1}, "B": {"n": 2, "right": 1.0, "replied": 3}}
    levers = L.levers(0)
    (shipped, _), (more, _) = levers["shipped"], levers["stage 2"]
    records = lambda c: c.n_train * (c.instruct_per_scene + c.mc_train)
    assert abs(records(shipped) * shipped.stage2_epochs - records(more) * more.stage2_epochs) < 1
    assert levers["fourth phase"][1].name == "llm"


def _ink(img):
    "(centre x, centre y, width) of the non-black pixels of a picture on a black page."
    import numpy as np

    a = np.asarray(img).max(-1) > 40
    ys, xs = np.nonzero(a)
    return (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, xs.max() - xs.min() + 1


def test_wild_factors_moves_and_scales_the_object_it_says():
    from llava_nb.smallworld.world import render_scene, sample_scene, scene_rng
    from wild_factors import redraw

    scenes = (sample_scene(scene_rng(5, "factors", i), n_objects=1) for i in range(100))
    scene = next(s for s in scenes if s["objects"][0]["cell"][1] == 0)  # the left column: room to move right
    x0, y0, x1, y1 = scene["objects"][0]["bbox"]
    cx, cy, w = _ink(redraw(scene, 288))
    assert abs(cx - (x0 + x1) / 2 * 288) < 3 and abs(cy - (y0 + y1) / 2 * 288) < 6 and abs(w - (x1 - x0) * 288) < 4
    moved = _ink(redraw(scene, 288, shift=0.4))
    assert abs(moved[0] - cx - 0.4 * 96) < 2 and abs(moved[1] - cy) < 1  # 0.4 of a 96 px patch (a cell), to the right
    assert abs(_ink(redraw(scene, 288, scale=1.5))[2] - 1.5 * w) < 4
    plain = _ink(render_scene(scene, 288))
    assert abs(plain[0] - cx) < 3 and abs(plain[2] - w) < 4  # the same box as the training renderer draws


def test_shape_shift_replica_keeps_its_shifts_within_bounds():
    from llava_nb.smallworld.world import sample_scene, scene_rng
    from shape_shift_replica import picture

    rng = random.Random(0)
    for i in range(20):
        scene = sample_scene(scene_rng(11, "t", i), n_objects=1)
        x0, y0, x1, y1 = scene["objects"][0]["bbox"]
        cx, cy, w = _ink(picture(scene, rng, shift=0.45, scale=1.5))
        assert abs(cx - (x0 + x1) / 2 * 144) <= 0.45 * 48 + 3 or cx < 6 or cx > 138  # or cut by the page's edge
        assert w <= 1.5 * (x1 - x0) * 144 + 4


def test_wild_before_after_probes_and_answers_on_the_shipped_parts():
    "The probes read the three ways the script says, and the replies keep the wild set's order (the lesson needs both)."
    from robust_vision import wild_probe
    from wild_before_after import answers

    from llava_nb.core import shipped_path
    from llava_nb.eval.metrics import vqa_scores
    from llava_nb.smallworld.wild import make_wild

    p = wild_probe(shipped_path("nano") / "vision", n_train=60, n_test=30, wild_train=60)
    assert set(p) == {"color", "shape"}
    assert all(set(v) == {"plain", "wild", "wild -> wild"} for v in p.values())
    assert p["color"]["plain"] > 0.8  # the shipped tower reads its own look
    assert set(wild_probe(shipped_path("nano") / "vision", n_train=60, n_test=30)["shape"]) == {"plain", "wild"}
    with tempfile.TemporaryDirectory() as d:
        records = make_wild(d, 2, seed=0)
        replies = answers(shipped_path("nano") / "llava", records, Path(d))
    assert len(replies) == len(records) and all(isinstance(r, str) and r for r in replies)
    assert 0 <= vqa_scores(replies, records)["accuracy"] <= 1


def test_description_order_counts_an_object_named_twice(tmp_path):
    "The bench's measure of the failure it is about: a description that names one object twice, and its F1."
    from description_order import descriptions

    from llava_nb.smallworld.world import context_text, make_scene

    scene = make_scene(
        [
            {"shape": "cross", "color": "purple", "size": "small", "cell": [0, 1]},
            {"shape": "circle", "color": "white", "size": "small", "cell": [1, 2]},
        ]
    )
    twice = "There are two shapes. A small purple cross is at the top. A small purple cross is at the top."
    right = "There are two shapes. A small purple cross is at the top. A small white circle is on the right."
    bench = [{"type": "detail", "context": context_text(scene), "answer": a} for a in (twice, right)]
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "eval_predictions.json").write_text(json.dumps({"bench": bench}))
    d = descriptions(tmp_path)
    assert d["n"] == 2 and d["name one object twice"] == 1
    assert d["mean F1"] == round((0.5 + 1.0) / 2, 3)


def test_description_requests_sorts_replies_by_kind_and_asks_the_shipped_model(tmp_path, monkeypatch):
    "Each kind of reply the bench counts, from `description_scores`; and one run on the shipped checkpoint, small."
    import description_requests as dr

    from llava_nb.smallworld.judge import description_scores
    from llava_nb.smallworld.world import make_scene
    from llava_nb.smallworld.symbolic import parse_context
    from llava_nb.smallworld.world import context_text

    scene = make_scene(
        [
            {"shape": "cross", "color": "purple", "size": "small", "cell": [0, 1]},
            {"shape": "circle", "color": "white", "size": "small", "cell": [1, 2]},
        ]
    )
    objs = parse_context(context_text(scene))[1]
    kind = lambda reply: dr.kind_of(reply, description_scores(reply, objs))
    assert kind("There are two shapes. A small purple cross is at the top. A small white circle is on the right.") == (
        "description"
    )
    assert kind("There is a small purple cross at the top.") == "partial"
    assert kind("A picture with two shapes: one purple shape and one white shape.") == "caption"
    assert kind("yes") == "short"
    monkeypatch.setattr(dr, "OUT", tmp_path / "out.json")
    entry = dr.main(["--per-way", "1", "--name", "test"])
    for part in ("first", "second"):
        s = entry["sets"][part]
        assert s["n"] == 10 and sum(s["kinds"].values()) == 10 and 0 <= s["described"] <= 1
    assert json.loads((tmp_path / "out.json").read_text())["test"]["checkpoint"] == "data/nano/llava"


def test_heldout_misses_scores_every_table_and_honest_absent_asks_every_scene(tmp_path, monkeypatch):
    "Both benches on the shipped checkpoint, small: every held-out table scored by type, every frame's row counted."
    import heldout_misses as hm
    import honest_absent as ha

    from llava_nb.core import shipped_path
    from llava_nb.smallworld.heldout import HELD_OUT_TABLES

    monkeypatch.setattr(hm, "OUT", tmp_path / "misses.json")
    entry = hm.main(["--n-test", "8", "--name", "test"])
    assert set(entry["scores"]) == set(HELD_OUT_TABLES) == set(entry["tables"])
    for table, scores in entry["scores"].items():
        assert sum(row["n"] for row in entry["tables"][table].values()) == scores["n"] > 0
        assert 0 <= scores["accuracy"] <= 1 and set(scores["by_type"]) <= set(HELD_OUT_TABLES[table][0])
    monkeypatch.setattr(ha, "OUT", tmp_path / "honest.json")
    res = ha.main([str(shipped_path("nano") / "llava"), "--names", "shipped", "--n-test", "8"])
    assert res["shipped"]["n"] == 8 and len(res["shipped"]["not honest"]) == round(8 * (1 - res["shipped"]["honest"]))
    with pytest.raises(SystemExit):
        ha.main([str(shipped_path("nano") / "llava"), "--names", "a;b"])  # a name per checkpoint


def test_the_shipped_model_answers_a_lone_shape_called_it():
    "`bench/plain_questions.py`'s count on the shipped checkpoint (a taught form and an untaught one), and its scenes."
    import lone_references
    import plain_questions as pq

    from llava_nb.core import shipped_path

    scenes = pq.lone_shapes(6)
    assert all(len(s["objects"]) == 1 for s in scenes)
    asked = {"What color is it?": "color", "What is its colour?": "color"}
    assert set(asked) <= set(pq.QUESTIONS) | set(lone_references.UNTAUGHT)
    right, misses = pq.right_answers(shipped_path("nano") / "llava", scenes, asked)
    assert right == {q: 6 for q in asked}, misses  # 20 of 20 each in bench/results/lone_references.json


def test_llm_fourth_phase_reads_a_run_and_asks_it_for_descriptions(tmp_path):
    "bench/llm_fourth_phase.py's row of a quickstart run: the summary's figures and descriptions asked in held-out ways."
    import llm_fourth_phase
    from llava_nb.smallworld.world import make_world

    run = tmp_path / "run"
    (run / "stage2").mkdir(parents=True)
    (run / "stage2" / "final").symlink_to(ROOT / "data" / "nano" / "llava")
    (run / "summary.json").write_text((ROOT / "bench" / "results" / "quickstart_summary.json").read_text())
    make_world(run / "data" / "test", 4, seed=0, split="test")
    shipped = json.loads((run / "summary.json").read_text())["eval"]
    r = llm_fourth_phase.row(run)
    assert r["multiple choice"] == round(shipped["mc_accuracy"], 3)
    assert r["held-out words by type"].keys() == shipped["heldout"]["by_type"].keys()
    asked = llm_fourth_phase.described(run, n=4)
    assert asked.keys() == {"first", "second"}
    assert all(a["described"] >= 0.75 and 0.5 <= a["F1"] <= 1 for a in asked.values())  # the shipped model describes
    with pytest.raises(SystemExit):  # neither runs after nor an LLM to train: refused
        llm_fourth_phase.main(["--before", str(run), str(run)])
