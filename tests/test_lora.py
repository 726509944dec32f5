"Stage 2 with LoRA through the one `train` path: what trains, adapter-only checkpoints, merging, exact resume, QLoRA's clear refusal."
import json
from pathlib import Path

import pytest
import torch

from llava_nb.cli import main as cli_main
from llava_nb.model.lora import merge_lora
from llava_nb.model.llava import LlavaModel, is_peft_model
from llava_nb.tiny import save_tiny_parts
from llava_nb.train.loop import build_model, train
from llava_nb.train.config import TrainConfig, get_preset

FIX = Path(__file__).resolve().parents[1] / "data" / "fixtures"
PRETRAIN, INSTRUCT = (str(FIX / f) for f in ("blip_laion_cc_sbu_558k.json", "llava_instruct_150k.json"))


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    parts = save_tiny_parts(tmp_path_factory.mktemp("parts"), family="llama")
    cfg = TrainConfig(stage=1, data_path=PRETRAIN, image_folder=str(FIX / "images"), output_dir=str(tmp_path_factory.mktemp("s1")),
                      vision_tower=parts["vision"], llm=parts["llm"], lr=1e-2, batch_size=4, max_steps=2, progress=False)
    return train(cfg)


def lora_cfg(stage1, out, **kw):
    base = dict(stage=2, data_path=INSTRUCT, image_folder=str(FIX / "images"), output_dir=str(out), stage1_dir=str(stage1.checkpoint),
                lr=5e-3, projector_lr=1e-3, batch_size=4, max_steps=4, progress=False, lora_r=4, lora_alpha=8, lora_dropout=0.0)
    return TrainConfig(**{**base, **kw})


def batch(model):
    ids = torch.tensor([[model.tokenizer.bos_token_id, 7, 8, 9, 10]])
    return ids


@pytest.fixture(scope="module")
def lora_run(stage1, tmp_path_factory):
    model = build_model(lora_cfg(stage1, "unused"))
    base = {k: v.clone() for k, v in model.llm.state_dict().items()}
    proj = {k: v.clone() for k, v in model.projector.state_dict().items()}
    res = train(lora_cfg(stage1, tmp_path_factory.mktemp("lora")), model=model)
    return res, base, proj


def test_lora_trains_adapters_and_projector_only(lora_run):
    res, base, proj = lora_run
    llm = res.model.llm
    assert is_peft_model(llm)
    trained = {n for n, p in llm.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    for k, v in llm.get_base_model().state_dict().items():  # the frozen base is untouched (peft's names wrap the originals)
        if "lora_" in k: continue
        name = k.replace(".base_layer", "")
        assert torch.equal(v, base[name]), name
    assert any(not torch.equal(v, res.model.projector.state_dict()[k]) for k, v in proj.items())
    assert any(p.abs().sum() > 0 for n, p in llm.named_parameters() if "lora_B" in n)


def test_lora_checkpoint_holds_adapters_and_loads_merged(lora_run):
    res, base, _ = lora_run
    ck = Path(res.checkpoint)
    files = {p.name for p in (ck / "llm").iterdir()}
    assert "adapter_config.json" in files and "adapter_model.safetensors" in files and "model.safetensors" not in files
    cfg = json.loads((ck / "train_config.json").read_text())
    assert cfg["lora_r"] == 4
    model = res.model.eval()
    ids = batch(model)
    with torch.no_grad():
        want = model.llm(input_ids=ids).logits
        loaded = LlavaModel.from_pretrained(ck)
        assert not is_peft_model(loaded.llm)
        torch.testing.assert_close(loaded.llm(input_ids=ids).logits, want, atol=1e-4, rtol=1e-4)
        kept = LlavaModel.from_pretrained(ck, merge_lora=False)
        assert is_peft_model(kept.llm)


def test_merge_lora_writes_a_plain_checkpoint(lora_run, tmp_path):
    res, _, _ = lora_run
    out = tmp_path / "merged"
    assert cli_main(["merge-lora", "--checkpoint", str(res.checkpoint), "--out", str(out)]) == 0
    assert (out / "llm" / "config.json").is_file() and not (out / "llm" / "adapter_config.json").exists()
    model = res.model.eval()
    ids = batch(model)
    with torch.no_grad():
        merged = LlavaModel.from_pretrained(out)
        assert not is_peft_model(merged.llm)
        torch.testing.assert_close(merged.llm(input_ids=ids).logits, model.llm(input_ids=ids).logits, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        merge_lora(out, tmp_path / "again")
    mine = tmp_path / "mine"  # issue 26: a folder of the user's files is never written into
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="llava_nb did not write it"):
        merge_lora(res.checkpoint, mine)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert merge_lora(res.checkpoint, out) == out and (out / "llm" / "config.json").is_file()  # ours: replaced


def test_lora_resume_is_exact(stage1, tmp_path):
    full = train(lora_cfg(stage1, tmp_path / "full", max_steps=4))
    part = train(lora_cfg(stage1, tmp_path / "part", max_steps=4, save_every=2))
    resumed = train(lora_cfg(stage1, tmp_path / "part", max_steps=4, save_every=2, resume_from="latest"))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history] == [r["loss"] for r in part.history]
    a = dict(full.model.llm.named_parameters()); b = dict(resumed.model.llm.named_parameters())
    assert all(torch.equal(a[n], b[n]) for n in a if "lora_" in n)


def test_bad_lora_settings_are_refused(stage1, tmp_path):
    with pytest.raises(ValueError, match="stage 1"):
        TrainConfig(stage=1, lora_r=8)
    with pytest.raises(ValueError, match="train_llm=False"):
        TrainConfig(stage=2, lora_r=8, train_llm=False)
    with pytest.raises(ValueError, match="lora_r > 0"):
        TrainConfig(stage=2, quantization="4bit")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            build_model(lora_cfg(stage1, tmp_path, quantization="4bit"))


def test_lora_preset_is_the_published_recipe():
    cfg = get_preset("llava-1.5-7b-lora", 2)
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lr, cfg.projector_lr, cfg.global_batch_size) == (128, 256, 2e-4, 2e-5, 128)
