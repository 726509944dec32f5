"Stage 1 then stage 2 on tiny saved parts: what trains, checkpoints between the stages, exact accumulation, stops and reruns."
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llava_nb.data.templates import get_template
from llava_nb.model.llava import LlavaModel
from llava_nb.model.config import PROJECTOR_NAME
from llava_nb.tiny import save_tiny_parts
from llava_nb.files import atomic_dir, clean_stale
from llava_nb.train.checkpoint import check_stage1_checkpoint
from llava_nb.train.loop import NonFiniteLossError, TrainResult, build_model, train
from llava_nb.train.config import TrainConfig

FIX = Path(__file__).resolve().parents[1] / "data" / "fixtures"
PRETRAIN, INSTRUCT, MIX = (str(FIX / f) for f in ("blip_laion_cc_sbu_558k.json", "llava_instruct_150k.json", "llava_v1_5_mix665k.json"))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    return {f: save_tiny_parts(root / f, family=f) for f in ("llama", "qwen2")}


def cfg1(parts, out, **kw):
    base = dict(stage=1, data_path=PRETRAIN, image_folder=str(FIX / "images"), output_dir=str(out), vision_tower=parts["llama"]["vision"],
                llm=parts["llama"]["llm"], lr=1e-2, batch_size=4, max_steps=4, progress=False, log_every=2)
    return TrainConfig(**{**base, **kw})


