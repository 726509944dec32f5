"""LLaVA-1.6 anyres: grid choice, views, token counts and unpadding against transformers' LLaVA-NeXT; export to and
import from `LlavaNextForConditionalGeneration` with logits and greedy parity; training on the `train` path."""
import json
import random

import pytest
import torch
from matplotlib import cbook
from safetensors.torch import load_file
from transformers import AutoProcessor, LlavaNextForConditionalGeneration, LlavaNextImageProcessor, LlavaNextProcessor
from transformers.image_processing_utils import select_best_resolution as hf_select_best_resolution
from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches, unpad_image

from llava_nb.data.anyres import AnyresImages, AnyresLayout, grid_pinpoints, select_best_resolution
from llava_nb.core import RecordError
from llava_nb.data.records import load_image
from llava_nb.model.hf import META_NAME, anyres_from_hf, export_hf, load_model
from llava_nb.data.masking import collate, tokenize_conversation
from llava_nb.model.llava import LlavaModel
from llava_nb.model.processor import LlavaProcessor
from llava_nb.model.config import LlavaConfig, PROJECTOR_NAME
from llava_nb.tiny import save_tiny_parts, tiny_clip_vision, tiny_llama_tokenizer
from llava_nb.train.loop import train
from llava_nb.train.config import TrainConfig

HOPPER = load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))  # 512 x 600 (width x height)
IMAGES = {  # every unpadding direction, an exact fit, a tiny image, odd sizes
    "portrait": HOPPER,
    "wide": HOPPER.crop((0, 150, 512, 300)),
    "tall": HOPPER.crop((100, 0, 180, 600)),
    "small": HOPPER.resize((20, 13)),
    "odd": HOPPER.resize((333, 77)),
}
QUESTION = "What is in the picture?"
PINS = [[32, 64], [64, 32], [64, 64], [32, 96], [96, 32], [96, 96]]


def _sizes(n, seed=0, hi=2000):
    rng = random.Random(seed)
    return [(rng.randint(1, hi), rng.randint(1, hi)) for _ in range(n)]


@pytest.mark.parametrize("pins", [grid_pinpoints(336), PINS, [[32, 32], [64, 96], [96, 64], [32, 128]]])
def test_grid_choice_matches_transformers(pins):
    for size in _sizes(500) + [(336, 672), (1, 1), (1000, 1)]:
        assert select_best_resolution(size, pins) == hf_select_best_resolution(size, pins), size


@pytest.mark.parametrize("tile,patch", [(336, 14), (32, 8)])
def test_token_and_view_counts_match_llava_next(tile, patch):
    "The count `<image>` is expanded to, as LlavaNextProcessor computes it (CLS dropped), and the views per image."
    pins = grid_pinpoints(tile) + [[3 * tile, 3 * tile]]
    layout = AnyresLayout(tuple(map(tuple, pins)), tile, tile // patch)
    ip = LlavaNextImageProcessor(size={"shortest_edge": tile}, crop_size=tile, image_grid_pinpoints=pins)
    proc = LlavaNextProcessor(ip, tiny_llama_tokenizer(), patch_size=patch, vision_feature_select_strategy="default",
                              num_additional_image_tokens=1)
    sizes = _sizes(300, seed=1) + [(600, 512), (150, 512), (tile, 2 * tile), (7, 3000)]
    theirs = proc._get_num_multimodal_tokens(image_sizes=sizes).num_image_tokens
    assert [layout.num_tokens(s) for s in sizes] == theirs
    assert [layout.num_views(s) for s in sizes] == [image_size_to_num_patches(s, pins, tile) for s in sizes]


def test_unpadding_matches_transformers():
    layout = AnyresLayout(tuple(map(tuple, grid_pinpoints(336))), 336, 24)
    for size in _sizes(300, seed=2):
        rows, cols = layout.grid(size)
        top, bottom, left, right = layout.feature_box(size)
        kept = unpad_image(torch.zeros(1, rows * 24, cols * 24), size)  # (D, h, w)
        assert kept.shape[1:] == (bottom - top, right - left), size


@pytest.fixture(scope="module")
def tower():
    return tiny_clip_vision(image_size=32, patch_size=8)


@pytest.mark.parametrize("name", list(IMAGES))
def test_views_equal_llava_next_image_processor(tower, name):
    _, proc = tower
    layout = AnyresLayout(tuple(map(tuple, PINS)), 32, 4)
    ours = layout.pixel_values([IMAGES[name]], proc)
    ip = LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size=32, image_grid_pinpoints=PINS)
    theirs = ip(IMAGES[name], return_tensors="pt")
    assert ours.image_sizes == [tuple(theirs["image_sizes"][0].tolist())]
    torch.testing.assert_close(ours.pixel_values, theirs["pixel_values"][0], atol=1e-5, rtol=0)


