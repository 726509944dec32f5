"Every bad input to llava_nb.data.records: broken records, hostile paths, broken images, colour modes; pad vs square."
import io
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image
from transformers import CLIPImageProcessor

from llava_nb.core import IMAGE_TOKEN, RecordError
from llava_nb.data.records import (Record, SkipSummary, expand2square, load_image, load_records, mean_colour,
                           normalize_record, preprocess_images, resolve_image_path, to_rgb, validate_records)

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fixtures"
IMAGES = FIXTURES / "images"
BAD = {r["id"]: r for r in json.loads((FIXTURES / "bad_records.json").read_text())}


def turns(*values, roles=("human", "gpt")):
    return [{"from": roles[i % 2], "value": v} for i, v in enumerate(values)]


def rec(*values, image=None, id="r"):
    out = {"id": id, "conversations": turns(*values)}
    if image is not None: out["image"] = image
    return out


@pytest.fixture(scope="module")
def proc():
    return CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})  # CLIP's mean and std


# ---------------------------------------------------------------- records

RECORD_ERRORS = {  # bad_records.json id -> (turn, reason)
    "missing-conversations": (None, "missing 'conversations'"),
    "conversations-not-a-list": (None, "'conversations' is not a list (got str)"),
    "unknown-role": (0, "unknown role 'system'"),
    "roles-out-of-order": (1, "roles out of order: expected 'gpt', got 'human'"),
    "ends-with-question": (2, "conversation ends with a question (no answer)"),
    "empty-answer": (1, "empty answer"),
    "too-many-image-tokens": (0, "more <image> than images (2 > 1)"),
    "image-token-in-text-only": (0, "<image> in a text-only record"),
}
IMAGE_ERRORS = {  # found only with an image folder (the last three only with check_images=True)
    "missing-image-file": "image file missing",
    "path-escapes-folder": "path escapes the image folder",
    "absolute-path": "path escapes the image folder (absolute path)",
    "corrupt-image": "not an image file",
    "truncated-image": "corrupt or truncated image",
    "decompression-bomb": "image too large (decompression bomb check)",
}


@pytest.mark.parametrize("rid", sorted(RECORD_ERRORS))
def test_bad_record_raises_with_location(rid):
    turn, reason = RECORD_ERRORS[rid]
    with pytest.raises(RecordError) as e:
        normalize_record(BAD[rid], index=3)
    assert (e.value.record, e.value.turn, e.value.reason) == (rid, turn, reason)
    assert str(e.value).startswith(f"record {rid}")


def test_bad_records_fixture_covers_every_case():
    assert set(BAD) == set(RECORD_ERRORS) | set(IMAGE_ERRORS) | {"good-with-image", "good-text-only"}


def test_validate_counts_every_bad_record_and_never_raises():
    good, s = validate_records(FIXTURES / "bad_records.json", IMAGES, check_images=True)
    assert [r.id for r in good] == ["good-with-image", "good-text-only"]
    assert (s.total, s.kept, s.skipped) == (16, 2, 14)
    expected = {reason: [rid] for rid, (_, reason) in RECORD_ERRORS.items()} | {r: [rid] for rid, r in IMAGE_ERRORS.items()}
    assert s.examples == expected
    assert all(n == 1 for n in s.by_reason.values())


def test_validate_levels_of_checking():
    assert validate_records(FIXTURES / "bad_records.json")[1].skipped == len(RECORD_ERRORS)  # text only
    s = validate_records(FIXTURES / "bad_records.json", IMAGES)[1]  # paths, no decoding
    assert s.skipped == len(RECORD_ERRORS) + 3
    with pytest.raises(FileNotFoundError, match="image folder"):
        validate_records([], FIXTURES / "no_such_folder")
    with pytest.raises(ValueError, match="needs an image_folder"):
        validate_records([], check_images=True)


