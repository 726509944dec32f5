"""Datagen throughput: records/s of `generate_dataset` with an OpenAI-compatible teacher, one request at a time
against `--concurrency` requests in flight, when every reply takes a fixed server latency.

    .venv/bin/python bench/datagen_throughput.py [--records 120] [--latency 0.05] [--concurrency 1 8] [--kind conversation]

The teacher is a real HTTP server on 127.0.0.1 (tests/stub_openai.py, a ThreadingHTTPServer) that sleeps `--latency`
seconds before each reply and answers with one Question/Answer exchange about the context's first caption; the scenes
are small-world scenes (their context text only; no images are drawn). Each setting writes its own output (through the
resumable log, as the command does), from scratch. Records must be identical across concurrency settings (the script
checks). Prints a table and writes bench/results/datagen_throughput.json."""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from stub_openai import StubOpenAI  # noqa: E402

from llava_nb.smallworld.world import sample_scene  # noqa: E402
from llava_nb.datagen.teachers import OpenAITeacher, RetryPolicy, generate_dataset  # noqa: E402


def reply(body) -> str:
    first = body["messages"][-1]["content"].splitlines()[0]
    return f"Question: What does the image show?\nAnswer: {first}"


def run(n: int, latency: float, concurrency: int, kind: str, scenes: list[dict]) -> tuple[dict, list[dict]]:
    with StubOpenAI(reply=reply, latency=latency) as server, tempfile.TemporaryDirectory() as d:
        teacher = OpenAITeacher("stub-teacher", base_url=server.url, retry=RetryPolicy(retries=2, base_delay=0.01))
        t0 = time.perf_counter()
        records, summary = generate_dataset(
            scenes, teacher, Path(d) / "out.json", mix={kind: 1}, concurrency=concurrency, llava_shape=True,
            progress=False, on_error="skip",
        )
        wall = time.perf_counter() - t0
    res = {
        "concurrency": concurrency,
        "records": len(records),
        "skipped": summary.skipped,
        "wall_seconds": round(wall, 3),
        "records_per_second": round(len(records) / wall, 2),
        "ideal_records_per_second": round(concurrency / latency, 2) if latency > 0 else None,
        "max_requests_in_flight": server.max_in_flight,
        "requests": teacher.usage.requests,
        "prompt_tokens": teacher.usage.prompt_tokens,
        "completion_tokens": teacher.usage.completion_tokens,
    }
    return res, records


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=120)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the server sleeps before each reply")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--kind", default="conversation", choices=["conversation", "complex"])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "datagen_throughput.json"))
    args = ap.parse_args()
    scenes = [sample_scene(i, f"nw_{i:06d}") for i in range(args.records)]
    results, first = [], None
    for k in args.concurrency:
        res, records = run(args.records, args.latency, k, args.kind, scenes)
        if first is None:
            first = records
        elif records != first:
            raise SystemExit(f"concurrency {k} wrote different records than concurrency {args.concurrency[0]}")
        results.append(res)
    base = results[0]["records_per_second"]
    print(f"| concurrency | records | wall s | records/s | ideal records/s | speed-up | max in flight |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['concurrency']} | {r['records']} | {r['wall_seconds']:.2f} | {r['records_per_second']:.1f} | "
            f"{r['ideal_records_per_second']} | {r['records_per_second'] / base:.2f}× | {r['max_requests_in_flight']} |"
        )
    out = {
        "what": "records/s of llava_nb.datagen.teachers.generate_dataset (llava_shape=True, resumable log) with an "
        "OpenAITeacher against a local OpenAI-compatible stub server that sleeps a fixed latency per request",
        "settings": {"records": args.records, "latency_seconds": args.latency, "kind": args.kind},
        "identical_records_across_concurrency": True,
        "results": results,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "command": "python bench/datagen_throughput.py " + " ".join(sys.argv[1:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