def _model(tmp_path, family, template, pins=None):
    parts = save_tiny_parts(tmp_path / "parts", family=family)
    m = LlavaModel.from_parts(parts["vision"], parts["llm"], template=template, image_mode="anyres",
                              image_grid_pinpoints=pins)
    torch.manual_seed(1)
    for p in m.projector.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return m


def _prompt(proc):
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    return proc.apply_chat_template(msgs, add_generation_prompt=True)


@pytest.mark.parametrize("family,template", [("llama", "vicuna_v1"), ("qwen2", "chatml")])
def test_export_logits_and_greedy_parity(tmp_path, family, template):
    model = _model(tmp_path, family, template, pins=PINS)
    out = export_hf(model, tmp_path / "hf")
    hf = LlavaNextForConditionalGeneration.from_pretrained(out).eval()
    proc = AutoProcessor.from_pretrained(out)
    assert type(proc).__name__ == "LlavaNextProcessor" and hf.config.image_grid_pinpoints == PINS
    prompt = _prompt(proc)
    assert prompt == model.template.generation_prompt([{"from": "human", "value": "<image>\n" + QUESTION}],
                                                      model.tokenizer)
    # a batch of every shape at once: variable image-token counts, padded rows, views padded by HF's processor
    names = list(IMAGES)
    inputs = proc(images=[IMAGES[n] for n in names], text=[prompt] * len(names), padding=True, return_tensors="pt")
    ours_inputs = [model.processor(QUESTION, IMAGES[n]) for n in names]
    for r, n in enumerate(names):
        ids = ours_inputs[r]["input_ids"][0]
        assert inputs["input_ids"][r, : len(ids)].tolist() == ids, n  # the same prompt, the same image-token count
    counts = {n: ours_inputs[r]["input_ids"][0].count(model.image_token_id) for r, n in enumerate(names)}
    assert len(set(counts.values())) == len(counts)  # every shape a different count
    images = AnyresImages.cat([o["pixel_values"] for o in ours_inputs])
    with torch.no_grad():
        ours = model(inputs["input_ids"], inputs["attention_mask"], images, image_counts=[1] * len(names)).logits
        theirs = hf(**inputs).logits
        via_hf_pixels = model(inputs["input_ids"], inputs["attention_mask"],
                              anyres_from_hf(inputs["pixel_values"], inputs["image_sizes"], model.anyres),
                              image_counts=[1] * len(names)).logits
    real = inputs["attention_mask"].bool()
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(via_hf_pixels, ours, atol=1e-5, rtol=0)
    for n in ("portrait", "wide"):  # greedy, token for token, and the text `answer` gives
        one = proc(images=IMAGES[n], text=prompt, return_tensors="pt")
        gen = hf.generate(**one, max_new_tokens=10, do_sample=False)[0, one["input_ids"].shape[1]:]
        mine = model.generate([one["input_ids"][0].tolist()], pixel_values=model.processor.pixel_values([IMAGES[n]]),
                              max_new_tokens=10).token_ids[0]
        assert len(mine) > 0 and gen.tolist()[: len(mine)] == list(mine)
        assert model.answer(IMAGES[n], QUESTION, max_new_tokens=10) == proc.tokenizer.decode(gen, skip_special_tokens=True)
    # and back again, with and without our meta file (a community LLaVA-NeXT directory has none)
    for drop_meta in (False, True):
        if drop_meta:
            (out / META_NAME).unlink()
        back = load_model(out)
        assert back.config.image_mode == "anyres" and back.config.image_grid_pinpoints == PINS
        with torch.no_grad():
            torch.testing.assert_close(back(inputs["input_ids"], inputs["attention_mask"], images,
                                            image_counts=[1] * len(names)).logits[real], ours[real], atol=1e-5, rtol=0)