def cfg2(stage1_dir, out, **kw):
    base = dict(stage=2, data_path=INSTRUCT, image_folder=str(FIX / "images"), output_dir=str(out), stage1_dir=str(stage1_dir),
                lr=3e-3, batch_size=4, max_steps=4, progress=False, log_every=2)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def stage1(parts, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1")
    return train(cfg1(parts, out, cache_features=True, mixed_precision="bf16"))


def states(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stage1_changes_only_the_projector(parts, tmp_path):
    model = LlavaModel.from_parts(parts["llama"]["vision"], parts["llama"]["llm"])
    tower, llm, proj = states(model.vision_tower), states(model.llm), states(model.projector)
    res = train(cfg1(parts, tmp_path, max_steps=3), model=model)
    assert res.model is model
    assert all(torch.equal(v, model.vision_tower.state_dict()[k]) for k, v in tower.items())
    assert all(torch.equal(v, model.llm.state_dict()[k]) for k, v in llm.items())
    assert all(not torch.equal(v, model.projector.state_dict()[k]) for k, v in proj.items())
    # a chat model handed to a caption stage: its checkpoint names plain, at plain's own text revision, and loads
    assert LlavaModel.from_pretrained(res.checkpoint).template == get_template("plain")


def test_stage1_checkpoint_holds_projector_config_and_history(stage1):
    ck = Path(stage1.checkpoint)
    assert ck.name == "final" and not (ck / "llm").exists() and not (ck / "vision_tower").exists()
    assert json.loads((ck / "config.json").read_text())["stage"] == 1
    saved = TrainConfig.from_dict(json.loads((ck / "train_config.json").read_text()))
    assert saved == stage1.config
    assert len(json.loads((ck / "history.json").read_text())) == stage1.steps == 4
    assert (ck.parent / "loss.png").stat().st_size > 1000 and (ck.parent / "history.json").is_file()
    again = TrainResult.load(ck.parent)
    assert again.final_loss == pytest.approx(stage1.final_loss) and again.steps == 4 and again.history == stage1.history
    model = LlavaModel.from_pretrained(ck)  # a stage-1 checkpoint loads (tower and LLM from the names in its config)
    for k, v in load_file(str(ck / PROJECTOR_NAME)).items(): assert torch.equal(model.projector.state_dict()[k], v)


@pytest.mark.parametrize("stage", [1, 2])
def test_loss_decreases_on_a_repeated_small_batch(parts, stage1, tmp_path, stage):
    cfg = (cfg1(parts, tmp_path, max_steps=25, max_samples=4) if stage == 1 else
           cfg2(stage1.checkpoint.parent, tmp_path, max_steps=25, max_samples=4))
    h = [r["loss"] for r in train(cfg).history]
    first, last = h[0], sum(h[-5:]) / 5
    assert last < first - (0.1 if stage == 1 else 1.0), h


def test_stage2_starts_from_the_stage1_projector(stage1, tmp_path):
    cfg = cfg2(stage1.checkpoint.parent, tmp_path)  # the output dir: its final/ is found
    model = build_model(cfg)
    assert model.config.template == "vicuna_v1" and model.config.vision_tower == stage1.model.config.vision_tower
    for k, v in load_file(str(stage1.checkpoint / PROJECTOR_NAME)).items(): assert torch.equal(model.projector.state_dict()[k], v)
    res = train(cfg, model=model)
    ck = res.checkpoint
    assert json.loads((ck / "config.json").read_text())["stage"] == 2 and (ck / "llm" / "config.json").is_file()
    assert LlavaModel.from_pretrained(ck).config.template == "vicuna_v1"


def test_stage2_with_the_llm_frozen_trains_only_the_projector(stage1, tmp_path):
    model = build_model(cfg2(stage1.checkpoint, tmp_path))
    llm = states(model.llm)
    train(cfg2(stage1.checkpoint, tmp_path, train_llm=False, max_steps=2), model=model)
    assert all(torch.equal(v, model.llm.state_dict()[k]) for k, v in llm.items())


def test_wrong_stage_and_mismatched_checkpoints_are_refused(parts, stage1, tmp_path):
    s2 = train(cfg2(stage1.checkpoint, tmp_path / "s2", max_steps=1))
    with pytest.raises(ValueError, match="is a stage-2 checkpoint; stage 2 starts from a stage-1 checkpoint"):
        train(cfg2(s2.checkpoint, tmp_path / "again"))
    qwen = dict(vision_tower=parts["qwen2"]["vision"], llm=parts["qwen2"]["llm"])
    with pytest.raises(ValueError, match="mismatched backbone: .* llm .*vocab_size"):
        build_model(cfg2(stage1.checkpoint, tmp_path / "q", **qwen))
    with pytest.raises(ValueError, match="projector_type='mlp2x_gelu', this run uses 'linear'"):
        build_model(cfg2(stage1.checkpoint, tmp_path / "l", projector_type="linear"))
    with pytest.raises(FileNotFoundError, match="no llava_nb checkpoint"):
        build_model(cfg2(tmp_path / "nowhere", tmp_path / "n"))
    with pytest.raises(ValueError, match="stage1_dir is where stage 2 starts from"):
        cfg1(parts, tmp_path, stage1_dir=str(stage1.checkpoint))


def test_a_moved_backbone_of_the_same_architecture_only_warns(parts, stage1, tmp_path):
    copy = save_tiny_parts(tmp_path / "copy")  # same seed, same weights, another directory
    with pytest.warns(UserWarning, match="same architecture"):
        m = build_model(cfg2(stage1.checkpoint, tmp_path / "o", vision_tower=copy["vision"], llm=copy["llm"]))
    assert m.config.llm == str(Path(copy["llm"]).resolve())


def test_gradient_accumulation_is_exact(stage1, tmp_path):
    "2 micro-batches of 16 and 1 batch of 32 (the same 32 samples) give the same loss, gradient norm and update."
    runs = {}
    for b, k in ((16, 2), (32, 1)):
        model = build_model(cfg2(stage1.checkpoint, tmp_path))
        res = train(cfg2(stage1.checkpoint, tmp_path / f"{b}x{k}", batch_size=b, grad_accum=k, max_steps=1, data_path=MIX), model=model)
        runs[b] = res.history[0], states(model)
    (h16, w16), (h32, w32) = runs[16], runs[32]
    assert h16["tokens"] == h32["tokens"] > 0
    assert h16["loss"] == pytest.approx(h32["loss"], rel=1e-5)
    assert h16["grad_norm"] == pytest.approx(h32["grad_norm"], rel=1e-4)
    for k in w16: torch.testing.assert_close(w16[k], w32[k], rtol=0, atol=1e-5)  # Adam moves each weight by ~lr = 3e-3


def test_feature_cache_gives_the_same_run(stage1, tmp_path):
    h = {c: train(cfg2(stage1.checkpoint, tmp_path / str(c), cache_features=c, max_steps=3)).history for c in (False, True)}
    assert [r["loss"] for r in h[True]] == pytest.approx([r["loss"] for r in h[False]], rel=1e-4)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(stage1, tmp_path):
    def poison(info):
        if info.step == 3:  # after checkpoint-000002 was written
            with torch.no_grad(): next(info.model.projector.parameters()).fill_(float("nan"))
    cfg = cfg2(stage1.checkpoint, tmp_path, max_steps=6, save_every=2)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 4 of 6 .*Last good checkpoint: .*checkpoint-000002 \(resume with resume_from="):
        train(cfg, callbacks=[poison])
    assert (tmp_path / "checkpoint-000002" / "projector.safetensors").is_file() and not (tmp_path / "final").exists()
    good = load_file(str(tmp_path / "checkpoint-000002" / PROJECTOR_NAME))
    assert all(torch.isfinite(v).all() for v in good.values())
    assert len(json.loads((tmp_path / "history.json").read_text())) == 3
    from llava_nb.train.checkpoint import is_resumable
    assert is_resumable(tmp_path / "checkpoint-000002")  # ... and it is a resumable one: fix the cause, then resume_from="latest"
    assert json.loads((tmp_path / "checkpoint-000002" / "trainer_state.json").read_text())["step"] == 2


def test_step_checkpoints_are_pruned_and_complete(stage1, tmp_path):
    res = train(cfg2(stage1.checkpoint, tmp_path, max_steps=7, save_every=2, save_total_limit=2))
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-000004", "checkpoint-000006"]
    assert all((p / "train_config.json").is_file() for p in tmp_path.glob("checkpoint-*"))
    assert res.history[-1]["lr"] < res.history[0]["lr"] or res.history[0]["lr"] == 0  # cosine decay
    assert not list(tmp_path.glob(".*"))  # no temporaries left


def test_rerun_reuses_a_finished_run_and_retrains_a_changed_one(stage1, tmp_path):
    cfg = cfg2(stage1.checkpoint, tmp_path, max_steps=2)
    first = train(cfg)
    again = train(replace(cfg, progress=True), reuse=True)  # only display fields differ: the same run
    assert again.model is None and again.history == first.history and again.checkpoint == first.checkpoint
    changed = train(replace(cfg, lr=1e-4, overwrite=True), reuse=True)   # a changed run replaces it only when told
    assert changed.model is not None and changed.history != first.history
    # the new run has its own log; the earlier run's is kept beside it
    assert "lr=0.0001" in (tmp_path / "train.log").read_text() and "lr=0.0001" not in (tmp_path / "train.previous.log").read_text()


def test_rerun_retrains_when_the_stage1_projector_changed(parts, tmp_path):
    s1 = train(cfg1(parts, tmp_path / "s1", max_steps=1))
    cfg = cfg2(tmp_path / "s1", tmp_path / "s2", max_steps=1)
    first = train(cfg, reuse=True)
    assert train(cfg, reuse=True).model is None  # unchanged: reused
    train(replace(cfg1(parts, tmp_path / "s1", max_steps=1), lr=1e-3, overwrite=True))  # stage 1 rerun, another result
    with pytest.raises(ValueError, match="earlier run's checkpoints"):   # stage 2 must not trust its old run ...
        train(cfg, reuse=True)
    assert train(replace(cfg, overwrite=True), reuse=True).model is not None   # ... and retrains when told to
    assert first.inputs != TrainResult.load(tmp_path / "s2").inputs


def test_stage2_may_not_write_over_its_stage1_checkpoint(stage1, tmp_path):
    with pytest.raises(ValueError, match="give stage 2 its own output_dir"):
        train(cfg2(stage1.checkpoint, stage1.checkpoint.parent))


def test_a_killed_save_never_leaves_a_checkpoint_to_trust(tmp_path):
    final = tmp_path / "final"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(final) as t:
            (t / "config.json").write_text("{}")
            raise KeyboardInterrupt
    assert not final.exists() and not list(tmp_path.iterdir())
    (tmp_path / ".final.tmp-12345").mkdir()  # left by a kill -9 mid-write
    (tmp_path / ".checkpoint-000002.tmp-12345").mkdir()
    clean_stale(tmp_path)
    assert not list(tmp_path.iterdir())


def test_bad_settings_are_refused_up_front(parts, tmp_path):
    with pytest.raises(ValueError, match="fp16' needs a CUDA GPU"):
        train(cfg1(parts, tmp_path, mixed_precision="fp16", device="cpu"))
    with pytest.raises(ValueError, match="needs vision_tower and llm"):
        train(TrainConfig(stage=1, data_path=PRETRAIN, output_dir=str(tmp_path), progress=False))


def test_padding_to_a_multiple_changes_shapes_not_results(stage1, tmp_path):
    "Rounding batch lengths up (the CUDA default, 64) adds only masked, untrained positions: the same losses and token counts."
    h = {m: train(cfg2(stage1.checkpoint, tmp_path / str(m), max_steps=3, pad_to_multiple_of=m)).history for m in (1, 64)}
    assert [r["tokens"] for r in h[64]] == [r["tokens"] for r in h[1]]
    assert [r["loss"] for r in h[64]] == pytest.approx([r["loss"] for r in h[1]], rel=1e-4)
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        cfg2(stage1.checkpoint, tmp_path, pad_to_multiple_of=0)


def test_gradient_checkpointing_switch_changes_memory_not_results(stage1, tmp_path):
    runs = {}
    for gc in (False, True):
        res = train(cfg2(stage1.checkpoint, tmp_path / str(gc), max_steps=2, gradient_checkpointing=gc))
        runs[gc] = res
    assert runs[True].model.llm.is_gradient_checkpointing and not runs[False].model.llm.is_gradient_checkpointing
    assert [r["loss"] for r in runs[True].history] == pytest.approx([r["loss"] for r in runs[False].history], rel=1e-5)


def test_shared_prefix_runs_once_per_batch_and_changes_no_result(stage1, tmp_path, monkeypatch):
    import llava_nb.model.llava as model_mod

    seen = []
    real = model_mod.shared_prefix_len

    def spy(*a, **kw):
        seen.append(real(*a, **kw))
        return seen[-1]

    monkeypatch.setattr(model_mod, "shared_prefix_len", spy)
    h = {s: train(cfg2(stage1.checkpoint, tmp_path / str(s), max_steps=3, share_prefix=s)).history for s in (False, True)}
    assert len(seen) == 3 and min(seen) > 10  # one call a micro-batch; the system prompt is shared
    assert [r["loss"] for r in h[True]] == pytest.approx([r["loss"] for r in h[False]], rel=1e-5)


def test_tf32_flag_is_applied_only_with_cuda(monkeypatch):
    from llava_nb.train.step import make_accelerator
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        make_accelerator(TrainConfig(tf32=True, device="cpu"))
        assert torch.backends.cuda.matmul.allow_tf32 == torch.cuda.is_available()
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        make_accelerator(TrainConfig(tf32=True, device="cpu"))
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def test_presets_and_accelerate_configs():
    import yaml
    from accelerate.commands.config.config_args import load_config_from_file
    from llava_nb.train.config import PRESETS, get_preset
    assert set(PRESETS) >= {"nano", "workshop", "llava-1.5-7b"}
    s1, s2 = get_preset("llava-1.5-7b", 1), get_preset("llava-1.5-7b", 2)
    assert (s1.global_batch_size, s1.lr, s2.global_batch_size, s2.lr) == (256, 1e-3, 128, 2e-5)
    assert s1.tf32 and s2.gradient_checkpointing and s2.mixed_precision == "bf16" and s2.max_length == 2048
    w = get_preset("workshop", 1)
    assert (w.vision_tower, w.llm) == ("openai/clip-vit-base-patch16", "HuggingFaceTB/SmolLM2-360M-Instruct")
    root = Path(__file__).resolve().parents[1]
    kinds = {}
    for name in ("single_gpu", "ddp_8gpu", "fsdp_8gpu", "zero2_8gpu", "zero3_8gpu"):
        f = root / "configs" / "accelerate" / f"{name}.yaml"
        c = load_config_from_file(str(f))
        kinds[name] = (str(c.distributed_type).split(".")[-1], c.num_processes)
        ds = yaml.safe_load(f.read_text()).get("deepspeed_config")
        if ds: assert json.loads((root / ds["deepspeed_config_file"]).read_text())["zero_optimization"]["stage"] == int(name[4])
    assert kinds == {"single_gpu": ("NO", 1), "ddp_8gpu": ("MULTI_GPU", 8), "fsdp_8gpu": ("FSDP", 8), "zero2_8gpu": ("DEEPSPEED", 8),
                     "zero3_8gpu": ("DEEPSPEED", 8)}


def test_zero3_guard_and_gather_with_a_fake_partitioned_parameter():
    from contextlib import contextmanager
    from types import SimpleNamespace
    from torch import nn
    from llava_nb.model.zero3 import gathered_state_dict, is_deepspeed_zero3, is_partitioned, load_gathered_state_dict
    assert is_deepspeed_zero3(SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=3)))
    assert not is_deepspeed_zero3(SimpleNamespace(deepspeed_plugin=SimpleNamespace(zero_stage=2)))
    assert not is_deepspeed_zero3(SimpleNamespace(deepspeed_plugin=None)) and not is_deepspeed_zero3()
    proj = nn.Linear(3, 2)
    real = {id(p): p.data.clone() for p in proj.parameters()}
    full = {k: v.clone() for k, v in proj.state_dict().items()}
    for i, p in enumerate(proj.parameters()): p.ds_id, p.ds_shape, p.data = i, p.shape, torch.empty(0)
    assert all(is_partitioned(p) for p in proj.parameters()) and proj.state_dict()["weight"].shape == torch.Size([0])

    @contextmanager
    def gather(params, modifier_rank=None):
        for p in params: p.data = real[id(p)].clone()
        yield
        for p in params:
            if modifier_rank is not None: real[id(p)] = p.data.clone()
            p.data = torch.empty(0)
    sd = gathered_state_dict(proj, gather=gather)
    assert all(torch.equal(sd[k], full[k]) for k in full)
    load_gathered_state_dict(proj, {k: v + 1 for k, v in full.items()}, gather=gather)
    assert all(torch.equal(v, full[k] + 1) for k, v in gathered_state_dict(proj, gather=gather).items())
    import importlib.util
    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(RuntimeError, match="deepspeed is not importable"):
            gathered_state_dict(proj)  # a partitioned module without DeepSpeed: a clear error, not a torch.Size([0]) file


def test_group_by_modality_trains_on_a_mix_with_text_only_records(stage1, tmp_path):
    from llava_nb.train.batching import StepBatches
    from llava_nb.train.loop import load_data
    cfg = cfg2(stage1.checkpoint, tmp_path, data_path=MIX, group_by_modality=True, group_by_length=True, batch_size=2, max_steps=3)
    res = train(cfg)
    assert res.steps == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in res.history)
    ds = load_data(cfg, res.model, say=lambda *a: None)
    has_image = [bool(r.images) for r in ds.records]
    assert any(has_image) and not all(has_image)  # the fixture mixes both kinds
    sampler = StepBatches(len(ds), 2, 20, lengths=ds.lengths, modality=has_image)
    assert all(len({has_image[i] for i in b}) == 1 for b in sampler)


