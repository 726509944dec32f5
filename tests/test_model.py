"LlavaModel on tiny saved parts (CLIP + Llama, CLIP + Qwen2 with tied embeddings, SigLIP): the checks too slow for the notebook."
import copy
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, pre_tokenizers
from tokenizers import models as tk_models
from transformers import (AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast, SiglipImageProcessor,
                          SiglipVisionConfig, SiglipVisionModel)

from llava_nb.core import IGNORE_INDEX, IMAGE_TOKEN
from llava_nb.data.records import preprocess_images
from llava_nb.model.generation import sample_next, stream_safe
from llava_nb.data.masking import expand_image_tokens
from llava_nb.model.llava import LlavaModel, check_image_counts
from llava_nb.model.config import LlavaConfig, PROJECTOR_NAME
from llava_nb.model.parts import encoder_layers, truncated_tower
from llava_nb.tiny import save_tiny_parts

FAMILIES = ["llama", "qwen2"]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    return {f: save_tiny_parts(root / f, family=f) for f in FAMILIES}


@pytest.fixture(scope="module")
def models(parts):
    return {f: LlavaModel.from_parts(parts[f]["vision"], parts[f]["llm"]) for f in FAMILIES}


def prompt(model, text, n_images=1):
    ids = model.tokenizer(IMAGE_TOKEN * n_images + " " + text).input_ids
    return expand_image_tokens(ids, model.image_token_id, model.num_image_tokens)


def batch(model, texts_and_counts, right_pad=True):
    rows = [prompt(model, t, n) for t, n in texts_and_counts]
    T, pad = max(map(len, rows)), model.tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    labels = ids.masked_fill((ids == model.image_token_id) | (mask == 0), IGNORE_INDEX)
    n = sum(c for _, c in texts_and_counts)
    return dict(input_ids=ids, attention_mask=mask, labels=labels, pixel_values=torch.randn(n, 3, 32, 32),
                image_counts=[c for _, c in texts_and_counts], ids=[f"rec{i}" for i in range(len(rows))])


# ---------------------------------------------------------------- forward, loss, gradients

@pytest.mark.parametrize("family", FAMILIES)
def test_forward_loss_and_gradients(models, family):
    model = models[family]
    b = batch(model, [("a red circle", 1), ("two blue stars", 2), ("no picture here", 0)])
    model.train()
    assert not model.vision_tower.training  # the frozen tower stays in eval mode
    try:
        out = model(**b)  # the collate dict goes straight in (ids only label errors)
        assert out.loss.isfinite()
        out.loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.projector.parameters())
        assert all(p.grad is None for p in model.vision_tower.parameters())
    finally:
        model.zero_grad(set_to_none=True); model.eval()
    T = b["input_ids"].shape[1]
    assert out.logits.shape == (3, T, model.llm.get_input_embeddings().num_embeddings)


def test_loss_ignores_image_positions_and_padding(models):
    model = models["llama"]
    b = batch(model, [("a red circle", 1), ("a green ring on the left", 1)])
    with torch.no_grad():
        loss = model(**b).loss
        logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits
    shift_logits, shift_labels = logits[:, :-1].flatten(0, 1), b["labels"][:, 1:].flatten()
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE_INDEX))


def test_images_change_only_what_follows_them(models):
    "Causal check that the features really land at the image positions: text before the image is untouched."
    model = models["llama"]
    ids = model.tokenizer("a red circle " + IMAGE_TOKEN + " is here").input_ids
    ids = torch.tensor([expand_image_tokens(ids, model.image_token_id, model.num_image_tokens)])
    first = (ids[0] == model.image_token_id).nonzero()[0].item()
    with torch.no_grad():
        a, b = (model(ids, pixel_values=torch.randn(1, 3, 32, 32)).logits for _ in range(2))
    torch.testing.assert_close(a[:, :first], b[:, :first])
    assert not torch.allclose(a[:, first:], b[:, first:])


# ---------------------------------------------------------------- count checks