def test_validate_survives_garbage():
    junk = [None, 3, "text", [], {}, {"conversations": None}, {"conversations": [None]},
            {"conversations": [{"from": "human"}]}, {"conversations": turns("q", 5)},
            {"conversations": turns("q", "a"), "image": 7}, {"conversations": turns("q", "a"), "image": [""]},
            {"conversations": [{"from": ["human"], "value": "q"}, {"from": "gpt", "value": "a"}]},
            {"conversations": turns("q", "a")}]
    good, s = validate_records(junk)
    assert [r.id for r in good] == ["12"] and (s.total, s.skipped) == (13, 12)
    assert s.by_reason["unknown role ['human']"] == 1
    assert s.examples["record is not a JSON object (got NoneType)"] == [0]
    assert s.by_reason["turn is not an object with 'from' and 'value'"] == 2
    assert s.by_reason["turn value is not a string (got int)"] == 1


def test_image_placeholder_rules():
    r = normalize_record(rec("Describe.\n<image>", "ok", image="a.jpg"))
    assert r.conversations[0]["value"] == "<image>\nDescribe." and r.images == ["a.jpg"]
    r = normalize_record(rec("What is this?", "ok", image="a.jpg"))  # image without a placeholder gets one
    assert r.conversations[0]["value"] == "<image>\nWhat is this?"
    r = normalize_record(rec("one <image> two", "ok", "three\n<image>", "ok", image=["a.jpg", "b.jpg"]))
    assert [t["value"] for t in r.conversations] == ["<image>\n<image>\none two", "ok", "three", "ok"]
    r = normalize_record(rec("<image>", "a caption", image="a.jpg"))
    assert r.conversations[0]["value"] == "<image>"
    with pytest.raises(RecordError, match=r"turn 2: more <image> than images \(2 > 1\)"):
        normalize_record(rec("<image>\nq", "a", "and <image>?", "b", image="a.jpg"))
    with pytest.raises(RecordError, match="turn 1: <image> in a text-only record"):
        normalize_record(rec("q", "see <image>"))


def test_roles_and_ids():
    r = normalize_record({"conversations": turns("Hi", "Hello", roles=("user", "assistant"))}, index=4)
    assert r == Record(id="4", conversations=turns("Hi", "Hello"), images=[])
    assert normalize_record({"id": 123, "conversations": turns("q", "a")}).id == "123"
    with pytest.raises(RecordError, match="turn 0: roles out of order: expected 'human', got 'gpt'"):
        normalize_record({"id": "x", "conversations": turns("a", "q", roles=("gpt", "human"))})
    with pytest.raises(RecordError, match="record 9: empty 'conversations'"):
        normalize_record({"conversations": []}, index=9)
    raw = rec("<image>\nq", "a", image="a.jpg")
    before = json.dumps(raw)
    normalize_record(raw)
    assert json.dumps(raw) == before  # the raw record is not modified


