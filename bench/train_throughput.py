"""Training throughput: samples/s and tokens/s of our training step (`llava_nb.train.loop.train` with the nano presets) against
transformers' `LlavaForConditionalGeneration` trained by a plain PyTorch loop, for stage 1 and stage 2, on the same
weights, data, batches, batch size and dtype policy, in one run. CPU by default.

    .venv/bin/python bench/train_throughput.py [--steps 16] [--warmup 2] [--repeats 3] [--threads N] [--scenes 160]
                                               [--baseline-attn default|same|eager|sdpa] [--precision auto|bf16|fp32]

Setup (not timed): a small world of `--scenes` scenes is generated in a temp dir, with stage-1 captions (`plain`) and
one stage-2 instruction record per scene (`vicuna_v1`), written as LLaVA JSON; the backbones are the shipped nano CLIP
tower (64 px, 8 px patches = 64 image tokens, 4 layers, width 128) and nano Llama (width 256, 4 layers).

  ours      `train(nano_stageN(max_steps=warmup + steps, ...))`: the real path (accelerate, bf16 autocast, feature cache,
            tower truncated at the selected layer, length-grouped batches, eager attention, logits only where labels are
            trained). Its own step clock (`history[i]["seconds"]`: data loading + forward + backward + clip + AdamW step,
            nothing else) is read after the `--warmup` first steps; the feature cache is built before the first step
            and is therefore not in samples/s: it is timed on its own (`FeatureCache.add_dataset`, as `load_data` calls it)
            and reported with the number of epochs after which it pays for itself.
  baseline  `LlavaForConditionalGeneration` with the very same initial weights (`llava_nb.model.hf.export_hf`, then
            `from_pretrained`), trained by a plain loop on the same `LlavaDataset` + `collate` batches in the same
            order (the same `StepBatches` sampler, images loaded and preprocessed by the DataLoader every step),
            batch 32, `torch.autocast("cpu", torch.bfloat16)` (in fp32 with `--precision fp32`, as ours): forward with `labels=` (full vision tower every step,
            logits at every position), backward, clip grad norm 1.0, AdamW on the same trainable parameters with the
            same learning rates and schedule (stage 1: `multi_modal_projector`; stage 2: projector + language model
            + lm_head), PyTorch's defaults otherwise (on a CPU its per-tensor loop; ours asks for the fused kernel).
            Timed the same way: data loading + step, after `--warmup` steps.

Stage 2 starts from ours' stage-1 projector (both sides). Each repeat trains fresh copies of the models; ours and the
baseline alternate; medians over `--repeats` are reported. tokens/s counts non-pad tokens (attention mask sum, image
tokens included). The attention implementation of each side (vision tower, LLM) is recorded: ours runs the LLM with
the preset's eager attention, the baseline transformers' default (sdpa) unless `--baseline-attn` says otherwise
(`same`: ours' choice per part). The first-step losses of the two sides must agree within `--loss-rtol` (bf16), every
step must train the same number of tokens (same batches) and the trainable parameter counts must match, else the
script fails after writing its results. Prints a markdown table and writes bench/results/train_throughput.json
(machine info included). On a machine shared with other jobs, pass `--threads 1`: with every core asked for, torch's
threads wait on each other while the other jobs hold the cores and both sides run ~15× slower."""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
import transformers
from transformers import LlavaForConditionalGeneration

from llava_nb.smallworld.backbones import nano_backbones
from llava_nb.core import IGNORE_INDEX, count_params, cpu_has_fast_bf16, cpu_name, resolve_precision, seed_everything
from llava_nb.datagen.instruct import make_instruct
from llava_nb.smallworld.teacher import SymbolicTeacher, make_pretrain
from llava_nb.model.hf import export_hf
from llava_nb.data.masking import collate
from llava_nb.train.mfu import flops_per_token, machine_peak, step_shapes
from llava_nb.smallworld.world import make_world
from llava_nb.train.batching import StepBatches
from llava_nb.train.feature_cache import FeatureCache
from llava_nb.train.loop import build_model, load_data, train
from llava_nb.train.config import TrainConfig, lr_factor, nano_stage1, nano_stage2, warmup_steps