def test_features_cached_on_disk_give_the_same_run_and_are_reused(stage1, tmp_path):
    import shutil
    images = tmp_path / "images"
    shutil.copytree(FIX / "images", images)
    mem = train(cfg2(stage1.checkpoint, tmp_path / "mem", image_folder=str(images), cache_features=True))
    shards = tmp_path / "shards"
    disk = train(cfg2(stage1.checkpoint, tmp_path / "disk", image_folder=str(images), cache_features=True, feature_cache_dir=str(shards)))
    assert [r["loss"] for r in disk.history] == [r["loss"] for r in mem.history]
    index = json.loads((shards / "index.json").read_text())
    assert index["images"] and all((shards / e[0]).is_file() for e in index["images"].values())
    # a rerun reuses every image; an image changed on disk is computed again
    changed = next(iter(index["images"]))
    os.utime(changed, ns=(1, 1))
    train(cfg2(stage1.checkpoint, tmp_path / "disk2", image_folder=str(images), cache_features=True, feature_cache_dir=str(shards)))
    log = (tmp_path / "disk2" / "train.log").read_text()
    assert f"({len(index['images']) - 1} reused, 1 stale)" in log, log


def test_text_only_batches_with_the_llm_frozen_make_zero_steps(stage1, tmp_path):
    "With only the projector training, a batch of text-only records touches nothing trainable: a zero step, not a crash."
    model = build_model(cfg2(stage1.checkpoint, tmp_path))
    llm = states(model.llm)
    cfg = cfg2(stage1.checkpoint, tmp_path, data_path=MIX, train_llm=False, group_by_modality=True, batch_size=2,
               max_steps=None, epochs=1.0)
    res = train(cfg, model=model)
    assert res.final_loss == res.final_loss and all(torch.equal(v, model.llm.state_dict()[k]) for k, v in llm.items())