@pytest.mark.parametrize("counts, n_images, msg", [
    ([1, 1, 2], 4, "batch row 2 (record rec2): 1 <image> placeholder (16 tokens) but 2 images"),
    ([1, 0, 1], 2, "batch row 1 (record rec1): 1 <image> placeholder (16 tokens) but 0 images"),
    ([1, 1], 2, "image_counts has 2 entries for a batch of 3 rows"),
    ([1, 1, 1], 2, "image_counts add up to 3 images but pixel_values holds 2"),
])
def test_count_mismatch_errors(models, counts, n_images, msg):
    model = models["llama"]
    b = batch(model, [("a", 1), ("b", 1), ("c", 1)])
    b.update(image_counts=counts, pixel_values=torch.randn(n_images, 3, 32, 32))
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        model(**b)


def test_count_errors_without_image_counts(models):
    model = models["llama"]
    b = batch(model, [("a", 1), ("b", 0)])
    with pytest.raises(ValueError, match=r"the batch has 1 <image> placeholder \(16 tokens\) but 2 images"):
        model(b["input_ids"], pixel_values=torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="but 0 images"):
        model(b["input_ids"])  # placeholders, no pixel_values
    cut = b["input_ids"][:, 3:]  # BOS and 2 of the 16 image tokens cut off
    with pytest.raises(ValueError, match=r"batch row 0: 14 <image> tokens \(not a multiple of the 16"):
        model(cut, pixel_values=torch.randn(1, 3, 32, 32))
    check_image_counts([0, 0], 0, 16)  # text-only batches are fine


# ---------------------------------------------------------------- vision features

@pytest.mark.parametrize("layer", [-2, -1, 0, 1, 2])
@pytest.mark.parametrize("select", ["patch", "cls_patch"])
def test_features_equal_full_tower_hidden_state(parts, layer, select):
    p = parts["llama"]
    model = LlavaModel.from_parts(p["vision"], p["llm"], projector_type="linear", vision_feature_layer=layer, vision_feature_select=select)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = model.vision_tower(pixel_values=x, output_hidden_states=True).hidden_states[layer]
        if select == "patch": full = full[:, 1:]
        expected = model.projector(full)
        got = model.encode_images(x)
    assert got.shape == (2, model.num_image_tokens, 64)
    assert model.num_image_tokens == (16 if select == "patch" else 17)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


def test_truncated_tower_runs_fewer_layers_and_leaves_the_tower_whole(models):
    model = models["llama"]
    parent, attr = encoder_layers(model.vision_tower)
    blocks = getattr(parent, attr)
    calls = []
    hooks = [b.register_forward_hook(lambda m, i, o, k=k: calls.append(k)) for k, b in enumerate(blocks)]
    try:
        model.encode_images(torch.randn(1, 3, 32, 32))
        assert calls == [0, 1]  # 3 layers, feature layer -2: the last one never runs
        calls.clear()
        with torch.no_grad(): model.vision_tower(pixel_values=torch.randn(1, 3, 32, 32))
        assert calls == [0, 1, 2]  # the tower itself is never cut
        with pytest.raises(RuntimeError):
            model.encode_images(torch.randn(1, 4, 32, 32))  # wrong channels fail inside the truncated run
        assert getattr(parent, attr) is blocks
    finally:
        for h in hooks: h.remove()
    keys = model.vision_tower.state_dict().keys()
    assert any(".layers.2." in k for k in keys)  # all weights stay in the module (and in checkpoints)
    roots = {k.split(".")[0] for k in model.state_dict()}
    assert roots == {"vision_tower", "projector", "llm"}   # the truncated view adds no second copy of the weights


def test_two_threads_encode_at_once_and_dtype_moves_follow(models):
    model = models["llama"]
    x = torch.randn(4, 3, 32, 32)
    alone = model.encode_images(x)
    outs = [None] * 8
    def work(i): outs[i] = model.encode_images(x)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    for o in outs: torch.testing.assert_close(o, alone, atol=1e-6, rtol=0)
    half = copy.deepcopy(model).to(torch.bfloat16)
    assert half.image_features(x).dtype == torch.bfloat16   # the truncated view shares the converted weights


