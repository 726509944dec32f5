"""`llava-nb data inspect` throughput: records/s over the LLaVA-1.5 mix fixture repeated to ~20k records (ids made
unique), with the tiny Llama-style tokenizer, `vicuna_v1` and 576 tokens per image; in-process (`inspect_data`, the
file already parsed) and end to end (the console script: start-up, imports, reading the file, the summary).
Also the Python memory inspecting takes beyond the parsed file (tracemalloc's peak), for a tenth of the records and
for all of them: the same, since it streams (one record's tokens at a time).

    .venv/bin/python bench/data_inspect_throughput.py [--n 20000] [--repeats 3]

Prints a markdown table and writes bench/results/data_inspect_throughput.json."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import tokenizers
import transformers

from llava_nb.data.records import load_records
from llava_nb.data.inspect import inspect_data, load_tokenizer
from llava_nb.tiny import tiny_llama_tokenizer

ROOT = Path(__file__).resolve().parents[1]
MIX = ROOT / "data" / "fixtures" / "llava_v1_5_mix665k.json"
CLI = str(Path(sys.executable).parent / "llava-nb")


def repeated_mix(n: int, path: Path) -> int:
    "Write the mix fixture repeated to `n` records (ids suffixed with the copy number) to `path`; returns n."
    base = json.loads(MIX.read_text())
    records = [dict(r, id=f"{r['id']}-{i // len(base)}") for i, r in zip(range(n), base * (n // len(base) + 1))]
    path.write_text(json.dumps(records))
    return len(records)


def peak_mb(raw, tok) -> float:
    "Peak Python memory (MB) allocated while inspecting `raw` (already parsed)."
    tracemalloc.start()
    inspect_data(raw, tok, "vicuna_v1", num_image_tokens=576, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 2)


def main(n: int = 20000, repeats: int = 3) -> dict:
    tmp = Path(tempfile.mkdtemp())
    data, tok_dir = tmp / "mix_repeated.json", tmp / "llama"
    n = repeated_mix(n, data)
    tiny_llama_tokenizer().save_pretrained(tok_dir)
    tok = load_tokenizer(tok_dir)
    raw = load_records(data)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        summary = inspect_data(raw, tok, "vicuna_v1", num_image_tokens=576, progress=False)
        rates.append(n / (time.perf_counter() - t0))
    assert summary.ok and summary.skips.kept == n, summary
    peaks = {n // 10: peak_mb(raw[: n // 10], tok), n: peak_mb(raw, tok)}
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = subprocess.run(
            [CLI, "data", "inspect", str(data), "--template", "vicuna_v1", "--tokenizer", str(tok_dir)],
            capture_output=True,
            text=True,
            env=dict(os.environ, TQDM_DISABLE="1"),
        )
        walls.append(time.perf_counter() - t0)
        assert p.returncode == 0, p.stderr
    wall = statistics.median(walls)
    result = dict(
        records=n,
        source=f"{MIX.relative_to(ROOT)} repeated",
        tokenizer="tiny Llama-style (llava_nb.tiny.tiny_llama_tokenizer), saved and loaded with AutoTokenizer",
        template="vicuna_v1",
        num_image_tokens=576,
        records_per_s_in_process=round(statistics.median(rates)),
        cli_wall_s=round(wall, 2),
        records_per_s_cli=round(n / wall),
        peak_python_mb_while_inspecting={str(k): v for k, v in peaks.items()},
        file_mb=round(data.stat().st_size / 2**20, 1),
        machine=dict(
            cpu=platform.processor() or platform.machine(),
            cores=os.cpu_count(),
            python=platform.python_version(),
            transformers=transformers.__version__,
            tokenizers=tokenizers.__version__,
        ),
    )
    print("| records | in-process records/s | CLI wall (s) | CLI records/s | peak MB inspecting n/10, n records |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {n:,} | {result['records_per_s_in_process']:,} | {wall:.1f} | {result['records_per_s_cli']:,} "
        f"| {peaks[n // 10]}, {peaks[n]} |"
    )
    out = ROOT / "bench" / "results" / "data_inspect_throughput.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    main(a.n, a.repeats)