def test_a_rerun_never_deletes_an_earlier_run_unless_told(stage1, tmp_path):
    cfg = cfg2(stage1.checkpoint, tmp_path, max_steps=2, save_every=1)
    first = train(cfg)
    dirs = lambda: sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    before = dirs()
    assert before == ["checkpoint-000001", "final"]
    for rerun in (cfg, replace(cfg, lr=1e-4), replace(cfg, max_steps=1)):   # a relaunch without resume, a new setting
        with pytest.raises(ValueError, match=r"earlier run's checkpoints \(checkpoint-000001, final\).*--overwrite"):
            train(rerun)
    assert dirs() == before and TrainResult.load(tmp_path / "final").history == first.history
    again = train(replace(cfg, lr=1e-4, overwrite=True))
    assert again.history != first.history and TrainResult.load(tmp_path / "final").history == again.history


def test_config_keys_are_strict_and_steps_positive():
    with pytest.raises(ValueError, match="train.json: 'max_step' is not a TrainConfig field; did you mean 'max_steps'"):
        TrainConfig.from_dict({"stage": 1, "max_step": 10}, "train.json")
    for bad in (0, -3):
        with pytest.raises(ValueError, match="max_steps must be at least 1"):
            TrainConfig(stage=1, max_steps=bad)
    with pytest.raises(ValueError, match="lr must be float, not 'abc'"):   # --set lr=abc fails here, not in AdamW
        TrainConfig(stage=1, lr="abc")
    with pytest.raises(ValueError, match="batch_size must be int, not 2.5"):
        TrainConfig(stage=1, batch_size=2.5)
    with pytest.raises(ValueError, match="check_images must be 'none', 'header' or 'decode'"):
        TrainConfig(stage=1, check_images="all")