def test_load_records_errors(tmp_path):
    (tmp_path / "bad.json").write_text('[{"id": 1},')
    (tmp_path / "obj.json").write_text('{"data": []}')
    (tmp_path / "ok.jsonl").write_text('{"id": 1}\n\n{"id": 2}\n')
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{"id": \n')
    with pytest.raises(RecordError, match=r"bad\.json: bad JSON"):
        load_records(tmp_path / "bad.json")
    with pytest.raises(RecordError, match="obj.json: expected a JSON list of records, got a JSON dict"):
        load_records(tmp_path / "obj.json")
    assert load_records(tmp_path / "ok.jsonl") == [{"id": 1}, {"id": 2}]
    with pytest.raises(RecordError, match="bad.jsonl: bad JSON on line 2"):
        load_records(tmp_path / "bad.jsonl")


def test_skip_summary_text():
    s = SkipSummary(total=12)
    s.add(RecordError("empty answer", record="a", turn=1))
    s.add(RecordError("empty answer", record="b", turn=3))
    s.add(RecordError("image file missing", record="c", file="x.jpg"))
    assert str(s) == "kept 9 of 12 records; skipped 3: 2 × empty answer (ids: a, b), 1 × image file missing (ids: c)"
    assert "&lt;image&gt;" in SkipSummary(1, examples={}, by_reason={"<image> in a text-only record": 1})._repr_markdown_()


# ---------------------------------------------------------------- paths

@pytest.mark.parametrize("rel", ["../bad_records.json", "00453/../../bad_records.json", "bad/../../../x.jpg"])
def test_path_escaping(rel):
    with pytest.raises(RecordError, match="path escapes the image folder"):
        resolve_image_path(IMAGES, rel, record="r")


def test_absolute_and_missing_paths():
    with pytest.raises(RecordError, match="absolute path"):
        resolve_image_path(IMAGES, str(IMAGES / "00453/004539375.jpg"))
    with pytest.raises(RecordError, match=r"record 7: image file missing") as e:
        resolve_image_path(IMAGES, "00453/none.jpg", record=7)
    assert "none.jpg" in str(e.value)
    with pytest.raises(RecordError, match="image file missing"):
        resolve_image_path(IMAGES, "00453")  # a folder is not an image file
    assert resolve_image_path(IMAGES, "00453/./004539375.jpg") == (IMAGES / "00453/004539375.jpg").resolve()


def test_symlinks(tmp_path):
    folder, outside = tmp_path / "images", tmp_path / "secret.jpg"
    folder.mkdir()
    Image.new("RGB", (4, 4)).save(outside)
    Image.new("RGB", (4, 4)).save(folder / "real.jpg")
    (folder / "leak.jpg").symlink_to(outside)
    (folder / "alias.jpg").symlink_to(folder / "real.jpg")
    (folder / "sub").symlink_to(tmp_path)
    with pytest.raises(RecordError, match="path escapes the image folder"):
        resolve_image_path(folder, "leak.jpg")
    with pytest.raises(RecordError, match="path escapes the image folder"):
        resolve_image_path(folder, "sub/secret.jpg")
    assert resolve_image_path(folder, "alias.jpg") == (folder / "real.jpg").resolve()


# ---------------------------------------------------------------- image files

def jpeg_bytes(size=(48, 48)):
    buf = io.BytesIO()
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def png_bytes(size=(48, 48)):
    buf = io.BytesIO()
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("name,data,reason", [
    ("text.jpg", b"hello, not an image", "not an image file"),
    ("empty.png", b"", "not an image file"),
    ("half.jpg", jpeg_bytes()[: len(jpeg_bytes()) // 2], "corrupt or truncated image"),
    ("half.png", png_bytes()[: len(png_bytes()) // 2], "corrupt or truncated image"),
    ("flipped.png", png_bytes()[:200] + bytes(b ^ 0xFF for b in png_bytes()[200:400]) + png_bytes()[400:], "corrupt or truncated image"),
])
def test_broken_image_files(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(RecordError) as e:
        load_image(tmp_path / name, record="rec-1")
    assert e.value.reason == reason and e.value.record == "rec-1" and str(e.value).startswith(f"file {tmp_path / name}")


def test_missing_image_file(tmp_path):
    with pytest.raises(RecordError, match="record 2: image file missing"):
        load_image(tmp_path / "gone.jpg", record=2)


@pytest.mark.parametrize("pixels", [40 * 40, 64 * 64])  # over the limit (warning), over twice the limit (error)
def test_decompression_bomb(tmp_path, monkeypatch, pixels):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    side = int(pixels ** 0.5)
    Image.new("RGB", (side, side)).save(tmp_path / "big.png")
    filters = list(warnings.filters)
    with pytest.raises(RecordError, match="record b: image too large"):
        load_image(tmp_path / "big.png", record="b")
    assert warnings.filters == filters and Image.MAX_IMAGE_PIXELS == 1000  # nothing global changed
    Image.new("RGB", (30, 30)).save(tmp_path / "ok.png")
    assert load_image(tmp_path / "ok.png").size == (30, 30)


def test_bomb_fixture_with_default_limit():
    assert Image.MAX_IMAGE_PIXELS == 89478485
    with pytest.raises(RecordError, match="image too large"):
        load_image(IMAGES / "bad/bomb.png")


def _mode_image(mode):
    if mode == "RGBA": return Image.new("RGBA", (4, 3), (255, 0, 0, 128)), "png", (255, 127, 127)
    if mode == "LA": return Image.new("LA", (4, 3), (0, 0)), "png", (255, 255, 255)
    if mode == "P+transparency":
        im = Image.new("P", (4, 3), 1); im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762); im.info["transparency"] = 1
        return im, "png", (255, 255, 255)
    if mode == "P": 
        im = Image.new("P", (4, 3), 1); im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
        return im, "png", (0, 255, 0)
    if mode == "L": return Image.new("L", (4, 3), 200), "png", (200, 200, 200)
    if mode == "1": return Image.new("1", (4, 3), 1), "png", (255, 255, 255)
    if mode == "I;16": return Image.fromarray(np.full((3, 4), 257 * 100, np.uint16)), "png", (100, 100, 100)
    if mode == "I": return Image.new("I", (4, 3), 257 * 50), "tiff", (50, 50, 50)
    if mode == "F": return Image.new("F", (4, 3), 0.25), "tiff", (64, 64, 64)
    if mode == "CMYK": return Image.new("CMYK", (4, 3), (0, 0, 255, 0)), "jpeg", (255, 255, 0)
    if mode == "RGB": return Image.new("RGB", (4, 3), (1, 2, 3)), "png", (1, 2, 3)
    raise ValueError(mode)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "P+transparency", "L", "1", "I;16", "I", "F", "CMYK"])
def test_image_modes_to_rgb(tmp_path, mode):
    im, fmt, expected = _mode_image(mode)
    path = tmp_path / f"img.{fmt}"
    im.save(path, fmt)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (4, 3)
    got = out.getpixel((1, 1))
    tol = 3 if fmt == "jpeg" else 0
    assert all(abs(g - e) <= tol for g, e in zip(got, expected)), (mode, got, expected)
    assert to_rgb(im).getpixel((1, 1)) == expected or fmt == "jpeg"


# ---------------------------------------------------------------- preprocessing

def test_mean_colour_and_expand2square(proc):
    assert mean_colour(proc) == (122, 116, 104)
    tall = expand2square(Image.new("RGB", (2, 5), (255, 0, 0)), (0, 0, 255))
    assert tall.size == (5, 5)
    assert [tall.getpixel((x, 2)) for x in range(5)] == [(0, 0, 255), (255, 0, 0), (255, 0, 0), (0, 0, 255), (0, 0, 255)]  # offset (5 - 2) // 2
    sq = Image.new("RGB", (3, 3))
    assert expand2square(sq, (0, 0, 0)) is sq


def test_pad_vs_square_on_grace_hopper(proc):
    hopper = load_image(cbook.get_sample_data("grace_hopper.jpg"))
    assert hopper.size == (512, 600)  # taller than wide: pad adds bars left and right
    pad, sq = preprocess_images([hopper], proc, "pad"), preprocess_images([hopper], proc, "square")
    assert pad.shape == sq.shape == (1, 3, 32, 32) and pad.dtype == torch.float32
    # the bars hold the mean colour, which the processor normalises to ~0
    assert pad[0, :, :, 0].abs().max() < 0.02 and pad[0, :, :, -1].abs().max() < 0.02
    assert pad[0, :, :, 16].abs().mean() > 0.1  # the picture in the middle
    # square is the processor's own resize + centre crop: picture content reaches every edge
    assert torch.equal(sq, proc(images=[hopper], return_tensors="pt")["pixel_values"])
    assert sq[0, :, :, 0].abs().mean() > 0.1 and sq[0, :, :, -1].abs().mean() > 0.1
    # pad shows the whole picture: its middle column equals the processor applied to the padded square
    padded = expand2square(hopper, mean_colour(proc))
    assert torch.equal(pad, proc(images=[padded], return_tensors="pt")["pixel_values"])


def test_pad_wide_image_bars_top_and_bottom(proc):
    red = Image.new("RGB", (64, 32), (255, 0, 0))
    x = preprocess_images(red, proc, "pad")[0]  # (3, 32, 32)
    assert x[:, 0, :].abs().max() < 0.02 and x[:, -1, :].abs().max() < 0.02  # bars
    red_norm = (1.0 - proc.image_mean[0]) / proc.image_std[0]
    assert abs(x[0, 16, 16].item() - red_norm) < 0.02  # the picture
    y = preprocess_images(red, proc, "square")[0]
    assert abs(y[0, 0, 0].item() - red_norm) < 0.02  # cropped: red everywhere


def test_preprocess_batch_and_errors(proc):
    ims = [Image.new(m, (10 + i, 20)) for i, m in enumerate(["RGB", "RGBA", "L", "P", "I;16", "CMYK"])]
    assert preprocess_images(ims, proc).shape == (6, 3, 32, 32)
    with pytest.raises(ValueError, match="anyres images become several views each"):  # the processor tiles them
        preprocess_images(ims, proc, mode="anyres")
    with pytest.raises(ValueError, match="unknown image mode 'crop'"):
        preprocess_images(ims, proc, mode="crop")
    with pytest.raises(ValueError, match="at least one image"):
        preprocess_images([], proc)


# ---------------------------------------------------------------- fixtures

@pytest.mark.parametrize("name", ["blip_laion_cc_sbu_558k", "llava_instruct_150k", "llava_v1_5_mix665k"])
def test_fixture_files_are_clean(name):
    recs, s = validate_records(FIXTURES / f"{name}.json", IMAGES, check_images=True)
    assert s.skipped == 0 and len(recs) == s.total >= 6
    for r in recs:
        text = "".join(t["value"] for t in r.conversations)
        assert text.count(IMAGE_TOKEN) == len(r.images)


def test_fixture_shapes():
    pre = load_records(FIXTURES / "blip_laion_cc_sbu_558k.json")
    assert all(len(r["conversations"]) == 2 for r in pre)
    firsts = [r["conversations"][0]["value"] for r in pre]
    assert any(v.startswith("<image>\n") for v in firsts) and any(v.endswith("\n<image>") for v in firsts)
    assert all(len(Path(r["image"]).parts) == 2 for r in pre)
    ins = load_records(FIXTURES / "llava_instruct_150k.json")
    assert all(r["image"].endswith(".jpg") and "/" not in r["image"] for r in ins)
    assert any(len(r["conversations"]) > 2 for r in ins)
    mix = load_records(FIXTURES / "llava_v1_5_mix665k.json")
    prefixes = {"/".join(r["image"].split("/")[:2]) for r in mix if "image" in r}
    assert prefixes == {"coco/train2017", "gqa/images", "ocr_vqa/images", "textvqa/train_images", "vg/VG_100K"}
    text_only = [r for r in mix if "image" not in r]
    assert len(text_only) == 2 and all(len(r["conversations"]) > 2 for r in text_only)
    questions = [t["value"] for r in mix for t in r["conversations"] if t["from"] == "human"]
    assert any(q.endswith("Answer the question using a single word or phrase.") for q in questions)
    assert any(q.endswith("Answer with the option's letter from the given choices directly.") for q in questions)
    size = sum(f.stat().st_size for f in FIXTURES.rglob("*") if f.is_file())
    assert size < 1_000_000


def test_fixtures_match_their_generator(tmp_path):
    shutil.copy(FIXTURES / "make_fixtures.py", tmp_path)
    subprocess.run([sys.executable, str(tmp_path / "make_fixtures.py")], check=True, capture_output=True)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".py")
    committed = sorted(p.relative_to(FIXTURES) for p in FIXTURES.rglob("*") if p.is_file() and p.suffix != ".py")
    assert made == committed
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (FIXTURES / rel).read_bytes(), rel


def test_header_check_finds_what_it_can_without_decoding():
    good, s = validate_records(FIXTURES / "bad_records.json", IMAGES, check_images="header")
    assert [r.id for r in good] == ["good-with-image", "good-text-only", "truncated-image"]   # a cut JPEG needs a decode
    assert s.skipped == 13 and "not an image file" in str(s) and "decompression bomb" in str(s)
    with pytest.raises(ValueError, match="check_images must be"):
        validate_records([], IMAGES, check_images="full")
