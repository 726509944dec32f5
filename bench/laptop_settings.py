"""Which CPU settings train the small world fastest on a laptop: torch threads, bf16 vs fp32 and the shared prefix.

Each setting runs in its own process: the quickstart's own stage configs (`quickstart.stage1_config` /
`stage2_config`, the `nano` preset) on a small world, `--steps` optimizer steps, with `num_threads` and
`mixed_precision` (and with `--share-prefix on,off` the trainer's `share_prefix`) changed and nothing else; the figure
is the trainer's own samples/s for the run (data loading, forward, backward and optimizer step, the first steps
included, the same for every setting), with its final loss (the shared prefix must not change it).

    .venv/bin/python bench/laptop_settings.py [--threads 1,2,4] [--steps 24] [--share-prefix on,off]

Results go to `bench/results/laptop_settings.json` with the machine they were measured on (CPU model, cores):
advice for a laptop should name the machine it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from llava_nb.core import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def one_run(stage: int, threads: int, precision: str, steps: int, work: Path, share_prefix: bool = True) -> dict:
    "Train `steps` steps of the quickstart's stage `stage` with these settings; the trainer's samples/s."
    from llava_nb.smallworld.quickstart import QuickstartConfig, make_data, stage1_config, stage2_config

    cfg = QuickstartConfig(n_train=240, n_test=8, seed=0)
    paths = make_data(work, cfg, say=lambda *a: None)  # the same small world for every run (reused once written)
    settings = dict(max_steps=steps, num_threads=threads, mixed_precision=precision, share_prefix=share_prefix)
    out = work / f"s{stage}_t{threads}_{precision}_{'shared' if share_prefix else 'each'}"
    if stage == 1:
        tc = stage1_config(out, paths, cfg, None, output_dir=str(out), **settings)
    else:
        tc = stage2_config(out, paths, cfg, None, output_dir=str(out), **settings)
    from llava_nb.train.loop import train

    res = train(tc)
    speed = {"samples_per_second": round(res.samples_per_second, 1), "tokens_per_second": round(res.tokens_per_second)}
    return speed | {"final_loss": round(res.final_loss, 6)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default=None, help="comma-separated thread counts (default: 1, 2, ... all cores)")
    ap.add_argument("--precisions", default="no,bf16", help="'no' (fp32) and/or 'bf16'")
    ap.add_argument("--stages", default="1,2")
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--share-prefix", default="on", help="'on' (the trainer's default) and/or 'off'")
    ap.add_argument("--one", nargs=4, metavar=("STAGE", "THREADS", "PRECISION", "SHARE"), help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "laptop_settings.json"))
    a = ap.parse_args(argv)
    if a.one:  # a child process: one setting
        r = one_run(int(a.one[0]), int(a.one[1]), a.one[2], a.steps, Path(a.work), a.one[3] == "on")
        print("RESULT " + json.dumps(r), flush=True)
        return r
    cores = os.cpu_count() or 1
    threads = (
        [int(t) for t in a.threads.split(",")] if a.threads else sorted({1, 2, 4, 8, cores} & set(range(1, cores + 1)))
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="laptop_settings_") as work:
        for stage in map(int, a.stages.split(",")):
            for t in threads:
                for precision in a.precisions.split(","):
                    for share in a.share_prefix.split(","):
                        one = ["--one", str(stage), str(t), precision, share, "--steps", str(a.steps), "--work", work]
                        p = subprocess.run([sys.executable, __file__, *one], capture_output=True, text=True, cwd=ROOT)
                        if p.returncode != 0:
                            raise RuntimeError(f"stage {stage}, {t} threads, {precision}: failed\n{p.stderr[-3000:]}")
                        line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))
                        row = {"stage": stage, "threads": t, "precision": "fp32" if precision == "no" else precision}
                        row["share_prefix"] = share == "on"
                        rows.append(row | json.loads(line[len("RESULT ") :]))
                        print(rows[-1], flush=True)
    res = {
        "machine": {"cpu": cpu_name(), "cores": cores, "python": platform.python_version()},
        "steps": a.steps,
        "rows": rows,
    }
    Path(a.out).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
