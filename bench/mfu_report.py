"""This CPU's (or GPU's) matmul peak at the nano model's own shapes, the model's FLOPs per token, and the share of the
peak that stage 1, stage 2 and greedy decoding reach: model FLOPs utilisation (`llava_nb.train.mfu`, lesson 03i_train_mfu).

Each stage is the quickstart's own (`QuickstartConfig`'s data, the `nano` presets), trained for `--steps` steps by
`train` (stage 2 from a fresh projector: the speed does not depend on it); generation answers 64 held-out questions
with the shipped `data/nano/llava`. Run in every precision the machine computes natively: fp32 always, bf16 where the
CPU has AVX512-BF16 or AMX (or on a GPU).

    .venv/bin/python bench/mfu_report.py [--steps 60] [--device cpu]     # ~1.5 min on 2 cores

Writes bench/results/mfu.json, one entry per machine (CPU name, or GPU name), and prints the table. The ratio of our
training step to transformers' is `bench/train_throughput.py`'s (it reports both sides' MFU as well).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from llava_nb.core import cpu_has_fast_bf16, cpu_name, shipped_path
from llava_nb.model.hf import load_model
from llava_nb.train.mfu import flops_per_token, generation_mfu, machine_peak, stage_mfu, step_shapes
from llava_nb.smallworld.quickstart import QuickstartConfig, default_backbones, make_data, stage1_config, stage2_config
from llava_nb.train.loop import train

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "mfu.json"


def machine(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else cpu_name()


def stages(out: Path, steps: int, precision: str, device: str) -> dict:
    "Stage 1 and stage 2 of the quickstart, `steps` steps each in `precision`: their `stage_mfu`."
    cfg = QuickstartConfig(device=device)
    paths = make_data(out, cfg, say=lambda *a, **k: None)
    common = dict(max_steps=steps, mixed_precision=precision, progress=False, save_every=0)
    res = {}
    for stage, make in ((1, stage1_config), (2, stage2_config)):
        r = train(make(out / precision, paths, cfg, default_backbones(), **common))
        res[f"stage{stage}"] = {**stage_mfu(r, r.model.llm.config), "tokens_per_second": round(r.tokens_per_second)}
    return res, paths


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    gpu = a.device.startswith("cuda")
    precisions = ["no", "bf16"] if gpu or cpu_has_fast_bf16() else ["no"]
    llava = load_model(shipped_path("nano") / "llava").to(a.device).eval()
    config = llava.llm.config
    entry = {
        "machine": {"name": machine(a.device), "device": a.device, "threads": torch.get_num_threads(),
                    "cpu bf16": cpu_has_fast_bf16(), "torch": torch.__version__, "python": platform.python_version()},
        "model": {"llm": "data/nano/llm",
                  "flops_per_token (forward, 100-token samples)": round(flops_per_token(config, 100)["forward"])},
        "peak_tflops": {},
        "precisions": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        for precision in precisions:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            name = "bf16" if precision == "bf16" else "fp32"
            entry["peak_tflops"][name] = round(machine_peak(step_shapes(config, 3200), dtype, a.device), 3)
            res, paths = stages(Path(d), a.steps, precision, a.device)
            vqa = json.loads(Path(paths["vqa"]).read_text())[:64]
            questions, images = [r["question"] for r in vqa], [Path(paths["test_world"]) / r["image"] for r in vqa]
            res["generation"] = generation_mfu(llava, questions, images, 16, dtype if precision == "bf16" else None)
            entry["precisions"][name] = res
    entry["seconds"] = round(time.perf_counter() - t0, 1)
    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results[entry["machine"]["name"]] = entry
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"{entry['machine']['name']} ({a.device}, {entry['machine']['threads']} threads): peak TFLOP/s at the nano "
          f"LLM's shapes {entry['peak_tflops']}")
    print("| precision | stage 1 MFU | stage 2 MFU | generation MFU | stage 2 tokens/s |")
    print("|---|---:|---:|---:|---:|")
    for name, r in entry["precisions"].items():
        print(f"| {name} | {r['stage1']['mfu']:.0%} | {r['stage2']['mfu']:.0%} | {r['generation']['mfu']:.0%} "
              f"| {r['stage2']['tokens_per_second']} |")
    print(f"wrote {OUT} in {entry['seconds']}s")
    return entry


if __name__ == "__main__":
    main()
