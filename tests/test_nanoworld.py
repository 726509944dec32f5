"The small world (07) and the shipped nano backbones (09): determinism, geometry, formats, loading."
import hashlib
import json
import random
import re
from pathlib import Path

import pytest
import torch

from llava_nb.smallworld.backbones import check_backbones, nano_backbones
from llava_nb.smallworld.vision import (CLIP_MEAN, canonical_caption, hard_negatives, make_image_processor, perturb_scene,
                                  scene_pixels)
from llava_nb.smallworld.world import (COLOUR_RGB, COLOURS, GRID, IMAGE_SIZE, POSITIONS, RELATIONS, SHAPES, SIZES, cell_of, context_text,
                                load_world, make_scene, make_world, position_name, relation, relations, render_scene,
                                sample_scene, scene_rng, size_name)

ROOT = Path(__file__).resolve().parent.parent
NANO = ROOT / "data" / "nano"


def _digest(d: Path) -> str:
    h = hashlib.sha256((d / "scenes.json").read_bytes())
    for p in sorted((d / "images").iterdir()): h.update(p.read_bytes())
    return h.hexdigest()


def test_make_world_is_deterministic(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    make_world(a, 40, seed=3); make_world(b, 40, seed=3); make_world(c, 40, seed=4)
    assert _digest(a) == _digest(b)
    assert json.loads((a / "scenes.json").read_text()) != json.loads((c / "scenes.json").read_text())
    assert load_world(a)[0]["id"] == "nw_000000"
    test = make_world(tmp_path / "t", 3, seed=3, split="test")
    assert test[0]["id"] == "nw_test_000000" and test[0]["objects"] != load_world(a)[0]["objects"]


def test_scene_record_format(tmp_path):
    s = make_world(tmp_path, 1, seed=0)[0]
    assert set(s) == {"id", "image", "width", "height", "captions", "objects"}
    assert s["image"] == f"images/{s['id']}.png" and (tmp_path / s["image"]).exists()
    assert s["width"] == s["height"] == IMAGE_SIZE
    assert len(s["captions"]) == 5 and len(set(s["captions"])) == 5
    for o in s["objects"]:
        assert set(o) == {"shape", "color", "size", "bbox", "cell"}
        assert all(round(v, 3) == v for v in o["bbox"])


def test_objects_never_overlap_and_stay_in_their_cell():
    for i in range(400):
        s = sample_scene(scene_rng(0, "prop", i))
        objs = s["objects"]
        assert 1 <= len(objs) <= 4
        assert [o["cell"] for o in objs] == sorted(o["cell"] for o in objs)  # row-major order
        for o in objs:
            x1, y1, x2, y2 = o["bbox"]
            r, c = o["cell"]
            assert c / GRID <= x1 < x2 <= (c + 1) / GRID + 1e-9 and r / GRID <= y1 < y2 <= (r + 1) / GRID + 1e-9
            assert list(cell_of(o["bbox"])) == o["cell"]
            assert position_name(o["bbox"]) == POSITIONS[r][c]
            assert size_name(o["bbox"]) == o["size"]
            assert o["shape"] in SHAPES and o["color"] in COLOURS and o["size"] in SIZES
        for a in range(len(objs)):
            for b in range(a + 1, len(objs)):
                A, B = objs[a]["bbox"], objs[b]["bbox"]
                assert A[2] <= B[0] or B[2] <= A[0] or A[3] <= B[1] or B[3] <= A[1]
                assert relations(objs[a], objs[b])[0] == relation(objs[a], objs[b]) in RELATIONS


def test_context_text_format():
    s = sample_scene(scene_rng(0, "ctx", 1), n_objects=3)
    head, boxes = context_text(s).split("\n\n")
    assert head.split("\n") == s["captions"]
    lines = boxes.split("\n")
    assert len(lines) == 3
    for line, o in zip(lines, s["objects"]):
        m = re.fullmatch(r"(\w+) (\w+): \[(\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3})\]", line)
        assert m and m[1] == o["color"] and m[2] == o["shape"]
        assert [float(v) for v in m.groups()[2:]] == o["bbox"]


def test_unplaceable_scenes_fail_clearly():
    with pytest.raises(ValueError, match="nw_000042: cannot place 10 objects"):
        make_scene([{"shape": "circle", "color": "red", "size": "small"}] * 10, "nw_000042")
    with pytest.raises(ValueError, match="both in cell"):
        make_scene([{"shape": "circle", "color": "red", "size": "small", "cell": [1, 1]}] * 2, "nw_000043")
    with pytest.raises(ValueError, match="cannot place 12"):
        sample_scene(0, n_objects=12)


def test_render_matches_record():
    s = make_scene([{"shape": sh, "color": COLOURS[i], "size": "large", "cell": [i // 3, i % 3]} for i, sh in enumerate(SHAPES)], "nw_1", rng=1)
    im = render_scene(s)
    assert im.size == (IMAGE_SIZE, IMAGE_SIZE)
    for o in s["objects"]:
        x1, y1, x2, y2 = o["bbox"]
        assert im.getpixel((int((x1 + x2) / 2 * IMAGE_SIZE), int((y1 + y2) / 2 * IMAGE_SIZE))) == COLOUR_RGB[o["color"]]


def test_canonical_caption_and_hard_negatives():
    s = sample_scene(scene_rng(0, "neg", 2), n_objects=3)
    cap = canonical_caption(s)
    assert cap.startswith("Three objects: ") and cap.count(",") == 2
    rng = random.Random(0)
    negs = hard_negatives(s, rng, 5)
    assert len(set(negs)) == 5 and cap not in negs
    assert canonical_caption(perturb_scene(s, rng, "count")) != cap


def test_pixels_match_the_processor():
    s = [sample_scene(scene_rng(0, "pix", i)) for i in range(2)]
    proc = make_image_processor()
    ref = proc(images=[render_scene(x) for x in s], return_tensors="pt")["pixel_values"]
    assert torch.allclose(scene_pixels(s), ref, atol=1e-5)
    assert tuple(proc.image_mean) == CLIP_MEAN


@pytest.mark.skipif(not NANO.exists(), reason="no shipped backbones in data/nano")
def test_shipped_backbones_load_into_llava():
    from llava_nb.model.llava import LlavaModel
    parts = nano_backbones(NANO)
    m = LlavaModel.from_parts(str(NANO / "vision"), str(NANO / "llm"))
    assert m.num_image_tokens == GRID * GRID  # one 24 px patch per 24 px cell
    feats = m.encode_images(scene_pixels([sample_scene(0)]))
    assert feats.shape == (1, GRID * GRID, m.llm.config.hidden_size)
    assert m.tokenizer(m.tokenizer.decode([m.image_token_id]), add_special_tokens=False).input_ids == [m.image_token_id]
    assert m.tokenizer.bos_token == "<s>" and m.tokenizer.eos_token == "</s>"
    size = sum(p.stat().st_size for p in NANO.rglob("*") if p.is_file())
    assert size < 35e6
    assert set(parts) == {"vision", "llm"}


def test_backbone_dirs_are_checked(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_backbones(tmp_path / "nope", tmp_path / "nope2")
    if NANO.exists():
        with pytest.raises(ValueError, match="not a CLIP vision tower"):
            check_backbones(NANO / "llm", NANO / "llm")
        with pytest.raises(ValueError, match="not a causal LM"):
            check_backbones(NANO / "vision", NANO / "vision")


@pytest.mark.slow  # about 3.5 minutes: four corpora of 10,000 scenes are written
def test_pretrain_backbones_runs_the_later_llm_phases_in_order(tmp_path):
    "The shipped recipe in small: the LLM's first phase, then four later ones, each going on from the weights before it."
    from llava_nb.smallworld.backbones import LLM_LATER_PHASES, later_phase_words, pretrain_backbones

    kw = dict(vision_steps=1, llm_steps=2, llm_continue_steps=2, probes=False, verbose=False)  # the shipped phases
    stats = pretrain_backbones(tmp_path / "b", **kw)["stats"]
    assert [ph["steps"] for ph in stats["llm_continued"]] == [2, 2, 2, 4]  # the fourth phase is twice as long
    manifest = json.loads((tmp_path / "b" / "backbones.json").read_text())
    assert (manifest["llm_continue_steps"], manifest["llm_continue_phases"]) == (2, 4)
    assert manifest["llm_continue_phase_steps"] == [2, 2, 2, 4]
    lettered = {"answers": "composed", "lettered": 5, "distractors": "scene"}
    assert manifest["llm_continue_words"] == later_phase_words(len(LLM_LATER_PHASES))
    assert manifest["llm_continue_words"] == [{}, {}, {"answers": "composed"}, lettered]
    saved = json.loads((tmp_path / "b" / "pretrain_stats.json").read_text())
    assert len(saved["llm_continued"]) == 4
    nano_backbones(tmp_path / "b")  # a folder the quickstart accepts
