"""Export to / import from transformers' LlavaForConditionalGeneration: logits and greedy parity, both LM families."""
import json
import shutil

import pytest
import torch
from matplotlib import cbook
from transformers import AutoProcessor, LlavaForConditionalGeneration

from llava_nb.data.records import load_image
from llava_nb.model.hf import META_NAME, export_hf, import_hf, load_model, to_hf_model
from llava_nb.model.llava import LlavaModel
from llava_nb.tiny import save_tiny_parts

IMG = load_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
QUESTION = "What is in the picture?"


def _model(tmp_path, family, projector, template, select="patch"):
    parts = save_tiny_parts(tmp_path / "parts", family=family)
    m = LlavaModel.from_parts(parts["vision"], parts["llm"], projector, template=template, vision_feature_select=select)
    torch.manual_seed(1)
    for p in m.projector.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return m


def _hf_inputs(proc, question, history=()):
    msgs = []
    for i, (q, a) in enumerate(history):
        content = ([{"type": "image"}] if i == 0 else []) + [{"type": "text", "text": q}]
        msgs += [{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text", "text": a}]}]
    content = ([] if history else [{"type": "image"}]) + [{"type": "text", "text": question}]
    msgs.append({"role": "user", "content": content})
    prompt = proc.apply_chat_template(msgs, add_generation_prompt=True)
    return prompt, proc(images=IMG, text=prompt, return_tensors="pt")


CASES = [("llama", "mlp2x_gelu", "vicuna_v1", "patch"), ("llama", "linear", "llama_2", "cls_patch"),
         ("qwen2", "mlp2x_gelu", "chatml", "patch"), ("qwen2", "identity", "plain", "patch")]


@pytest.mark.parametrize("family,projector,template,select", CASES)
def test_export_logits_and_greedy_parity(tmp_path, family, projector, template, select):
    if projector == "identity":  # identity needs equal widths: a tower as wide as the LM
        parts = save_tiny_parts(tmp_path / "parts", family=family, hidden_size=64)
        model = LlavaModel.from_parts(parts["vision"], parts["llm"], projector, template=template)
    else:
        model = _model(tmp_path, family, projector, template, select)
    out = export_hf(model, tmp_path / "hf")
    hf = LlavaForConditionalGeneration.from_pretrained(out).eval()
    proc = AutoProcessor.from_pretrained(out)
    if template == "plain":
        prompt, inputs = "<image>", proc(images=IMG, text="<image>", return_tensors="pt")
    else:
        prompt, inputs = _hf_inputs(proc, QUESTION)
        conv = [{"from": "human", "value": "<image>\n" + QUESTION}]
        assert prompt == model.template.generation_prompt(conv, model.tokenizer)
    assert (inputs["input_ids"] == model.image_token_id).sum().item() == model.num_image_tokens
    with torch.no_grad():
        ours = model(inputs["input_ids"], pixel_values=inputs["pixel_values"]).logits
        theirs = hf(**inputs).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    with torch.no_grad():  # the in-memory conversion too (no save/load in between)
        torch.testing.assert_close(to_hf_model(model)(**inputs).logits, ours, atol=1e-5, rtol=0)
    gen = hf.generate(**inputs, max_new_tokens=10, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    mine = model.generate([inputs["input_ids"][0].tolist()], pixel_values=inputs["pixel_values"], max_new_tokens=10).token_ids[0]
    assert len(mine) > 0 and gen.tolist()[: len(mine)] == list(mine)  # HF may go on past EOS only if we stopped on it
    # and back again
    back = import_hf(out)
    with torch.no_grad():
        torch.testing.assert_close(back(inputs["input_ids"], pixel_values=inputs["pixel_values"]).logits, ours, atol=1e-5, rtol=0)
    assert back.config.template == template and back.config.projector_type == projector


def test_multi_turn_prompt_matches_training_template(tmp_path):
    model = _model(tmp_path, "llama", "mlp2x_gelu", "vicuna_v1")
    proc = AutoProcessor.from_pretrained(export_hf(model, tmp_path / "hf"))
    history = [("What is it?", "A portrait."), ("Who?", "An officer.")]
    prompt, _ = _hf_inputs(proc, "Anything else?", history)
    conv = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A portrait."},
            {"from": "human", "value": "Who?"}, {"from": "gpt", "value": "An officer."}, {"from": "human", "value": "Anything else?"}]
    assert prompt == model.template.generation_prompt(conv, model.tokenizer)


def test_greedy_answer_equals_transformers(tmp_path):
    model = _model(tmp_path, "qwen2", "mlp2x_gelu", "chatml")
    out = export_hf(model, tmp_path / "hf")
    hf, proc = LlavaForConditionalGeneration.from_pretrained(out).eval(), AutoProcessor.from_pretrained(out)
    _, inputs = _hf_inputs(proc, QUESTION)
    ids = hf.generate(**inputs, max_new_tokens=12, do_sample=False)[0, inputs["input_ids"].shape[1]:]
    assert model.answer(IMG, QUESTION, max_new_tokens=12) == proc.tokenizer.decode(ids, skip_special_tokens=True)


def test_deep_mlp_export_refused(tmp_path):
    model = _model(tmp_path, "llama", "mlp3x_gelu", "vicuna_v1")
    with pytest.raises(ValueError, match="no llava-hf equivalent"):
        export_hf(model, tmp_path / "hf")


def test_foreign_llava_hf_dir_gets_llava15_defaults(tmp_path):
    model = _model(tmp_path, "llama", "mlp2x_gelu", "vicuna_v1")
    out = export_hf(model, tmp_path / "hf")
    (out / META_NAME).unlink()  # what a community llava-hf checkpoint looks like
    back = load_model(out)
    assert (back.config.template, back.config.projector_type, back.config.image_mode) == ("vicuna_v1", "mlp2x_gelu", "pad")


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError):
        load_model(tmp_path)


def test_siglip_tower_exports_its_own_image_size(tmp_path):
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel
    cfg = SiglipVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                             num_attention_heads=4)
    SiglipVisionModel(cfg).save_pretrained(tmp_path / "siglip")
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "siglip")
    parts = save_tiny_parts(tmp_path / "parts", family="llama")
    model = LlavaModel.from_parts(tmp_path / "siglip", parts["llm"])
    out = export_hf(model, tmp_path / "hf")
    proc = AutoProcessor.from_pretrained(out)
    prompt, inputs = _hf_inputs(proc, QUESTION)
    assert inputs["pixel_values"].shape[-2:] == (32, 32)   # no 224 px centre crop the tower never had
    assert (inputs["input_ids"] == model.image_token_id).sum().item() == model.num_image_tokens == 16
    hf = LlavaForConditionalGeneration.from_pretrained(out).eval()
    with torch.no_grad():
        ours = model(inputs["input_ids"], pixel_values=inputs["pixel_values"]).logits
        torch.testing.assert_close(hf(**inputs).logits, ours, atol=1e-5, rtol=0)
