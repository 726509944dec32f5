"""Bad input files (issue #26): tiny images, non-UTF-8 and non-JSON data files, broken small worlds, cut feature-cache
shards, a cut tokenizer.json. Each is answered, or refused with a message that names the file (and the record)."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor

from llava_nb.data.anyres import AnyresLayout
from llava_nb.core import IMAGE_TOKEN, RecordError
from llava_nb.data.records import expand2square, load_records, mean_colour, preprocess_images, validate_records
from llava_nb.train.feature_cache import FeatureShards
from llava_nb.smallworld.world import load_world, make_world

COLOUR = (200, 30, 90)
# (width, height): one pixel, one row, one column, and the sizes whose arrays (H, W, 3) look channels-first
TINY = [(1, 1), (7, 1), (1, 7), (3, 3), (3, 1), (1, 3), (2, 5)]


@pytest.fixture(scope="module")
def proc():
    return CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def _normalised(colour, proc):
    "The pixel values (3,) of `colour` after rescaling and normalising."
    return (torch.tensor(colour) / 255 - torch.tensor(proc.image_mean)) / torch.tensor(proc.image_std)


# ---------------------------------------------------------------- tiny images


@pytest.mark.parametrize("size", TINY)
def test_a_tiny_image_of_one_colour_stays_that_colour(size, proc):
    "square mode: resizing a one-colour image keeps its colour; a 1x1 or 3x3 array is not read channels-first."
    px = preprocess_images([Image.new("RGB", size, COLOUR)], proc, mode="square")
    assert px.shape == (1, 3, 32, 32)
    want = _normalised(COLOUR, proc)[:, None, None].expand(3, 32, 32)
    torch.testing.assert_close(px[0], want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", TINY)
def test_a_tiny_image_is_padded_like_any_other(size, proc):
    "pad mode: the same pixels as the processor given the padded image's array, its channels stated as last."
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    want = proc(np.asarray(expand2square(im, mean_colour(proc))), input_data_format="channels_last",
                return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(preprocess_images([im], proc, mode="pad"), want)


@pytest.mark.parametrize("mode,size", [("pad", (1, 3000)), ("square", (3000, 1)), ("square", (1, 3000))])
def test_a_long_thin_image_is_never_blown_up_past_the_pixel_limit(mode, size, proc, monkeypatch):
    "A 1x3000 px image padded is a 3000 px square; resized to a 32 px short side it is 32 x 96000: keep under the limit."
    im = Image.new("RGB", size, COLOUR)
    unbounded = preprocess_images([im], proc, mode=mode)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10**6)
    seen, new, resize = [], Image.new, Image.Image.resize

    def new_(mode_, size_, *a, **k):
        seen.append(size_[0] * size_[1])
        return new(mode_, size_, *a, **k)

    def resize_(self, size_, *a, **k):
        seen.append(size_[0] * size_[1])
        return resize(self, size_, *a, **k)

    monkeypatch.setattr(Image, "new", new_)
    monkeypatch.setattr(Image.Image, "resize", resize_)
    px = preprocess_images([im], proc, mode=mode)
    assert px.shape == (1, 3, 32, 32) and max(seen) <= 10**6, max(seen)
    torch.testing.assert_close(px, unbounded, atol=0.02, rtol=0)  # the same picture, all but rounding


def test_anyres_views_of_a_three_pixel_tower_keep_their_colour():
    "anyres goes through the same rule: 3x3 views (a 3-pixel tile) are not read channels-first."
    layout = AnyresLayout(pinpoints=((3, 6), (6, 3)), tile=3, side=1)
    ip = CLIPImageProcessor(size={"shortest_edge": 3}, crop_size={"height": 3, "width": 3})
    out = layout.pixel_values([Image.new("RGB", (6, 3), COLOUR)], ip)
    assert out.pixel_values.shape == (3, 3, 3, 3) and out.image_sizes == [(3, 6)]
    want = _normalised(COLOUR, ip)[None, :, None, None].expand(3, 3, 3, 3)
    torch.testing.assert_close(out.pixel_values[:, :, 1:2, 1:2], want[:, :, 1:2, 1:2], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.pixel_values[0], want[0], atol=1e-5, rtol=0)  # the global view: the whole image


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from llava_nb.model.llava import LlavaModel
    from llava_nb.tiny import save_tiny_parts

    parts = save_tiny_parts(tmp_path_factory.mktemp("parts"))
    out = {}
    for mode in ("pad", "square", "anyres"):
        m = LlavaModel.from_parts(parts["vision"], parts["llm"], template="vicuna_v1", image_mode=mode)
        torch.manual_seed(0)
        for p in m.projector.parameters():
            torch.nn.init.normal_(p, std=0.3)
        out[mode] = m.eval()
    return out


@pytest.mark.parametrize("mode", ["pad", "square", "anyres"])
def test_the_model_answers_about_tiny_image_files(tiny_models, mode, tmp_path):
    "Through the path chat, serve, ask and eval take: a PNG file -> load_image -> the processor -> generate."
    model = tiny_models[mode]
    for w, h in [(1, 1), (1, 9), (9, 1), (3, 3)]:
        f = tmp_path / f"tiny_{w}x{h}.png"
        Image.new("RGB", (w, h), COLOUR).save(f)
        answer = model.answer(str(f), "What colour is it?", max_new_tokens=3)
        assert isinstance(answer, str)


def test_training_items_with_a_one_pixel_image(tiny_models, tmp_path):
    "Through the path training takes: LlavaDataset reads the file and preprocesses it."
    from llava_nb.model.processor import LlavaDataset

    model = tiny_models["pad"]
    Image.new("RGB", (1, 1), COLOUR).save(tmp_path / "dot.png")
    rec = {"id": "dot", "image": "dot.png",
           "conversations": [{"from": "human", "value": f"{IMAGE_TOKEN}\nWhat is it?"}, {"from": "gpt", "value": "A dot."}]}
    ds = LlavaDataset([rec], model.processor, image_folder=tmp_path)
    px = ds[0]["pixel_values"]
    assert px.shape == (1, 3, 32, 32)
    want = _normalised(COLOUR, model.image_processor)[:, None, None].expand(3, 32, 32)
    torch.testing.assert_close(px[0], want, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- data files


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_latin1_data_file_is_named_with_the_line_and_column(tmp_path, suffix):
    f = tmp_path / f"records{suffix}"
    good = json.dumps({"id": "a", "conversations": []})
    body = '{"id": "caf\xe9", "conversations": []}'
    text = (f"[{good},\n{body}]" if suffix == ".json" else f"{good}\n{body}\n")
    f.write_bytes(text.encode("latin-1"))
    for read in (load_records, validate_records):
        with pytest.raises(RecordError) as e:
            read(f)
        msg = str(e.value)
        assert str(f) in msg and "not UTF-8" in msg and "line 2, column 12" in msg and "0xe9" in msg, msg


def test_a_binary_file_given_as_data_is_named(tmp_path):
    f = tmp_path / "photo.json"
    Image.new("RGB", (4, 4)).save(f, format="PNG")
    with pytest.raises(RecordError, match=f"file {f}: not UTF-8 text"):
        load_records(f)


@pytest.mark.parametrize("suffix,where", [(".json", "line 2, column 1"), (".jsonl", "line 2")])
def test_a_data_file_that_is_not_json_is_named_with_the_position(tmp_path, suffix, where):
    f = tmp_path / f"records{suffix}"
    f.write_text('{"id": "a", "conversations": []}\nhello there\n')
    with pytest.raises(RecordError, match="bad JSON") as e:
        validate_records(f)
    assert str(f) in str(e.value) and where in str(e.value)


def test_a_utf8_file_with_a_byte_order_mark_loads(tmp_path):
    "What Windows' Notepad saves: UTF-8 with a BOM."
    f = tmp_path / "records.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": "caf\xe9", "conversations": []}]).encode())
    assert load_records(f) == [{"id": "caf\xe9", "conversations": []}]


# ---------------------------------------------------------------- the small world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")
    make_world(d, 3, write_images=False)
    return json.loads((d / "scenes.json").read_text())


def _broken(tmp_path, scenes) -> Path:
    (tmp_path / "scenes.json").write_text(scenes if isinstance(scenes, str) else json.dumps(scenes))
    return tmp_path / "scenes.json"


def test_a_world_that_loads_is_unchanged(world, tmp_path):
    assert load_world(_broken(tmp_path, world).parent) == world


def test_a_scenes_file_that_is_not_json_is_named(tmp_path):
    f = _broken(tmp_path, '[{"id": "nw_000000",\n  oops}]')
    with pytest.raises(RecordError, match=r"bad JSON: .*line 2, column 3") as e:
        load_world(tmp_path)
    assert str(f) in str(e.value)


def test_a_latin1_scenes_file_is_named(tmp_path):
    (tmp_path / "scenes.json").write_bytes('[{"id": "caf\xe9"}]'.encode("latin-1"))
    with pytest.raises(RecordError, match="not UTF-8 text"):
        load_world(tmp_path)


def _edit(world, i, **change):
    scenes = json.loads(json.dumps(world))
    for k, v in change.items():
        if v is None:
            del scenes[i][k]
        else:
            scenes[i][k] = v
    return scenes


@pytest.mark.parametrize("change,reason", [
    (dict(objects=None), "missing 'objects'"),
    (dict(objects="cube"), "'objects' must be a list of objects, got str"),
    (dict(objects=[]), "a scene needs at least one object"),
    (dict(objects=[["red", "cube"]]), "object 0: must be a JSON object"),
    (dict(objects=[{"shape": "circle", "color": "red", "size": "small"}]), "object 0: missing 'bbox'"),
    (dict(objects=[{"shape": "circle", "color": "red", "size": "small", "bbox": [0.1, 0.2]}]),
     r"object 0: bbox \[0.1, 0.2\] is not \[x1, y1, x2, y2\]"),
    (dict(objects=[{"shape": "blob", "color": "red", "size": "small", "bbox": [0.1, 0.1, 0.2, 0.2]}]),
     "object 0: shape 'blob' is not one of"),
    (dict(captions=None), "missing 'captions'"),
    (dict(image=None), "missing 'image'"),
])
def test_a_broken_scene_is_named_with_its_file_and_id(world, tmp_path, change, reason):
    f = _broken(tmp_path, _edit(world, 1, **change))
    with pytest.raises(RecordError, match=reason) as e:
        load_world(tmp_path)
    assert e.value.file == f and e.value.record == world[1]["id"], str(e.value)


def test_scenes_that_are_not_a_list_of_objects_are_named(world, tmp_path):
    f = _broken(tmp_path, {"scenes": world})
    with pytest.raises(RecordError, match=f"file {f}: expected a JSON list of scenes, got a JSON dict"):
        load_world(tmp_path)
    _broken(tmp_path, [world[0], "nw_000001"])
    with pytest.raises(RecordError, match="record 1: a scene must be a JSON object, got str"):
        load_world(tmp_path)


def test_datagen_on_a_broken_world_is_one_line(world, tmp_path, capsys):
    from llava_nb.cli import main

    _broken(tmp_path, _edit(world, 2, objects=None))
    code = main(["datagen", "--world", str(tmp_path), "--kind", "conversation", "--teacher", "symbolic",
                 "--out", str(tmp_path / "out.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"file {tmp_path / 'scenes.json'}, record {world[2]['id']}: missing 'objects'" in err, err


# ---------------------------------------------------------------- feature-cache shards


@pytest.fixture
def shards(tmp_path):
    "A feature cache on disk of three images, and its one shard."
    keys = []
    for i in range(3):
        f = tmp_path / "images" / f"{i}.png"
        f.parent.mkdir(exist_ok=True)
        Image.new("RGB", (2, 2), (i, i, i)).save(f)
        keys.append(str(f.resolve()))
    cache = FeatureShards(tmp_path / "features", {"tower": "t"})
    cache.add({k: torch.full((4, 8), float(i)) for i, k in enumerate(keys)})
    (shard,) = (tmp_path / "features").glob("features-*.safetensors")
    return cache, shard, keys


@pytest.mark.parametrize("keep", [-10, 20, 4])
def test_a_cut_shard_is_named_when_the_cache_opens(shards, keep):
    cache, shard, _ = shards
    shard.write_bytes(shard.read_bytes()[:keep])
    with pytest.raises(ValueError, match="cut or corrupt") as e:
        FeatureShards(cache.dir, cache.meta)
    assert str(shard) in str(e.value) and f"delete {cache.dir}" in str(e.value)


def test_a_shard_cut_while_in_use_is_named(shards):
    cache, shard, keys = shards
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(ValueError, match="cut or corrupt") as e:
        cache[keys[0]]
    assert str(shard) in str(e.value) and "rebuild" in str(e.value)


def test_a_missing_shard_is_named(shards):
    cache, shard, _ = shards
    os.remove(shard)
    with pytest.raises(ValueError, match="missing") as e:
        FeatureShards(cache.dir, cache.meta)
    assert str(shard) in str(e.value) and f"delete {cache.dir}" in str(e.value)


def test_a_cut_index_is_named(shards):
    cache, _, _ = shards
    index = cache.dir / FeatureShards.INDEX
    index.write_text(index.read_text()[:30])
    with pytest.raises(ValueError, match="cut or corrupt") as e:
        FeatureShards(cache.dir, cache.meta)
    assert str(index) in str(e.value) and f"delete {cache.dir}" in str(e.value)


def test_a_whole_cache_still_reads(shards):
    cache, _, keys = shards
    again = FeatureShards(cache.dir, cache.meta)
    assert [again[k][0, 0].item() for k in keys] == [0.0, 1.0, 2.0]


# ---------------------------------------------------------------- tokenizer.json


def _cut_tokenizer(tmp_path) -> Path:
    from llava_nb.tiny import save_tiny_parts

    llm = Path(save_tiny_parts(tmp_path / "parts")["llm"])
    tok = llm / "tokenizer.json"
    tok.write_text(tok.read_text()[:2000])
    return tok


def _loaders():
    "Every place a tokenizer folder is read on its own: each must name a cut tokenizer.json."
    from llava_nb.data.inspect import load_tokenizer
    from llava_nb.model.parts import load_llm
    from llava_nb.datagen.teachers import HFBackend

    return {
        "load_llm": load_llm,  # checkpoints, from_parts and training
        "data inspect --tokenizer": load_tokenizer,
        "datagen --teacher hf --model DIR": lambda d: HFBackend(str(d)),
    }


@pytest.mark.parametrize("loader", ["load_llm", "data inspect --tokenizer", "datagen --teacher hf --model DIR"])
def test_a_cut_tokenizer_json_is_named(tmp_path, loader):
    tok = _cut_tokenizer(tmp_path)
    with pytest.raises(ValueError, match="tokenizer.json is not valid JSON") as e:
        _loaders()[loader](tok.parent)
    assert str(tok) in str(e.value)