def test_towers_without_a_known_layer_list_run_in_full(parts, monkeypatch):
    p = parts["llama"]
    model = LlavaModel.from_parts(p["vision"], p["llm"], projector_type="linear")
    x = torch.randn(2, 3, 32, 32)
    truncated = model.encode_images(x)
    no_blocks = torch.nn.Module()
    no_blocks.config = SimpleNamespace(num_hidden_layers=3)
    assert truncated_tower(no_blocks, 2) is None   # nothing to cut: the model runs the tower in full
    monkeypatch.setattr(model, "_short_tower", None)
    torch.testing.assert_close(model.encode_images(x), truncated, atol=1e-6, rtol=0)


def test_siglip_tower_has_no_cls(tmp_path, parts):
    cfg = SiglipVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4)
    SiglipVisionModel(cfg).save_pretrained(tmp_path / "siglip")
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "siglip")
    model = LlavaModel.from_parts(tmp_path / "siglip", parts["llama"]["llm"])
    assert type(model.vision_tower).__name__ == "SiglipVisionModel"
    assert model.num_image_tokens == 16
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.projector(model.vision_tower(pixel_values=x, output_hidden_states=True).hidden_states[-2])
        torch.testing.assert_close(model.encode_images(x), expected, atol=1e-6, rtol=0)
    with torch.no_grad():
        assert model(torch.tensor([prompt(model, "a star")]), pixel_values=x[:1]).logits.isfinite().all()


# ---------------------------------------------------------------- generation

@pytest.mark.parametrize("family", FAMILIES)
def test_kv_cache_matches_recomputation(models, family):
    model, px = models[family], torch.randn(1, 3, 32, 32)
    ids = [prompt(model, "what color is the circle")]
    a = model.generate(ids, pixel_values=px, max_new_tokens=20)
    b = model.generate(ids, pixel_values=px, max_new_tokens=20, use_cache=False)
    assert a.token_ids == b.token_ids and a.texts == b.texts
    assert len(a.token_ids[0]) == 20 or a.finish_reasons == ["eos"]