ROOT = Path(__file__).resolve().parents[1]
GOALS = {1: 2.0, 2: 2.0}  # speed-up over the baseline the issues ask for (issue 31: 2x in both stages)


# ---------------------------------------------------------------- data and configs

def make_data(out: Path, n: int) -> dict:
    "A small world of `n` scenes and its stage-1 / stage-2 LLaVA JSON files."
    world = out / "world"
    scenes = make_world(world, n, seed=0)
    (out / "pretrain.json").write_text(json.dumps(make_pretrain(scenes)))
    (out / "instruct.json").write_text(json.dumps(make_instruct(scenes, SymbolicTeacher(seed=0), per_scene=1)))
    return {"image_folder": str(world), 1: str(out / "pretrain.json"), 2: str(out / "instruct.json")}


def stage_config(stage: int, data: dict, parts: dict, out: Path, total: int, threads: int, stage1_dir=None) -> TrainConfig:
    "The nano preset of `stage`, `total` optimizer steps, writing under `out`."
    preset = nano_stage1 if stage == 1 else nano_stage2
    extra = {"stage1_dir": str(stage1_dir)} if stage1_dir else {}
    return preset(data_path=data[stage], image_folder=data["image_folder"], vision_tower=parts["vision"], llm=parts["llm"],
                  output_dir=str(out), max_steps=total, progress=False, device="cpu", num_threads=threads, **extra)


def batch_plan(cfg: TrainConfig, model, total: int):
    "The uncached `LlavaDataset` of `cfg` and a DataLoader yielding the `total` batches `train` draws, in its order."
    ds = load_data(replace(cfg, cache_features=False), model, say=lambda *a: None)
    sampler = StepBatches(len(ds), cfg.batch_size, total, seed=cfg.seed, lengths=ds.lengths if cfg.group_by_length else None)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=partial(collate, pad_token_id=model.tokenizer.pad_token_id),
                                         num_workers=cfg.num_workers)
    return ds, loader


def attn_impls(tower_cfg, llm_cfg) -> dict:
    return {"vision": getattr(tower_cfg, "_attn_implementation", None), "llm": getattr(llm_cfg, "_attn_implementation", None)}


# ---------------------------------------------------------------- the two sides

def run_ours(cfg: TrainConfig, model, warmup: int) -> dict:
    "Train a copy of `model` with `train(cfg)`; times from its own step clock, steps after `warmup`."
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log): res = train(cfg, copy.deepcopy(model))
    except Exception:
        print(log.getvalue()); raise
    h = res.history
    t = h[-1]["seconds"] - (h[warmup - 1]["seconds"] if warmup else 0.0)
    return {"seconds": t, "first_loss": h[0]["loss"], "trained_tokens": [r["tokens"] for r in h], "checkpoint": res.checkpoint,
            "wall_seconds": res.wall_seconds, "result_samples_per_s": res.samples_per_second,
            "attn": attn_impls(res.model.vision_tower.config, res.model.llm.config)}


def baseline_model(hf_dir: Path, cfg: TrainConfig, attn: str | dict | None):
    "transformers' LlavaForConditionalGeneration loaded from `hf_dir`, trainable as in `cfg`'s stage; AdamW groups with its lrs."
    hf = LlavaForConditionalGeneration.from_pretrained(hf_dir, **({"attn_implementation": attn} if attn else {}))
    hf.requires_grad_(False)
    proj = hf.model.multi_modal_projector.requires_grad_(True)
    groups = [{"params": list(proj.parameters()), "lr": cfg.projector_lr or cfg.lr}]
    if cfg.trains_llm:
        lm = [hf.model.language_model.requires_grad_(True), hf.lm_head.requires_grad_(True)]
        groups.append({"params": list({id(p): p for m in lm for p in m.parameters()}.values()), "lr": cfg.lr})  # tied: once
    return hf, groups


class Stopwatch:
    "Time spent inside a module's forward (pre-hook to hook), summed while `on`."
    def __init__(self, module):
        self.on, self.total, self._t0 = False, 0.0, 0.0
        module.register_forward_pre_hook(lambda *a: setattr(self, "_t0", time.perf_counter()))
        module.register_forward_hook(lambda *a: self._stop())
    def _stop(self):
        if self.on: self.total += time.perf_counter() - self._t0