def test_fp16_overflow_skips_the_update_and_only_a_run_of_skips_stops(stage1, tmp_path):
    "An injected gradient overflow under a real loss scaler (torch's GradScaler; on a GPU accelerate makes it for fp16)."
    from llava_nb.data.masking import collate
    from llava_nb.train.loop import load_data
    from llava_nb.train.step import SkipGuard, make_accelerator, optimizer_step, set_trainable

    cfg = cfg2(stage1.checkpoint, tmp_path, device="cpu")
    acc = make_accelerator(cfg)
    acc.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)  # fp16 needs CUDA: the scaler is what matters here
    model = build_model(cfg)
    set_trainable(model, 2)
    ds = load_data(cfg, model, acc, say=lambda *a, **k: None)
    batch = collate([ds[0], ds[1]], model.tokenizer.pad_token_id)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    pmodel, opt = acc.prepare(model, opt)
    w = next(model.projector.parameters())
    before = w.detach().clone()
    hook = w.register_hook(lambda g: torch.full_like(g, float("inf")))  # this step's gradients overflow
    out = optimizer_step(acc, pmodel, opt, sched, [batch], where="step 1")
    hook.remove()
    assert out.skipped and acc.scaler.get_scale() == 2.0**15  # skipped, and the scale halved
    assert torch.equal(w.detach(), before) and torch.isfinite(torch.tensor(out.loss))
    out = optimizer_step(acc, pmodel, opt, sched, [batch], where="step 2")
    assert not out.skipped and not torch.equal(w.detach(), before)
    # without a scaler the same overflow is a stop, not a skip
    acc.scaler = None
    hook = w.register_hook(lambda g: torch.full_like(g, float("inf")))
    plain = torch.optim.AdamW([w], lr=1e-3)
    with pytest.raises(NonFiniteLossError, match="gradient norm is inf at step 3"):
        optimizer_step(acc, pmodel, acc.prepare_optimizer(plain), sched, [batch], where="step 3")
    hook.remove()

    guard = SkipGuard(3)
    for step, skipped in [(1, True), (2, True), (3, False), (4, True), (5, True)]:
        guard(step, skipped)  # two in a row, then a good step resets the count
    assert guard.total == 4
    with pytest.raises(NonFiniteLossError, match=r"3 steps in a row \(steps 4-6\).*bf16"):
        guard(6, True)