@pytest.mark.parametrize("family", FAMILIES)
def test_left_padded_batch_equals_single_prompts(models, family):
    model = models[family]
    px = torch.randn(3, 3, 32, 32)
    rows = [prompt(model, "a", 1), prompt(model, "what is on the left of the big blue star", 2)]
    alone = [model.generate([rows[0]], pixel_values=px[:1], max_new_tokens=10).token_ids[0],
             model.generate([rows[1]], pixel_values=px[1:], max_new_tokens=10).token_ids[0]]
    together = model.generate(rows, pixel_values=px, image_counts=[1, 2], max_new_tokens=10)
    assert together.token_ids == alone
    # a right-padded tensor with its attention mask is the same request
    T = max(map(len, rows))
    ids = torch.tensor([r + [0] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    assert model.generate(ids, mask, pixel_values=px, max_new_tokens=10).token_ids == alone


def test_text_only_batch(models):
    model = models["qwen2"]
    tok = model.tokenizer
    rows = [tok("hello").input_ids, tok("what shape is the red one").input_ids]
    out = model.generate(rows, max_new_tokens=6)
    assert out.token_ids[1] == model.generate(rows[1:], max_new_tokens=6).token_ids[0]
    assert all(isinstance(t, str) for t in out.texts)


def test_eos_stops_a_row_and_is_not_in_the_text(models, monkeypatch):
    model = models["llama"]
    ids = [model.tokenizer("the blue star").input_ids]
    free = model.generate(ids, max_new_tokens=8)
    third = free.token_ids[0][2]
    monkeypatch.setattr(model, "eos_ids", lambda: {third})
    out = model.generate(ids, max_new_tokens=8)
    k = free.token_ids[0].index(third)
    assert out.token_ids[0] == free.token_ids[0][:k + 1] and out.finish_reasons == ["eos"]
    assert out.texts[0] == model.tokenizer.decode(free.token_ids[0][:k], skip_special_tokens=True)


def test_eos_ids_include_config_and_special_stop_tokens(models):
    model = models["qwen2"]
    assert model.tokenizer.eos_token_id in model.eos_ids()
    ids = [model.tokenizer("the blue star").input_ids]
    free = model.generate(ids, max_new_tokens=8)
    special = model.tokenizer.convert_ids_to_tokens(free.token_ids[0][1])
    if special in model.tokenizer.all_special_tokens:  # a special-token stop string acts as an EOS
        assert model.generate(ids, max_new_tokens=8, stop=[special]).finish_reasons == ["eos"]


@pytest.mark.parametrize("family", FAMILIES)
def test_stop_strings_cut_the_text(models, family):
    model = models[family]
    ids = [model.tokenizer("a big red heart").input_ids]
    free = model.generate(ids, max_new_tokens=16)
    text = free.texts[0]
    assert len(text) >= 6
    for stop in (text[3:5], text[-2:], [text[4:6], text[2:3]]):
        stops = stop if isinstance(stop, list) else [stop]
        out = model.generate(ids, max_new_tokens=16, stop=stops)
        cut = min(text.find(s) for s in stops)
        assert out.texts[0] == text[:cut] and out.finish_reasons == ["stop"]
        assert free.token_ids[0][:len(out.token_ids[0])] == out.token_ids[0]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", range(8))
def test_stream_deltas_add_up(models, family, seed):
    model = models[family]
    ids = [prompt(model, "describe the picture")]
    px = torch.randn(1, 3, 32, 32)
    pieces = []
    out = model.generate(ids, pixel_values=px, max_new_tokens=24, temperature=1.0, top_p=0.95, seed=seed, stream=pieces.append,
                         stop=[" the", "\n"])
    assert "".join(pieces) == out.texts[0]
    assert all(pieces)
    assert not any("\ufffd" == p[-1:] for p in pieces[:-1])


def test_stream_needs_one_row(models):
    model = models["llama"]
    with pytest.raises(ValueError, match="stream needs a batch of 1"):
        model.generate([[1, 2], [1, 3]], stream=print)


def test_sampling_is_seeded_and_top_p_tiny_is_greedy(models):
    model = models["llama"]
    ids = [model.tokenizer("two small squares").input_ids]
    a = model.generate(ids, max_new_tokens=12, temperature=1.0, seed=3)
    b = model.generate(ids, max_new_tokens=12, temperature=1.0, seed=3)
    c = model.generate(ids, max_new_tokens=12, temperature=1.0, seed=4)
    assert a.token_ids == b.token_ids and a.token_ids != c.token_ids
    greedy = model.generate(ids, max_new_tokens=12)
    assert model.generate(ids, max_new_tokens=12, temperature=0.7, top_p=1e-9, seed=0).token_ids == greedy.token_ids
    g = torch.Generator().manual_seed(0)
    assert model.generate(ids, max_new_tokens=12, temperature=1.0, generator=g).token_ids != greedy.token_ids


def test_sample_next_respects_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    draws = torch.cat([sample_next(logits.expand(500, 4), 1.0, top_p=0.75, generator=g)])
    assert set(draws.tolist()) == {0, 1}  # 0.5 + 0.3 >= 0.75: the nucleus is the first two
    draws = sample_next(logits.expand(4000, 4), 1.0, top_p=1.0, generator=g)
    freq = torch.bincount(draws, minlength=4).float() / 4000
    torch.testing.assert_close(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03, rtol=0)


def test_stream_safe():
    assert stream_safe("ab\ufffd\ufffd") == "ab"
    assert stream_safe("USER said AS", ["ASSISTANT:"]) == "USER said "
    assert stream_safe("done.", ["ASSISTANT:"]) == "done."


@pytest.mark.parametrize("family, template", [("llama", "vicuna_v1"), ("llama", "llama_2"), ("qwen2", "chatml"), ("qwen2", "hf"), ("llama", "plain")])
def test_answer_uses_the_template(parts, family, template):
    p = parts[family]
    model = LlavaModel.from_parts(p["vision"], p["llm"], template=template)
    img = Image.new("RGB", (40, 24), (10, 200, 40))
    conv = [{"from": "human", "value": f"{IMAGE_TOKEN}\nWhat is it?"}]
    prompt = model.template.generation_prompt(conv, model.tokenizer)  # tokenized by hand, not through the processor
    plain = model.tokenizer(prompt, add_special_tokens=model.template.special_tokens_for(prompt, model.tokenizer)).input_ids
    ids = expand_image_tokens(plain, model.image_token_id, model.num_image_tokens)
    stop = model.template.stop_strings(model.tokenizer)
    expected = model.generate([ids], pixel_values=preprocess_images([img], model.image_processor, "pad"), max_new_tokens=6, stop=stop)
    assert model.answer(img, "What is it?", max_new_tokens=6) == expected.texts[0]
    if template != "plain":  # plain is stage 1's caption format: one round, always with an image
        assert isinstance(model.answer(None, "Hi", history=[("Hello", "Hi there.")], max_new_tokens=3), str)


def test_answer_accepts_a_path(tmp_path, models):
    model = models["llama"]
    Image.new("RGB", (20, 30), (0, 0, 255)).save(tmp_path / "blue.png")
    a = model.answer(tmp_path / "blue.png", "colour?", max_new_tokens=4)
    b = model.answer(Image.open(tmp_path / "blue.png"), "colour?", max_new_tokens=4)
    assert a == b


# ---------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("stage", [1, 2])
def test_save_load_round_trip(tmp_path, parts, family, stage):
    p = parts[family]
    model = LlavaModel.from_parts(p["vision"], p["llm"], template="chatml" if family == "qwen2" else "vicuna_v1")
    with torch.no_grad():  # make the checkpoint differ from the base parts
        for w in model.projector.parameters(): w.add_(0.01)
        if stage == 2:
            for w in model.llm.parameters(): w.mul_(1.01)
    b = batch(model, [("a red circle", 1), ("two", 2)])
    b.pop("labels")
    with torch.no_grad(): ref = model(**b).logits
    ckpt = model.save_pretrained(tmp_path / "ckpt", stage=stage)
    files = sorted(str(f.relative_to(ckpt)) for f in ckpt.rglob("*") if f.is_file())
    assert {"config.json", PROJECTOR_NAME, "tokenizer_config.json", "preprocessor_config.json"} <= set(files)
    assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl")) for f in files)
    assert (ckpt / "llm").exists() == (ckpt / "vision_tower").exists() == (stage == 2)
    cfg = json.loads((ckpt / "config.json").read_text())
    assert cfg["llava_nb"]["format"] == 1 and cfg["stage"] == stage and cfg["text_config"]["model_type"] == family
    back = LlavaModel.from_pretrained(ckpt)
    assert back.config.template == model.config.template and back.num_image_tokens == model.num_image_tokens
    with torch.no_grad(): got = back(**b).logits
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)
    if family == "qwen2" and stage == 2:
        assert back.llm.get_output_embeddings().weight is back.llm.get_input_embeddings().weight  # still tied
    assert back.generate([prompt(back, "x")], pixel_values=b["pixel_values"][:1], max_new_tokens=5).token_ids == \
        model.generate([prompt(model, "x")], pixel_values=b["pixel_values"][:1], max_new_tokens=5).token_ids


def test_stage1_over_stage2_removes_stale_parts(tmp_path, models):
    model = models["llama"]
    model.save_pretrained(tmp_path, stage=2)
    with pytest.warns(UserWarning, match="removing"):
        model.save_pretrained(tmp_path, stage=1)
    assert not (tmp_path / "llm").exists()
    model.config.stage = 0


def test_checkpoint_errors(tmp_path, parts, models):
    model = models["llama"]
    with pytest.raises(FileNotFoundError, match="is not a llava_nb checkpoint"):
        LlavaModel.from_pretrained(tmp_path / "empty")
    ckpt = model.save_pretrained(tmp_path / "ok", stage=1)
    model.config.stage = 0
    (ckpt / PROJECTOR_NAME).rename(tmp_path / "proj.safetensors")
    with pytest.raises(FileNotFoundError, match="projector.safetensors not found"):
        LlavaModel.from_pretrained(ckpt)
    state = load_file(str(tmp_path / "proj.safetensors"))
    state["2.weight"] = torch.zeros(64, 32)
    save_file(state, str(ckpt / PROJECTOR_NAME))
    with pytest.raises(ValueError, match=r"projector.safetensors: 2.weight has shape \(64, 32\) but a mlp2x_gelu projector \(32 -> 64\) needs \(64, 64\)"):
        LlavaModel.from_pretrained(ckpt)
    save_file({"weight": torch.zeros(64, 32), "bias": torch.zeros(64)}, str(ckpt / PROJECTOR_NAME))
    with pytest.raises(ValueError, match="do not fit a mlp2x_gelu projector"):
        LlavaModel.from_pretrained(ckpt)
    (ckpt / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(ValueError, match="is not a llava_nb config"):
        LlavaModel.from_pretrained(ckpt)
    future = LlavaConfig("a", "b").to_dict(); future["llava_nb"]["format"] = 99
    (ckpt / "config.json").write_text(json.dumps(future))
    with pytest.raises(ValueError, match="format 99"):
        LlavaModel.from_pretrained(ckpt)


# ---------------------------------------------------------------- tokenizers without <image> or pad

def _plain_parts(path: Path, tie: bool):
    "An LM whose tokenizer knows neither <image> nor a pad token."
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "a", "red", "circle", "blue", "star", "is", "the"])}
    tk = Tokenizer(tk_models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                      num_key_value_heads=2, tie_word_embeddings=tie, eos_token_id=2, bos_token_id=1)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("tie", [False, True])