def baseline_attention(choice: str, cfg: TrainConfig, model) -> str | dict | None:
    "What to pass as the baseline's `attn_implementation`: None (transformers' default), one name, or ours per part ('same')."
    if choice == "default": return None
    if choice != "same": return choice
    llm = cfg.attn_implementation or model.llm.config._attn_implementation
    return {"text_config": llm, "vision_config": model.vision_tower.config._attn_implementation, "": llm}


def run_baseline(cfg: TrainConfig, hf_dir: Path, loader, total: int, warmup: int, attn: str | dict | None) -> dict:
    """A plain loop on transformers' model: next batch, forward (under bf16 autocast when ours trains in bf16) with
    labels, backward, clip, AdamW with PyTorch's defaults."""
    bf16 = resolve_precision(cfg.mixed_precision, "cpu") == "bf16"
    hf, groups = baseline_model(hf_dir, cfg, attn)
    params = [p for g in groups for p in g["params"]]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, partial(lr_factor, total=total, warmup=warmup_steps(total, cfg.warmup_ratio),
                                                           schedule=cfg.schedule))
    tower = Stopwatch(hf.model.vision_tower)
    hf.train(); hf.model.vision_tower.eval()
    seconds = load_seconds = 0.0
    first_loss, trained, batches = None, [], iter(loader)
    for step in range(total):
        timed = step >= warmup
        tower.on = timed
        t0 = time.perf_counter()
        b = next(batches)
        t1 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"], pixel_values=b["pixel_values"], labels=b["labels"])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
        loss = out.loss.item()
        t2 = time.perf_counter()
        if step == 0: first_loss = loss
        trained.append(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()))
        if timed: seconds += t2 - t0; load_seconds += t1 - t0
    return {"seconds": seconds, "load_seconds": load_seconds, "tower_seconds": tower.total, "first_loss": first_loss,
            "trained_tokens": trained, "trainable": sum(p.numel() for p in params),
            "attn": attn_impls(hf.config.vision_config, hf.config.text_config)}


# ---------------------------------------------------------------- one stage

def cache_seconds(cfg: TrainConfig, model, ds) -> float:
    "Seconds to build the tower-feature cache of `ds` as `load_data` does (bf16 autocast, bf16 storage)."
    t0 = time.perf_counter()
    FeatureCache().add_dataset(model, ds, dtype=torch.bfloat16, autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16),
                               progress=False)
    return time.perf_counter() - t0


