"""GPU training throughput, MFU and peak memory: our training step (`llava_nb.train.loop.train`) against transformers'
`LlavaForConditionalGeneration` in a plain loop, at a real size, on one CUDA GPU.

    python bench/train_throughput_gpu.py [--stages 2,1] [--batch-size 16] [--steps 10] [--warmup 3] [--layers 22]

Models (random weights, built from configs, saved and re-loaded with `from_pretrained` as users' models are): a
CLIP ViT-L/14-336 vision tower (24 layers, width 1024, 576 patch tokens) and a Llama of TinyLlama-1.1B's shape
(22 layers, width 2048, MLP 5632, 32 heads, 4 KV heads, vocabulary 32,000), `mlp2x_gelu`, layer -2, `pad` images,
`vicuna_v1` (stage 2) / `plain` (stage 1). Data: small-world scenes upscaled to 336 px by the image processor, with
their LLaVA JSON (one instruction conversation or caption per image). Both sides: the same batches (our
`LlavaDataset` + `collate`, the same order), bf16 autocast over fp32 weights, AdamW, clip 1.0, sdpa attention, no
gradient checkpointing. Ours: `train()` with `tf32`, the tower truncated at the selected layer, logits only where
labels are trained, stage 1 from cached tower features (built before the timed steps, reported apart). Baseline:
the same weights exported with `export_hf`, a loop of forward(labels=...) / backward / clip / step. Step times are
taken after `--warmup` steps; every step ends in a host sync (the loss's `.item()`) on both sides. Batch lengths are
rounded up to a multiple of 64 on both sides (our trainer's default on CUDA: fewer distinct shapes to plan).

Each side runs in its own fresh process (this script calls itself with `--side`): kernels that build and cache a plan
per shape (PyTorch's cuDNN attention does) would otherwise favour whichever side runs second on the same batches;
an earlier version of this script ran both in one process and so measured our step at 0.76x the baseline.
`--tiny --device cpu` runs the whole script on small models on a CPU in a minute, to check it before spending GPU time.

MFU counts the LLM + projector work only (the frozen tower's forward is not counted: ours skips it in stage 1):
per trained sequence token, stage 2 = 6·N_llm + 12·L·d·T (weights and attention, forward + backward, PaLM's
formula), stage 1 = 4·N_llm + 8·L·d·T (no weight gradients in the frozen LLM); against the H100 SXM's dense bf16 peak
of 989 TFLOP/s (`--peak` to change). Writes bench/results/train_throughput_gpu.json (or `--out`).

It needs the project's transformers (< 5) and IPython (for `llava_nb.data.masking`'s HTML view); on a GPU image with
transformers 5, install the pinned wheels first (transformers 4.57.6, tokenizers 0.22.1, huggingface_hub 0.36.0)."""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
import transformers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM,
                          LlavaForConditionalGeneration)

from llava_nb.core import seed_everything
from llava_nb.model.hf import export_hf
from llava_nb.data.masking import collate
from llava_nb.tiny import llama_style_tokenizer
from llava_nb.train.batching import StepBatches
from llava_nb.train.loop import build_model, load_data, train
from llava_nb.train.config import TrainConfig
from train_throughput import make_data  # the CPU bench's small world (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


PAD_MULTIPLE = 64


