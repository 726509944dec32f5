"""Where a training step's time goes: torch.profiler over the quickstart's own stage (the real path: `setup_run`,
`take_step`), its operators grouped into matmuls, attention, elementwise and norms, casts, the optimizer, data and the
rest, with the share of the machine's matmul peak the step reaches.

    .venv/bin/python bench/profile_step.py [--stage 2] [--steps 12] [--warmup 3] [--name NAME] [--set key=value ...]

`--set` changes one field of the stage's `TrainConfig` (e.g. `--set attn_implementation=sdpa`), so each fix is
measured alone against the same batches. Writes bench/results/profile_step.json (an entry per --name) and prints the
table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from llava_nb.mfu import flops_per_token, machine_peak, step_shapes
from llava_nb.core import cpu_name
from llava_nb.quickstart import QuickstartConfig, default_backbones, make_data, stage1_config, stage2_config
from llava_nb.train import setup_run, take_step
from llava_nb.train_run import inputs_fingerprint
from llava_nb.train_step import SkipGuard, make_accelerator

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "profile_step.json"

GROUPS = (  # (group, substrings of an operator's name), first match wins
    ("matmul", ("mm", "matmul", "linear", "addmm", "bmm", "baddbmm")),
    ("attention", ("softmax", "attention", "masked_fill", "where", "causal")),
    ("casts and copies", ("to_copy", "copy_", "_to_copy", "clone", "contiguous", "cat", "empty", "zero", "fill_")),
    ("optimizer", ("adam", "_foreach", "lerp", "addcmul", "addcdiv", "sqrt", "clip", "norm_")),
    ("loss", ("cross_entropy", "nll_loss", "log_softmax")),
    ("norms and activations", ("rms", "pow", "mean", "rsqrt", "silu", "gelu", "mul", "add", "neg", "sub", "div")),
    ("indexing and rope", ("index", "gather", "scatter", "slice", "select", "embedding", "cos", "sin", "rotate")),
)


def group_of(name: str) -> str:
    n = name.lower()
    for group, keys in GROUPS:
        if any(k in n for k in keys):
            return group
    return "other"


def stage_config(stage: int, out: Path, sets: dict):
    cfg = QuickstartConfig(n_train=400, n_test=10)
    paths = make_data(out, cfg, say=lambda *a, **k: None)
    make = stage1_config if stage == 1 else stage2_config
    tc = make(out, paths, cfg, default_backbones(), progress=False)
    fields = {k: type(getattr(tc, k))(v) if getattr(tc, k) is not None else v for k, v in sets.items()}
    return replace(tc, **fields)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--name", default="quickstart stage")
    ap.add_argument("--set", nargs="*", default=[], help="TrainConfig fields to change: key=value")
    a = ap.parse_args(argv)
    sets = dict(s.split("=", 1) for s in a.set)
    with tempfile.TemporaryDirectory() as d:
        cfg = stage_config(a.stage, Path(d), sets)
        acc = make_accelerator(cfg)
        run = setup_run(cfg, None, acc, Path(d) / f"stage{a.stage}", lambda *x, **k: None, inputs_fingerprint(cfg))
        batches, skips = iter(run.loader), SkipGuard(cfg.max_skipped_steps)
        for step in range(1, a.warmup + 1):
            take_step(run, step, batches, skips)
        tokens0, samples0 = run.tokens, run.samples
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for step in range(a.warmup + 1, a.warmup + a.steps + 1):
                take_step(run, step, batches, skips)
        seconds = time.perf_counter() - t0
        tokens, samples = run.tokens - tokens0, run.samples - samples0
        trained = sum(h["tokens"] for h in run.history[-a.steps :])
        config = run.model.llm.config
    bf16 = acc.mixed_precision == "bf16"
    peak = machine_peak(step_shapes(config, tokens // a.steps), torch.bfloat16 if bf16 else torch.float32)
    fpt = flops_per_token(config, tokens / samples, cfg.trains_llm, trained / tokens)
    self_us = {}
    for ev in prof.key_averages():
        g = group_of(ev.key)
        self_us[g] = self_us.get(g, 0.0) + ev.self_cpu_time_total
    total_us = sum(self_us.values())
    top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]
    entry = {
        "stage": a.stage,
        "settings": sets,
        "precision": acc.mixed_precision,
        "steps": a.steps,
        "ms_per_step": round(1000 * seconds / a.steps, 1),
        "tokens_per_second": round(tokens / seconds),
        "flops_per_token": fpt,
        "peak_tflops": round(peak, 3),
        "mfu": round(tokens / seconds * fpt["train"] / (peak * 1e12), 3),
        "trained_fraction": round(trained / tokens, 3),
        "groups": {g: round(us / total_us, 3) for g, us in sorted(self_us.items(), key=lambda x: -x[1])},
        "top_ops": [
            {"op": e.key, "ms_per_step": round(e.self_cpu_time_total / 1000 / a.steps, 2), "calls": e.count // a.steps}
            for e in top
        ],
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
    }
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[a.name] = entry
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in entry.items() if k != "top_ops"}, indent=1))
    for t in entry["top_ops"]:
        print(f"{t['ms_per_step']:8.2f} ms  {t['calls']:5d}  {t['op']}")
    return entry


if __name__ == "__main__":
    main()