def bench_stage(stage: int, data: dict, parts: dict, tmp: Path, args, stage1_dir=None) -> tuple[dict, Path]:
    total = args.warmup + args.steps
    cfg = stage_config(stage, data, parts, tmp / f"stage{stage}", total, args.threads, stage1_dir)
    cfg = replace(cfg, mixed_precision={"bf16": "bf16", "fp32": "no", "auto": cfg.mixed_precision}[args.precision])
    seed_everything(cfg.seed)
    model = build_model(cfg)  # the initial weights both sides start from (stage 2: with the stage-1 projector)
    ds, loader = batch_plan(cfg, model, total)
    # export + from_pretrained, not `to_hf_model`: the latter builds on the meta device and leaves the non-persistent
    # buffers (CLIP position_ids, Llama rotary inv_freq) uninitialised
    hf_dir = export_hf(model, tmp / f"stage{stage}" / "hf")
    attn = baseline_attention(args.baseline_attn, cfg, model)
    batches = list(loader)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[args.warmup:])
    samples = sum(len(b["input_ids"]) for b in batches[args.warmup:])
    del batches
    ours, theirs = [], []
    for r in range(args.repeats):
        ours.append(run_ours(replace(cfg, output_dir=str(tmp / f"stage{stage}" / f"ours{r}")), model, args.warmup))
        theirs.append(run_baseline(cfg, hf_dir, loader, total, args.warmup, attn))
        print(f"  stage {stage} repeat {r + 1}/{args.repeats}: ours {samples / ours[-1]['seconds']:.1f} samples/s, "
              f"baseline {samples / theirs[-1]['seconds']:.1f} samples/s", flush=True)
    cache_s = statistics.median(cache_seconds(cfg, model, ds) for _ in range(args.repeats)) if cfg.cache_features else None
    med = lambda rows, k: statistics.median(x[k] for x in rows)
    o_s, b_s = med(ours, "seconds"), med(theirs, "seconds")
    image_s_per_sample = (med(theirs, "load_seconds") + med(theirs, "tower_seconds")) / samples  # what the cache skips
    ours_trainable = count_params(model.projector) + (count_params(model.llm) if cfg.trains_llm else 0)
    rel = abs(ours[0]["first_loss"] - theirs[0]["first_loss"]) / abs(theirs[0]["first_loss"])
    res = {
        "stage": stage, "records": len(ds), "steps_timed": args.steps, "warmup_steps": args.warmup, "batch_size": cfg.batch_size,
        "samples_timed": samples, "tokens_timed": tokens, "mean_tokens_per_sample": tokens / samples,
        "ours": {"samples_per_s": samples / o_s, "tokens_per_s": tokens / o_s, "seconds": o_s,
                 "seconds_all_repeats": [x["seconds"] for x in ours], "train_wall_seconds": med(ours, "wall_seconds"),
                 "train_result_samples_per_s": med(ours, "result_samples_per_s"),  # TrainResult's own figure: warm-up steps included
                 "trainable_params": ours_trainable, "attn_implementation": ours[0]["attn"], "first_loss": ours[0]["first_loss"]},
        "baseline": {"samples_per_s": samples / b_s, "tokens_per_s": tokens / b_s, "seconds": b_s,
                     "seconds_all_repeats": [x["seconds"] for x in theirs], "data_loading_seconds": med(theirs, "load_seconds"),
                     "vision_tower_seconds": med(theirs, "tower_seconds"), "trainable_params": theirs[0]["trainable"],
                     "attn_implementation": theirs[0]["attn"], "first_loss": theirs[0]["first_loss"]},
        "speedup": b_s / o_s, "goal": GOALS[stage],
        "mfu": mfu_figures(cfg, model, tokens, samples, sum(ours[0]["trained_tokens"][args.warmup:]), o_s, b_s),
        "first_loss_rel_diff": rel, "losses_agree": rel <= args.loss_rtol,
        "same_trainable": ours_trainable == theirs[0]["trainable"],
        "same_batches": all(x["trained_tokens"] == theirs[0]["trained_tokens"] for x in ours + theirs),
        "config": {k: getattr(cfg, k) for k in ("lr", "projector_lr", "mixed_precision", "cache_features", "group_by_length",
                                                "attn_implementation", "max_length", "vision_feature_layer")},
    }
    if cache_s is not None:
        per_epoch = image_s_per_sample * len(ds)  # image loading + full tower forward the baseline does per epoch
        res["feature_cache"] = {"build_seconds": cache_s, "images": len(ds), "baseline_image_seconds_per_epoch": per_epoch,
                                "baseline_tower_seconds_per_epoch": med(theirs, "tower_seconds") / samples * len(ds),
                                "pays_off_after_epochs": cache_s / per_epoch}
    return res, ours[0]["checkpoint"]


def mfu_figures(cfg: TrainConfig, model, tokens: int, samples: int, trained: int, ours_s: float, base_s: float) -> dict:
    "Both sides' share of the matmul peak measured here at the step's shapes, in the step's dtype (`llava_nb.train.mfu`)."
    config = model.llm.config
    bf16 = resolve_precision(cfg.mixed_precision, "cpu") == "bf16"
    steps = samples / cfg.batch_size
    peak = machine_peak(step_shapes(config, round(tokens / steps)), torch.bfloat16 if bf16 else torch.float32)
    flops = flops_per_token(config, tokens / samples, cfg.trains_llm, trained / tokens)["train"]
    return {"flops_per_token": round(flops), "peak_tflops": round(peak, 3), "dtype": "bf16" if bf16 else "fp32",
            "ours": round(tokens / ours_s * flops / (peak * 1e12), 3),
            "baseline": round(tokens / base_s * flops / (peak * 1e12), 3)}


# ---------------------------------------------------------------- report

def machine_info(args) -> dict:
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": "cpu", "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "cpu": cpu_name(), "cpu bf16": cpu_has_fast_bf16(), "load_average_at_start": args.load,
            "torch": torch.__version__, "transformers_version": transformers.__version__, "python": platform.python_version()}