def build_parts(root: Path, layers: int, tiny: bool = False) -> dict:
    "A random CLIP-L/336 tower and a random ~1.1B Llama (TinyLlama's shape) saved under `root` (`tiny`: small stand-ins)."
    torch.manual_seed(0)
    size = 56 if tiny else 336
    vc = CLIPVisionConfig(hidden_size=64 if tiny else 1024, intermediate_size=128 if tiny else 4096, num_hidden_layers=3 if tiny else 24,
                          num_attention_heads=4 if tiny else 16, image_size=size, patch_size=14, projection_dim=64 if tiny else 768)
    CLIPVisionModel(vc).save_pretrained(root / "vision")
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}).save_pretrained(root / "vision")
    tok = llama_style_tokenizer([f"a {c} {s} in the {p}" for c in ("red", "blue", "green") for s in ("circle", "square")
                                 for p in ("top left", "center")] * 20, 400)
    width, mlp, heads = (64, 128, 4) if tiny else (2048, 5632, 32)
    lc = LlamaConfig(vocab_size=32000, hidden_size=width, intermediate_size=mlp, num_hidden_layers=layers, num_attention_heads=heads,
                     num_key_value_heads=4, max_position_embeddings=4096, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"): lm = LlamaForCausalLM(lc)
    lm.save_pretrained(root / "llm"); tok.save_pretrained(root / "llm")
    del lm; gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache()
    return {"vision": str(root / "vision"), "llm": str(root / "llm")}


def model_flops_per_token(stage: int, n_llm: int, layers: int, width: int, seq: float) -> float:
    return (6 * n_llm + 12 * layers * width * seq) if stage == 2 else (4 * n_llm + 8 * layers * width * seq)


def profiler_callback(first: int, last: int, rows: int = 20):
    "A `train` callback that profiles optimizer steps first+1..last and prints the top ops by CPU time (to stderr)."
    from torch.profiler import ProfilerActivity, profile
    prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    def cb(info):
        if info.step == first: prof.__enter__()
        if info.step == last:
            torch.cuda.synchronize(); prof.__exit__(None, None, None)
            print(f"our steps {first + 1}-{last}, by CPU time:\n" + prof.key_averages().table(sort_by="cpu_time_total", row_limit=rows),
                  file=sys.stderr)
    return cb

def peak_gb() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else float("nan")


def run_ours(cfg: TrainConfig, warmup: int, profile_steps: bool = False) -> dict:
    log = io.StringIO()
    callbacks = [profiler_callback(warmup, warmup + 3)] if profile_steps else []
    with contextlib.redirect_stdout(log): res = train(cfg, callbacks=callbacks)
    h = res.history
    secs = [b["seconds"] - a["seconds"] for a, b in zip(h[warmup - 1:-1], h[warmup:])]
    return {"seconds": sum(secs), "step_seconds": secs, "first_loss": h[0]["loss"], "peak_gb": peak_gb(),
            "notes": [line for line in log.getvalue().splitlines() if "cached" in line], "checkpoint": str(res.checkpoint)}


def run_baseline(cfg: TrainConfig, hf_dir: Path, batches: list, warmup: int, device: str) -> dict:
    hf = LlavaForConditionalGeneration.from_pretrained(hf_dir, attn_implementation="sdpa").to(device)
    hf.requires_grad_(False)
    params = list(hf.model.multi_modal_projector.requires_grad_(True).parameters())
    if cfg.stage == 2:
        params += [p for m in (hf.model.language_model, hf.lm_head) for p in m.requires_grad_(True).parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    hf.train(); hf.model.vision_tower.eval()
    secs, first = [], None
    for i, b in enumerate(batches):
        t0 = time.perf_counter()
        b = {k: v.to(device, non_blocking=True) for k, v in b.items() if k in ("input_ids", "attention_mask", "pixel_values", "labels")}
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16): loss = hf(**b).loss
        loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); opt.zero_grad(set_to_none=True)
        value = loss.item()
        if i == 0: first = value
        if i >= warmup: secs.append(time.perf_counter() - t0)
    return {"seconds": sum(secs), "step_seconds": secs, "first_loss": first, "peak_gb": peak_gb()}


def stage_config(stage: int, data: dict, parts: dict, tmp: Path, a, stage1_dir=None) -> TrainConfig:
    total = a.warmup + a.steps
    return TrainConfig(stage=stage, data_path=data[stage], image_folder=data["image_folder"], vision_tower=parts["vision"], llm=parts["llm"],
                      stage1_dir=str(stage1_dir) if stage1_dir else None, output_dir=str(tmp / f"stage{stage}"), max_steps=total,
                      batch_size=a.batch_size, lr=1e-3 if stage == 1 else 2e-5, mixed_precision="bf16", tf32=True, max_length=2048,
                      cache_features=stage == 1, group_by_length=True, attn_implementation="sdpa", progress=False, num_workers=a.workers,
                      warmup_ratio=0.03, pad_to_multiple_of=PAD_MULTIPLE, device=a.device)


def the_batches(cfg: TrainConfig, model) -> list[dict]:
    "The batches both sides train on, in order (our dataset, sampler and collate)."
    ds = load_data(replace(cfg, cache_features=False), model, say=lambda *x: None)
    sampler = StepBatches(len(ds), cfg.batch_size, cfg.max_steps, seed=cfg.seed, lengths=ds.lengths)
    return list(torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=min(8, os.cpu_count() or 1),
                                            collate_fn=partial(collate, pad_token_id=model.tokenizer.pad_token_id, pad_to_multiple_of=PAD_MULTIPLE)))