def test_image_token_is_added_deterministically(tmp_path, parts, tie):
    llm_dir = _plain_parts(tmp_path / "lm", tie)
    model = LlavaModel.from_parts(parts["llama"]["vision"], llm_dir)
    tok = model.tokenizer
    assert model.image_token_id == 10 and tok.pad_token == "<unk>"
    assert tok("a " + IMAGE_TOKEN + " red").input_ids == [3, 10, 4]
    assert model.llm.get_input_embeddings().num_embeddings == 11
    ids = torch.tensor([prompt(model, "red circle")])
    px = torch.randn(1, 3, 32, 32)
    with torch.no_grad(): ref = model(ids, pixel_values=px).logits
    again = LlavaModel.from_parts(parts["llama"]["vision"], llm_dir)  # same resize on a fresh load
    again.projector.load_state_dict(model.projector.state_dict())
    with torch.no_grad(): torch.testing.assert_close(again(ids, pixel_values=px).logits, ref)
    back = LlavaModel.from_pretrained(model.save_pretrained(tmp_path / "ckpt", stage=1))
    with torch.no_grad(): torch.testing.assert_close(back(ids, pixel_values=px).logits, ref)


def test_bf16_loading(parts):
    p = parts["qwen2"]
    model = LlavaModel.from_parts(p["vision"], p["llm"], dtype="bf16")
    assert model.llm.dtype == model.vision_tower.dtype == next(model.projector.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        out = model(torch.tensor([prompt(model, "hi")]), pixel_values=torch.randn(1, 3, 32, 32))
    assert out.logits.dtype == torch.bfloat16 and out.logits.isfinite().all()
    assert len(model.generate([prompt(model, "hi")], pixel_values=torch.randn(1, 3, 32, 32), max_new_tokens=3).token_ids[0]) >= 1


def test_pickled_weights_are_never_loaded(tmp_path, parts):
    from llava_nb.model.parts import load_llm, load_vision_tower
    llm = AutoModelForCausalLM.from_pretrained(parts["llama"]["llm"])
    llm.save_pretrained(tmp_path / "pickled", safe_serialization=False)
    assert (tmp_path / "pickled" / "pytorch_model.bin").is_file()
    with pytest.raises(ValueError, match=r"pickled.*pytorch_model.bin.*never loads"):
        load_llm(tmp_path / "pickled")
    with pytest.raises(ValueError, match="safetensors"):
        load_vision_tower(tmp_path / "pickled")
    load_llm(parts["llama"]["llm"])   # safetensors: fine