def print_table(rows: list[dict], info: dict) -> None:
    print(f"\ntraining throughput, nano preset, {info['device']} ({info['threads']} threads, load average at start "
          f"{info['load_average_at_start']}), batch {rows[0]['batch_size']}, {rows[0]['mfu']['dtype']}, median of {len(rows[0]['ours']['seconds_all_repeats'])}\n")
    print("| stage | ours samples/s | ours tokens/s | baseline samples/s | baseline tokens/s | speed-up | goal "
          "| MFU ours | MFU baseline | peak TFLOP/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, b = r["ours"], r["baseline"]
        print(f"| {r['stage']} | {o['samples_per_s']:.1f} | {o['tokens_per_s']:.0f} | {b['samples_per_s']:.1f} | {b['tokens_per_s']:.0f} "
              f"| {r['speedup']:.2f}× | ≥ {r['goal']}× {'✓' if r['speedup'] >= r['goal'] else '✗'} "
              f"| {r['mfu']['ours']:.0%} | {r['mfu']['baseline']:.0%} | {r['mfu']['peak_tflops']} {r['mfu']['dtype']} |")
    print()
    for r in rows:
        b = r["baseline"]
        print(f"stage {r['stage']}: first-step loss ours {r['ours']['first_loss']:.4f} vs baseline {b['first_loss']:.4f} "
              f"(rel. diff {r['first_loss_rel_diff']:.1e}); same batches {r['same_batches']}; baseline spends "
              f"{b['data_loading_seconds'] / b['seconds']:.0%} loading data, {b['vision_tower_seconds'] / b['seconds']:.0%} in the tower; "
              f"attention ours {r['ours']['attn_implementation']}, baseline {b['attn_implementation']}")
        if "feature_cache" in r:
            c = r["feature_cache"]
            print(f"  feature cache: {c['build_seconds']:.2f}s for {c['images']} images, pays off after "
                  f"{c['pays_off_after_epochs']:.2f} epochs (baseline: {c['baseline_image_seconds_per_epoch']:.2f}s of image loading + tower per epoch)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=16, help="timed optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=2, help="untimed optimizer steps at the start of each run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scenes", type=int, default=160, help="small-world scenes (= stage-1 and stage-2 records)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores; on a busy machine use 1)")
    ap.add_argument("--stages", default="1,2")
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                    help="both sides: bf16 autocast or fp32 (auto: bf16 where the CPU computes it natively)")
    ap.add_argument("--baseline-attn", default="default", choices=("default", "same", "eager", "sdpa"),
                    help="the baseline's attention: transformers' default, the same as ours per part, or eager / sdpa everywhere")
    ap.add_argument("--loss-rtol", type=float, default=2e-2, help="tolerance on the first-step losses (relative)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "train_throughput.json"))
    args = ap.parse_args()
    args.threads = args.threads or os.cpu_count()
    torch.set_num_threads(args.threads)
    args.load = [round(x, 2) for x in os.getloadavg()]
    info = machine_info(args)
    stages = [int(s) for s in args.stages.split(",")]
    parts = nano_backbones()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llava_nb_train_bench_") as tmp:
        tmp = Path(tmp)
        data = make_data(tmp / "data", args.scenes)
        print(f"data: {args.scenes} scenes in {time.perf_counter() - t0:.1f}s", flush=True)
        rows, stage1_dir = [], None
        for stage in stages:
            row, ckpt = bench_stage(stage, data, parts, tmp, args, stage1_dir)
            rows.append(row)
            if stage == 1: stage1_dir = ckpt
    res = {"machine": info, "scenes": args.scenes, "backbones": parts, "stages": rows, "total_seconds": time.perf_counter() - t0,
           "command": "bench/train_throughput.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                                                                if k not in ("out", "load") and v is not None)}
    print_table(rows, info)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out} ({res['total_seconds']:.0f}s in all)")
    bad = [r["stage"] for r in rows if not (r["losses_agree"] and r["same_batches"] and r["same_trainable"])]
    if bad: raise SystemExit(f"stage(s) {bad}: the two sides did not compute the same thing (see first_loss_rel_diff, same_batches, same_trainable)")


if __name__ == "__main__":
    main()