def test_counts_per_image_in_masking_and_collate(tower):
    tok = tiny_llama_tokenizer()
    conv = [{"from": "human", "value": "<image>\n<image>\nSame?"}, {"from": "gpt", "value": "No."}]
    t = tokenize_conversation(conv, tok, "vicuna_v1", num_image_tokens=[3, 5])
    img = tok.convert_tokens_to_ids("<image>")
    runs = "".join("i" if x == img else "." for x in t.input_ids)
    assert runs.count("i") == 8 and "iii" + "." in runs and "iiiii" in runs
    with pytest.raises(RecordError, match="2 <image> in the conversation but 1 image token counts"):
        tokenize_conversation(conv, tok, "vicuna_v1", num_image_tokens=[3], record="r7")
    _, proc = tower
    layout = AnyresLayout(tuple(map(tuple, PINS)), 32, 4)
    rows = [{"id": "a", "input_ids": torch.ones(4), "labels": torch.ones(4), "pixel_values": layout.pixel_values(HOPPER, proc)},
            {"id": "b", "input_ids": torch.ones(2), "labels": torch.ones(2), "pixel_values": None},
            {"id": "c", "input_ids": torch.ones(3), "labels": torch.ones(3),
             "pixel_values": layout.pixel_values([IMAGES["wide"], IMAGES["small"]], proc)}]
    batch = collate(rows, pad_token_id=0)
    assert batch["image_counts"] == [1, 0, 2]
    assert batch["pixel_values"].image_sizes == [(600, 512), (150, 512), (13, 20)]
    assert batch["pixel_values"].pixel_values.shape[0] == sum(layout.num_views(s) for s in batch["pixel_values"].image_sizes)


def test_configuration_errors(tmp_path):
    with pytest.raises(ValueError, match="use vision_feature_select='patch'"):
        LlavaConfig("v", "l", image_mode="anyres", vision_feature_select="cls_patch")
    with pytest.raises(ValueError, match="image_grid_pinpoints are anyres grids"):
        LlavaConfig("v", "l", image_grid_pinpoints=[[64, 32]])
    with pytest.raises(ValueError, match="anyres images vary"):
        TrainConfig(image_mode="anyres", cache_features=True)
    parts = save_tiny_parts(tmp_path / "parts")
    with pytest.raises(ValueError, match=r"\[\[48, 32\]\] are not multiples of the tower's 32 px"):
        LlavaModel.from_parts(parts["vision"], parts["llm"], image_mode="anyres", image_grid_pinpoints=[[48, 32]])
    model = LlavaModel.from_parts(parts["vision"], parts["llm"], image_mode="anyres")
    ids = model.processor(QUESTION, HOPPER)["input_ids"]
    with pytest.raises(ValueError, match="this model's image_mode is 'anyres', but it was given a tensor"):
        model(torch.tensor(ids), pixel_values=torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="pass image_sizes"):
        model.processor.prompt_ids(model.processor.conversation(QUESTION, image=True))