def test_max_skipped_steps_is_checked_and_does_not_change_the_run():
    with pytest.raises(ValueError, match="max_skipped_steps must be at least 1"):
        TrainConfig(data_path="x.json", max_skipped_steps=0)
    assert TrainConfig(data_path="x.json").same_run(TrainConfig(data_path="x.json", max_skipped_steps=50))


def test_stage2_refuses_a_stage1_projector_fitted_to_another_image_mode(stage1, tmp_path):
    with pytest.raises(ValueError, match=r"was trained with image_mode='pad', this run uses 'crop'"):
        train(cfg2(stage1.checkpoint, tmp_path, image_mode="crop"))


def test_device_names_are_checked(stage1, tmp_path):
    with pytest.raises(ValueError, match="device must be None"):
        cfg2(stage1.checkpoint, tmp_path, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
            train(cfg2(stage1.checkpoint, tmp_path, device="cuda"))


def test_a_feature_cache_that_cannot_fit_is_refused_before_the_tower_runs(stage1, tmp_path, monkeypatch):
    import llava_nb.train.feature_cache as fc
    monkeypatch.setattr(fc, "_available_ram", lambda: 10_000)  # a machine with 10 kB free: the cache needs more
    with pytest.raises(ValueError, match=r"cache_features would keep .* of tower features in RAM .*feature_cache_dir=DIR"):
        train(cfg1({"llama": {"vision": None, "llm": None}}, tmp_path, vision_tower=stage1.config.vision_tower,
                   llm=stage1.config.llm, cache_features=True))
    assert not (tmp_path / "final").exists()
    r = train(cfg1({"llama": {"vision": None, "llm": None}}, tmp_path / "ok", vision_tower=stage1.config.vision_tower,
                   llm=stage1.config.llm, cache_features=True, feature_cache_dir=str(tmp_path / "features")))
    assert "feature cache:" in (tmp_path / "ok" / "train.log").read_text() and r.checkpoint.is_dir()


def test_new_embedding_rows_are_filled_inside_a_zero3_gather():
    "ZeRO-3 (`zero3_init_flag`): the `<image>` row's mean fill writes into whole weights, never into placeholders."
    from contextlib import contextmanager
    from llava_nb.model.parts import fill_new_embeddings
    from llava_nb.tiny import save_tiny_parts
    from transformers import AutoModelForCausalLM
    import tempfile
    llm = AutoModelForCausalLM.from_pretrained(save_tiny_parts(tempfile.mkdtemp())["llm"])
    weights = [llm.get_input_embeddings().weight, llm.get_output_embeddings().weight]
    real = {id(w): w.data.clone() for w in weights}
    old = weights[0].shape[0] - 2  # the last two rows are "new"
    for i, w in enumerate(weights): w.ds_id, w.ds_shape, w.data = i, w.shape, torch.empty(0)  # partitioned placeholders
    entered = []

    @contextmanager
    def gather(params, modifier_rank=None):
        entered.append((len(params), modifier_rank))
        for p in params: p.data = real[id(p)].clone()
        yield
        for p in params: real[id(p)], p.data = p.data.clone(), torch.empty(0)
    fill_new_embeddings(llm, old, gather=gather)
    assert entered == [(2, 0)]  # both weights gathered once, rank 0's write kept
    for w in weights:
        full = real[id(w)]
        assert torch.allclose(full[old:], full[:old].mean(0).expand(2, -1))


def test_both_lr_schedules_share_one_cosine_bit_for_bit():
    "lr_factor (LLaVA's stages) and warmup_cosine (the small trainers) equal their closed forms exactly, as before."
    import math
    import random

    from llava_nb.smallworld.fit import warmup_cosine
    from llava_nb.train.config import lr_factor

    stages = lambda i, n, w: (i + 1) / w if i < w else 0.5 * (1 + math.cos(math.pi * (i - w) / max(1, n - w)))  # noqa: E731
    for n, w in ((1, 1), (7, 3), (750, 23), (5196, 156)):
        assert all(lr_factor(i, n, w) == stages(i, n, w) for i in range(n))
    def small(s, p, lr, w, fl):
        return lr * (s + 1) / w if s < w else lr * (fl + (1 - fl) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    rng = random.Random(0)
    for _ in range(20_000):
        a = (rng.randrange(3000), rng.random() * 1.2, rng.choice([1e-3, 3e-4]), rng.choice([20, 50]), rng.choice([0.1, 0.0]))
        assert warmup_cosine(*a[:4], floor=a[4]) == small(*a)



def test_fused_adamw_on_a_cpu_agrees_with_the_per_tensor_loop(parts):
    "make_optimizer asks for the fused AdamW on a CPU too, and its steps give the values of PyTorch's default loop."
    from llava_nb.train.step import make_accelerator, make_optimizer, set_trainable

    model = LlavaModel.from_parts(parts["llama"]["vision"], parts["llama"]["llm"])
    set_trainable(model, 2)
    opt, _, _ = make_optimizer(TrainConfig(device="cpu"), model, make_accelerator(TrainConfig(device="cpu")), 10)
    assert opt.defaults["fused"] is True
    torch.manual_seed(0)
    start = [torch.randn(256, 256), torch.randn(512, 256), torch.randn(256)]
    grads = [[torch.randn_like(w) for w in start] for _ in range(5)]
    out = []
    for kw in ({}, {"fused": True}):
        ps = [torch.nn.Parameter(w.clone()) for w in start]
        opt = torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.01, **kw)
        for g in grads:
            for p, gi in zip(ps, g):
                p.grad = gi.clone()
            opt.step()
        out.append([p.detach() for p in ps])
    for a, b, w in zip(*out, start):
        assert not torch.equal(a, w)  # the steps moved the weights ...
        assert torch.allclose(a, b, rtol=0, atol=1e-6)  # ... to the same values
