"""lmms-eval runs llava_nb models: several routes to the same answers on the small-world task, checked item by item.

    .venv/bin/python tools/lmms_eval_check.py          # or: make lmms-eval

1. builds lmms-eval's own venv (`.venv-lmms`, never the project's `.venv`): `torch==2.13.0` alone, then
   `lmms_eval_tasks/requirements.txt` (lmms-eval and the versions that work) with torch held by a constraint; where
   PyPI's torchvision cannot load beside that torch (the CPU wheel: "operator torchvision::nms does not exist") it is
   removed, so transformers runs without it. Done once; a stamp in the venv remembers what was installed;
2. checks that `lmms_eval_tasks/smallworld/` is what its `make_data.py` writes;
3. exports the checkpoint (the shipped small-world one by default) with `llava-nb export-hf`;
4. runs lmms-eval `--model llava_hf` on the export, on the CPU;
5. starts `llava-nb serve` on a free port and runs lmms-eval `--model openai` (OpenAI-compatible) against it;
   lmms-eval 0.7 has two classes for each model type, a chat one (the default: image and text parts, the processor's
   or the server's chat template) and a simple one (`--force_simple`, older lmms-eval: a prompt string with
   `<image>`): both run, so four lmms-eval routes;
6. runs `llava-nb ask` on every item;
7. compares the five answers item by item and prints the agreement, each route's accuracy and the wall times.

Everything lands in `runs/lmms-eval/` (`report.json`, the lmms-eval outputs with `--log_samples`, logs). Exit status:
0 when all five agree on every item, 1 when they do not, 2 when a step could not run. Needs PyPI once (the venv);
after that no network: the task reads local files and the runs set HF_HUB_OFFLINE. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "lmms_eval_tasks"
TASK_DIR = TASKS / "smallworld"
REQUIREMENTS = TASKS / "requirements.txt"
TORCH = "torch==2.13.0"
MODEL_NAME = "llava-nano"
MAX_NEW_TOKENS = 16  # the task yaml's generation_kwargs.max_new_tokens: `ask` gets the same
SHOWN = (
    "lmms-eval",
    "torch",
    "torchvision",
    "transformers",
    "datasets",
    "accelerate",
    "huggingface-hub",
    "tokenizers",
    "openai",
    "decord",
    "filelock",
    "pillow",
    "numpy",
)


class StepError(RuntimeError):
    "A step that could not run (exit status 2)."


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: list, log_file: Path, env: dict | None = None, timeout: float = 1800) -> str:
    "Run `cmd`, its stdout and stderr into `log_file`; returns stdout. A failure names the command and the log."
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "w") as f:
        try:
            p = subprocess.run(
                [str(c) for c in cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=f, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise StepError(f"{' '.join(map(str, cmd[:4]))} ... ran past {timeout:.0f} s; log: {log_file}") from None
        f.write("\n--- stdout ---\n" + p.stdout)
    if p.returncode != 0:
        tail = "".join(log_file.read_text().splitlines(keepends=True)[-25:])
        raise StepError(f"{' '.join(map(str, cmd[:4]))} ... exited {p.returncode}; log: {log_file}\n{tail}")
    return p.stdout


def timed(times: dict, name: str):
    "A context manager adding the block's wall seconds to `times[name]`."

    class _T:
        def __enter__(self):
            self.t0 = time.perf_counter()

        def __exit__(self, *exc):
            times[name] = round(time.perf_counter() - self.t0, 1)
            if exc[0] is None:
                log(f"  {name}: {times[name]:.1f} s")

    return _T()


# ---- 1. lmms-eval's venv -----------------------------------------------------------------------------------------
def _stamp(torch_spec: str) -> str:
    return hashlib.sha256((torch_spec + "\n" + REQUIREMENTS.read_text()).encode()).hexdigest()


def ensure_venv(venv: Path, torch_spec: str, logs: Path, reinstall: bool = False) -> None:
    "Create `venv` and install lmms-eval into it, unless its stamp says this was done with the same requirements."
    py, stamp = venv / "bin" / "python", venv / ".lmms-eval-installed"
    if not reinstall and py.exists() and stamp.exists() and stamp.read_text().strip() == _stamp(torch_spec):
        log(f"  {venv} is ready (stamp matches {REQUIREMENTS.relative_to(ROOT)})")
        return
    if venv.resolve() == (ROOT / ".venv").resolve():
        raise StepError("lmms-eval goes into its own venv, never the project's .venv: pick another --venv")
    if not py.exists():
        run([sys.executable, "-m", "venv", venv], logs / "venv.log")
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check"]
    run(pip + ["-q", "--upgrade", "pip"], logs / "pip-upgrade.log")
    run(pip + [torch_spec], logs / "pip-torch.log")
    constraints = venv / "lmms-constraints.txt"
    constraints.write_text(torch_spec + "\n")
    run(pip + ["-c", constraints, "-r", REQUIREMENTS], logs / "pip-lmms-eval.log", timeout=3600)
    ok = subprocess.run([py, "-c", "import torchvision"], capture_output=True, text=True)
    if ok.returncode != 0:
        err = (ok.stderr.strip().splitlines() or ["?"])[-1]
        log(f"  torchvision from PyPI does not load beside {torch_spec} ({err}): removed, transformers runs without")
        run([py, "-m", "pip", "uninstall", "-y", "torchvision"], logs / "pip-uninstall-torchvision.log")
    run([py, "-c", "import lmms_eval.evaluator, decord, transformers"], logs / "import-check.log")
    stamp.write_text(_stamp(torch_spec) + "\n")


def versions(py: Path) -> dict:
    "Installed versions of the packages that matter, in the venv of `py`."
    code = (
        "import json, importlib.metadata as m\n"
        f"names = {list(SHOWN)!r}\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    return json.loads(subprocess.run([py, "-c", code], capture_output=True, text=True, check=True).stdout)


# ---- 2. the task's data ------------------------------------------------------------------------------------------
def load_items() -> list[dict]:
    return [json.loads(line) for line in (TASK_DIR / "smallworld.jsonl").read_text().splitlines() if line.strip()]


def check_data(items: list[dict]) -> None:
    "The committed items and images are what make_data.py writes now (same questions, answers and pixels)."
    sys.path.insert(0, str(TASK_DIR))
    import make_data
    from PIL import Image, ImageChops

    with tempfile.TemporaryDirectory() as tmp:
        fresh = make_data.write(Path(tmp))
        if fresh != items:
            raise StepError(f"{TASK_DIR / 'smallworld.jsonl'} differs from what make_data.py writes: rerun it")
        for img in sorted({it["image"] for it in items}):
            a, b = Image.open(TASK_DIR / img).convert("RGB"), Image.open(Path(tmp) / img).convert("RGB")
            if a.size != b.size or ImageChops.difference(a, b).getbbox() is not None:
                raise StepError(f"{TASK_DIR / img} differs from what make_data.py draws: rerun it")


# ---- 4./5. lmms-eval runs ----------------------------------------------------------------------------------------
def lmms_eval_cmd(venv: Path, model: str, model_args: str, out: Path) -> list:
    "The command a user types (README), with the task folder included and every sample logged."
    return [
        venv / "bin" / "lmms-eval",
        "--model",
        model,
        "--model_args",
        model_args,
        "--include_path",
        TASKS,
        "--tasks",
        "smallworld",
        "--batch_size",
        "1",
        "--log_samples",
        "--output_path",
        out,
    ]


def offline_env(out: Path) -> dict:
    "No hub at run time; a datasets/hub cache of the check's own."
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(out / "hf_home"),
        "OPENAI_API_KEY": "none",
        "TOKENIZERS_PARALLELISM": "false",
    }


def read_samples(out: Path) -> tuple[list[dict], dict]:
    "(per-item rows, aggregated results) of an lmms-eval run written under `out`."
    samples = sorted(out.rglob("*_samples_smallworld.jsonl"))
    results = sorted(out.rglob("*_results.json"))
    if not samples or not results:
        raise StepError(f"no samples/results file under {out}: did --log_samples write?")
    rows = [json.loads(line) for line in samples[-1].read_text().splitlines() if line.strip()]
    return rows, json.loads(results[-1].read_text())


def answers_of(rows: list[dict], items: list[dict], route: str) -> tuple[list[str], list[float]]:
    "The model's answer and lmms-eval's exact_match for each item, in the items' order."
    got: dict[int, dict] = {r["doc_id"]: r for r in rows}
    if sorted(got) != list(range(len(items))):
        raise StepError(f"{route}: lmms-eval logged doc ids {sorted(got)[:5]}..., expected 0..{len(items) - 1}")
    out, scores = [], []
    for i, it in enumerate(items):
        r = got[i]
        if r.get("input") not in (None, it["question"]):
            raise StepError(f"{route}: item {it['id']} was asked {r['input']!r}, not the plain question")
        resp = r.get("filtered_resps", r.get("resps"))
        while isinstance(resp, list):
            resp = resp[0] if resp else ""
        out.append(str(resp))
        scores.append(float(r["exact_match"]))
    return out, scores


def start_server(checkpoint: Path, log_file: Path, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    "`llava-nb serve` on a free port (port 0); returns the process and its base URL from the start line."
    cmd = [
        ROOT / ".venv" / "bin" / "llava-nb",
        "serve",
        "--checkpoint",
        checkpoint,
        "--port",
        "0",
        "--model-name",
        MODEL_NAME,
        "--device",
        "cpu",
        "--dtype",
        "fp32",
        "--quiet",
    ]
    err = open(log_file, "w")
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    t0 = time.time()
    while time.time() - t0 < timeout:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise StepError(f"llava-nb serve exited {proc.returncode} before serving; log: {log_file}")
        m = re.search(r"url=(\S+)", line or "")
        if m:
            return proc, m.group(1)
    proc.kill()
    raise StepError(f"llava-nb serve printed no url= line in {timeout} s; log: {log_file}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---- 6. llava-nb ask ---------------------------------------------------------------------------------------------
def ask_all(checkpoint: Path, items: list[dict], logs: Path) -> list[str]:
    "`llava-nb ask` once per item (greedy, the task's max_new_tokens); the answer is its output's last line."
    out = []
    for i, it in enumerate(items):
        cmd = [
            ROOT / ".venv" / "bin" / "llava-nb",
            "ask",
            "--checkpoint",
            checkpoint,
            "--image",
            TASK_DIR / it["image"],
            "--max-new-tokens",
            str(MAX_NEW_TOKENS),
            "--device",
            "cpu",
            "--dtype",
            "fp32",
            it["question"],
        ]
        stdout = run(cmd, logs / "ask" / f"{it['id']}.log")
        lines = stdout.rstrip("\n").splitlines()
        out.append(lines[-1].strip() if lines else "")
        if (i + 1) % 10 == 0:
            log(f"    asked {i + 1}/{len(items)}")
    return out


# ---- 7. comparison -----------------------------------------------------------------------------------------------
def check_prompts(export: Path, checkpoint: Path, items: list[dict]) -> int:
    """The exported processor's chat template, fed the message lmms-eval builds (image part, then the plain
    question), renders exactly the prompt llava_nb builds for that question. Returns how many items were checked."""
    from transformers import AutoProcessor
    from transformers.utils import logging as hf_logging

    from llava_nb.model.llava import LlavaModel

    hf_logging.set_verbosity_error()  # not the "slow image processor" notice: only the chat template is used here

    hf = AutoProcessor.from_pretrained(export)
    proc = LlavaModel.from_pretrained(checkpoint).processor
    for it in items:
        msg = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": it["question"]}]}]
        theirs = hf.apply_chat_template(msg, tokenize=False, add_generation_prompt=True)
        ours = proc.prompt(proc.conversation(it["question"], image=True))
        if theirs != ours:
            raise StepError(f"item {it['id']}: the exported chat template renders {theirs!r}, llava_nb {ours!r}")
    return len(items)


def compare(items: list[dict], answers: dict[str, list[str]], lmms_scores: dict[str, list[float]]) -> dict:
    "Agreement (identical answer strings) and normalised exact-match accuracy of each route."
    sys.path.insert(0, str(TASK_DIR))
    from utils import normalize_answer as task_normalize

    from llava_nb.eval.metrics import exact_match, normalize_answer

    routes = list(answers)
    rows, agree = [], 0
    for i, it in enumerate(items):
        got = {r: answers[r][i].strip() for r in routes}
        for text in [*got.values(), it["answer"]]:
            if task_normalize(text) != normalize_answer(text):
                raise StepError(f"the task's normalize_answer and llava_nb's disagree on {text!r}")
        same = len(set(got.values())) == 1
        agree += same
        rows.append(
            {
                "id": it["id"],
                "type": it["type"],
                "question": it["question"],
                "answer": it["answer"],
                **got,
                "agree": same,
            }
        )
    acc = {r: sum(exact_match(answers[r][i], it["answer"]) for i, it in enumerate(items)) / len(items) for r in routes}
    for r, scores in lmms_scores.items():
        mine = [float(exact_match(answers[r][i], it["answer"])) for i, it in enumerate(items)]
        if mine != scores:
            raise StepError(f"{r}: lmms-eval's per-item exact_match differs from llava_nb's exact_match")
    return {"n": len(items), "agree": agree, "accuracy": acc, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=ROOT / ".venv-lmms", help="lmms-eval's own venv (made if missing)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "lmms-eval")
    ap.add_argument("--checkpoint", type=Path, default=None, help="llava_nb checkpoint (default: the shipped nano one)")
    ap.add_argument("--torch", default=TORCH, help="torch requirement installed first and held by a constraint")
    ap.add_argument("--reinstall", action="store_true", help="reinstall the venv even if its stamp matches")
    a = ap.parse_args(argv)
    venv, out = a.venv.resolve(), a.out.resolve()
    logs, times, t_all = out / "logs", {}, time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from llava_nb.core import shipped_path  # llava_nb must import: run this with the project's venv

    ckpt = (a.checkpoint or shipped_path("nano") / "llava").resolve()
    items = load_items()
    try:
        log(f"1/7 lmms-eval venv {venv}")
        with timed(times, "venv"):
            ensure_venv(venv, a.torch, logs, a.reinstall)
        pins = versions(venv / "bin" / "python")
        log("  " + ", ".join(f"{k} {v}" for k, v in pins.items()))
        log(f"2/7 task data {TASK_DIR.relative_to(ROOT)}: {len(items)} items")
        with timed(times, "data check"):
            check_data(items)
        log(f"3/7 llava-nb export-hf {ckpt}")
        export = out / "hf"
        with timed(times, "export-hf"):
            cmd = [ROOT / ".venv" / "bin" / "llava-nb", "export-hf", "--checkpoint", ckpt, "--out", export]
            run(cmd + ["--overwrite"], logs / "export-hf.log")
            n_prompts = check_prompts(export, ckpt, items)
        log(f"  the exported chat template renders llava_nb's prompt for all {n_prompts} questions")
        env = offline_env(out)
        answers, lmms_scores, lmms_acc, commands = {}, {}, {}, {}

        def lmms_eval(route: str, model: str, model_args: str, simple: bool) -> None:
            "One lmms-eval run; its logged answers and scores go under `route`."
            route_out = out / route
            shutil.rmtree(route_out, ignore_errors=True)
            cmd = lmms_eval_cmd(venv, model, model_args, route_out) + (["--force_simple"] if simple else [])
            commands[route] = " ".join(map(str, cmd))
            with timed(times, f"lmms-eval {route}"):
                run(cmd, logs / f"lmms-eval-{route}.log", env=env)
            rows, res = read_samples(route_out)
            answers[route], lmms_scores[route] = answers_of(rows, items, route)
            lmms_acc[route] = res["results"]["smallworld"]["exact_match,none"]

        log("4/7 lmms-eval --model llava_hf (transformers on the export, CPU): its chat class, then --force_simple")
        hf_args = f"pretrained={export},device=cpu,device_map=cpu,dtype=float32"
        lmms_eval("llava_hf", "llava_hf", hf_args, simple=False)
        lmms_eval("llava_hf_simple", "llava_hf", hf_args, simple=True)
        log("5/7 lmms-eval --model openai against llava-nb serve: its chat class, then --force_simple")
        with timed(times, "llava-nb serve start"):
            proc, url = start_server(ckpt, logs / "serve.log")
        try:
            log(f"  llava-nb serve at {url}")
            oa_args = f"model={MODEL_NAME},base_url={url},api_key=none,num_concurrent=1,timeout=120"
            lmms_eval("openai", "openai", oa_args, simple=False)
            lmms_eval("openai_simple", "openai", oa_args, simple=True)
        finally:
            stop_server(proc)
        log(f"6/7 llava-nb ask on {len(items)} items")
        with timed(times, "llava-nb ask"):
            answers["ask"] = ask_all(ckpt, items, logs)
        log("7/7 compare")
        cmp = compare(items, answers, lmms_scores)
    except StepError as e:
        log(f"FAILED: {e}")
        return 2
    times["total"] = round(time.perf_counter() - t_all, 1)
    report = {
        "checkpoint": str(ckpt),
        "n": cmp["n"],
        "agree": cmp["agree"],
        "accuracy": cmp["accuracy"],
        "lmms_eval_accuracy": lmms_acc,
        "seconds": times,
        "versions": pins,
        "commands": commands,
        "items": cmp["rows"],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    for r in cmp["rows"]:
        if not r["agree"]:
            got = ", ".join(f"{k} {r[k]!r}" for k in answers)
            log(f"  DISAGREE {r['id']} {r['question']!r}: {got} (answer {r['answer']!r})")
    log(
        f"agreement: {cmp['agree']}/{cmp['n']} items identical across "
        + ", ".join(answers)
        + " (llava_hf*: transformers on the export; openai*: llava-nb serve; ask: llava-nb ask)"
    )
    log(
        "accuracy (normalised exact match): "
        + ", ".join(f"{k} {v:.3f}" for k, v in cmp["accuracy"].items())
        + "; lmms-eval reported: "
        + ", ".join(f"{k} {v:.3f}" for k, v in lmms_acc.items())
    )
    log("seconds: " + ", ".join(f"{k} {v}" for k, v in times.items()) + f"; report: {out / 'report.json'}")
    return 0 if cmp["agree"] == cmp["n"] else 1


if __name__ == "__main__":
    sys.exit(main())