def run_side(a) -> None:
    "Child process: one side of one stage; writes its timings to `--result`."
    spec = json.loads(Path(a.spec).read_text())
    cfg = TrainConfig.from_dict(spec["config"])
    if a.side == "ours": r = run_ours(cfg, a.warmup, a.profile)
    else:
        seed_everything(cfg.seed)
        model = build_model(cfg)
        batches = the_batches(cfg, model)
        del model; gc.collect()
        r = run_baseline(cfg, Path(spec["hf_dir"]), batches, a.warmup, a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    Path(a.result).write_text(json.dumps(r))


def child(side: str, spec: Path, a) -> dict:
    "Run one side in a fresh Python process (no kernel plans or caches shared with the other side)."
    result = spec.with_name(f"{spec.stem}_{side}.json")
    cmd = [sys.executable, __file__, "--side", side, "--spec", str(spec), "--result", str(result), "--warmup", str(a.warmup),
           "--sdpa-backends", a.sdpa_backends] + (["--profile"] if a.profile and side == "ours" else []) + (["--device", a.device] if a.device else [])
    subprocess.run(cmd, check=True)
    return json.loads(result.read_text())


def bench_stage(stage: int, data: dict, parts: dict, tmp: Path, a, stage1_dir=None) -> tuple[dict, Path]:
    cfg = stage_config(stage, data, parts, tmp, a, stage1_dir)
    seed_everything(cfg.seed)
    model = build_model(cfg)  # on the CPU: this process only prepares; the children time
    hf_dir = export_hf(model, tmp / f"hf{stage}")
    timed = the_batches(cfg, model)[a.warmup:]
    n_llm, L, d = sum(p.numel() for p in model.llm.parameters()), model.llm.config.num_hidden_layers, model.llm.config.hidden_size
    del model; gc.collect()
    tokens = sum(int(b["attention_mask"].sum()) for b in timed)
    samples = sum(len(b["input_ids"]) for b in timed)
    seq = tokens / samples
    flops = model_flops_per_token(stage, n_llm, L, d, seq) * tokens
    spec = tmp / f"stage{stage}_spec.json"
    spec.write_text(json.dumps({"config": cfg.to_dict(), "hf_dir": str(hf_dir)}))
    ours, theirs = child("ours", spec, a), child("baseline", spec, a)
    row = {"stage": stage, "batch_size": cfg.batch_size, "steps_timed": a.steps, "mean_tokens_per_sample": seq, "llm_params": n_llm,
           "padded_tokens_per_sample": sum(b["attention_mask"].numel() for b in timed) / samples}
    for name, r in (("ours", ours), ("baseline", theirs)):
        row[name] = {"samples_per_s": samples / r["seconds"], "tokens_per_s": tokens / r["seconds"],
                     "mfu": flops / r["seconds"] / (a.peak * 1e12), "peak_memory_gb": r["peak_gb"], "first_loss": r["first_loss"],
                     "median_step_s": statistics.median(r["step_seconds"])}
    row["ours"]["notes"] = ours["notes"]
    row["speedup"] = theirs["seconds"] / ours["seconds"]
    return row, Path(ours["checkpoint"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", default="2,1"); ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10); ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--layers", type=int, default=22); ap.add_argument("--workers", type=int, default=8, help="our data-loader workers")
    ap.add_argument("--scenes", type=int, default=512)
    ap.add_argument("--sdpa-backends", default="all", choices=("all", "no-cudnn"),
                    help="no-cudnn: turn PyTorch's cuDNN attention off for both sides (flash / memory-efficient kernels instead)")
    ap.add_argument("--profile", action="store_true", help="also print a torch.profiler table of three of our timed steps (their timings then include its overhead)")
    ap.add_argument("--peak", type=float, default=989.0, help="the GPU's dense bf16 peak, TFLOP/s")
    ap.add_argument("--tiny", action="store_true", help="small stand-in models: check the script (with --device cpu) before a GPU run")
    ap.add_argument("--device", default=None, help="cpu: run without a GPU (with --tiny; figures meaningless)")
    ap.add_argument("--out", default=None, help="default bench/results/train_throughput_gpu.json (not written for --tiny)")
    ap.add_argument("--side", choices=("ours", "baseline"), help=argparse.SUPPRESS)  # internal: the child processes
    ap.add_argument("--spec", help=argparse.SUPPRESS); ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sdpa_backends == "no-cudnn": torch.backends.cuda.enable_cudnn_sdp(False)
    if a.side: return run_side(a)
    if not torch.cuda.is_available() and a.device != "cpu":
        raise SystemExit("train_throughput_gpu.py needs a CUDA GPU (on a CPU: bench/train_throughput.py; --tiny --device cpu checks this script)")
    out = a.out or (None if a.tiny else str(ROOT / "bench" / "results" / "train_throughput_gpu.json"))
    tmp = Path(tempfile.mkdtemp())
    parts, data = build_parts(tmp / "parts", 2 if a.tiny else a.layers, a.tiny), make_data(tmp / "data", 64 if a.tiny else a.scenes)
    rows, stage1 = [], None
    for st in [int(s) for s in a.stages.split(",")]:
        row, ck = bench_stage(st, data, parts, tmp, a, stage1 if st == 2 else None)  # stage 2 first: a fresh projector
        if st == 1: stage1 = ck
        rows.append(row); print(json.dumps(row), flush=True)
    info = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none", "torch": torch.__version__,
            "transformers": transformers.__version__, "peak_tflops": a.peak, "args": vars(a)}
    if out: Path(out).write_text(json.dumps({"machine": info, "stages": rows}, indent=1))
    print("| stage | ours samples/s | ours tokens/s | ours MFU | ours peak GB | baseline samples/s | baseline MFU | baseline peak GB | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        o, b = r["ours"], r["baseline"]
        print(f"| {r['stage']} | {o['samples_per_s']:.1f} | {o['tokens_per_s']:.0f} | {o['mfu']:.1%} | {o['peak_memory_gb']:.1f} | "
              f"{b['samples_per_s']:.1f} | {b['mfu']:.1%} | {b['peak_memory_gb']:.1f} | {r['speedup']:.2f}× |")


if __name__ == "__main__":
    main()