def _records(folder):
    "Eight records over images of four shapes, written to `folder`."
    folder.mkdir()
    recs = []
    for i, (name, im) in enumerate(list(IMAGES.items())[:4] * 2):
        im.save(folder / f"{name}.png")
        conv = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": f"A {name} one, number {i}."}]
        recs.append({"id": f"r{i}", "image": f"{name}.png", "conversations": conv})
    (folder / "data.json").write_text(json.dumps(recs))
    return folder / "data.json"


def test_train_stage1_then_stage2_with_anyres(tmp_path):
    parts = save_tiny_parts(tmp_path / "parts")
    data = _records(tmp_path / "images")
    common = dict(data_path=str(data), image_folder=str(data.parent), image_mode="anyres", image_grid_pinpoints=PINS,
                  lr=1e-2, batch_size=4, max_steps=2, progress=False, group_by_length=True)
    s1 = train(TrainConfig(stage=1, output_dir=str(tmp_path / "s1"), vision_tower=parts["vision"], llm=parts["llm"],
                           **common))
    saved = load_file(str((tmp_path / "s1" / "final") / PROJECTOR_NAME))
    assert "image_newline" in saved and torch.isfinite(torch.tensor(s1.final_loss))
    s2 = train(TrainConfig(stage=2, output_dir=str(tmp_path / "s2"), stage1_dir=str(tmp_path / "s1" / "final"),
                           **common))
    back = LlavaModel.from_pretrained(s2.checkpoint)
    assert back.config.image_mode == "anyres" and back.config.image_grid_pinpoints == PINS
    assert not torch.equal(back.projector.image_newline, saved["image_newline"])  # stage 2 trained it further
    inputs = back.processor(QUESTION, IMAGES["tall"])
    with torch.no_grad():
        torch.testing.assert_close(back(torch.tensor(inputs["input_ids"]), pixel_values=inputs["pixel_values"]).logits,
                                   s2.model.eval()(torch.tensor(inputs["input_ids"]), pixel_values=inputs["pixel_values"]).logits)


def test_chat_and_batched_answers_see_each_image_at_its_own_size(tmp_path):
    "ChatSession, `answer_batch` (eval) and `answer` agree on an anyres model, images of different shapes in one batch."
    from llava_nb.chat.session import ChatSession, attention_to_image, seen_image
    from llava_nb.eval.metrics import answer_batch

    m = _model(tmp_path, "llama", "vicuna_v1", PINS).eval()
    names = ["wide", "tall", "odd"]
    single = [m.answer(IMAGES[n], QUESTION, max_new_tokens=6, temperature=0).strip() for n in names]
    items = [{"question": QUESTION, "image": IMAGES[n], "id": n} for n in names]
    assert answer_batch(m, items, max_new_tokens=6, progress=False) == single
    chat = ChatSession(m, image=IMAGES["tall"], max_new_tokens=6)
    assert chat.ask(QUESTION).answer.strip() == single[1]
    heat = attention_to_image(chat)
    side = m.anyres.side
    assert heat.shape == (side, side) and abs(float(heat.sum()) - 1) < 1e-4  # the global view's map
    assert seen_image(chat).shape == (m.anyres.tile, m.anyres.tile, 3)


@pytest.mark.parametrize("pins", [None, [[64, 32], [32, 64]]])
def test_processor_from_pretrained_equals_the_models_own(tmp_path, pins):
    "A saved anyres checkpoint's processor, weights not loaded, makes the same inputs as the loaded model's."
    m = _model(tmp_path, "llama", "vicuna_v1", pins)
    m.save_pretrained(tmp_path / "ckpt")
    ours, theirs = LlavaProcessor.from_pretrained(tmp_path / "ckpt"), m.processor
    assert ours.anyres == theirs.anyres and ours.num_image_tokens == theirs.num_image_tokens
    for name in ("wide", "tall"):
        a, b = ours(QUESTION, IMAGES[name]), theirs(QUESTION, IMAGES[name])
        assert a["input_ids"] == b["input_ids"]
        torch.testing.assert_close(a["pixel_values"].pixel_values, b["pixel_values"].pixel_values, atol=0, rtol=0)
