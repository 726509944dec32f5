"Exact resume: a stage-2 run killed with SIGKILL mid-stage and resumed in a new process ends bit-for-bit where an uninterrupted run does."
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llava_nb.train.checkpoint import RESUME_FILES, is_resumable
from llava_nb.tiny import save_tiny_parts
from llava_nb.train.loop import train
from llava_nb.train.config import TrainConfig

FIX = Path(__file__).resolve().parents[1] / "data" / "fixtures"
CHILD = """
import json, sys, time
from llava_nb.train.loop import train
from llava_nb.train.config import TrainConfig
cfg = TrainConfig.from_dict(json.loads(open(sys.argv[1]).read()))
pause = float(sys.argv[2])
train(cfg, callbacks=[lambda info: time.sleep(pause)] if pause else [])
"""


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    return save_tiny_parts(tmp_path_factory.mktemp("parts"))


def config(parts, out, **kw):
    "12 steps of stage 2 on the mixed fixture (images and text-only), with every piece of state a resume must restore."
    return TrainConfig(**{**dict(stage=2, data_path=str(FIX / "llava_v1_5_mix665k.json"), image_folder=str(FIX / "images"),
                                 output_dir=str(out), vision_tower=parts["vision"], llm=parts["llm"], lr=3e-3, projector_lr=1e-2,
                                 batch_size=3, grad_accum=2, max_steps=12, warmup_ratio=0.2, save_every=4, group_by_length=True,
                                 weight_decay=0.1, progress=False, num_threads=1, log_every=1), **kw})


def run_child(tmp_path, cfg, pause=0.0):
    f = tmp_path / f"cfg-{time.monotonic_ns()}.json"
    f.write_text(cfg.to_json())
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, str(script), str(f), str(pause)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def weights(ckpt):
    w = {"projector." + k: v for k, v in load_file(str(ckpt / "projector.safetensors")).items()}
    for f in sorted((ckpt / "llm").glob("*.safetensors")): w.update({"llm." + k: v for k, v in load_file(str(f)).items()})
    return w


def losses(out): return [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in json.loads((Path(out) / "history.json").read_text())]


def test_kill_9_then_resume_equals_the_uninterrupted_run(parts, tmp_path):
    killed = tmp_path / "killed"
    child = run_child(tmp_path, config(parts, killed), pause=0.4)  # slowed down so that the kill lands mid-stage
    ref = train(config(parts, tmp_path / "ref"))  # meanwhile, the uninterrupted run in this process
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint-000004").is_dir():
        assert child.poll() is None, child.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint-000004 after 120 s"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL and not (killed / "final").exists()
    assert is_resumable(killed / "checkpoint-000004")

    resumed = run_child(tmp_path, replace(config(parts, killed), resume_from="latest"))
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err.decode()[-3000:]

    assert losses(killed) == losses(tmp_path / "ref") == [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in ref.history]
    a, b = weights(killed / "final"), weights(tmp_path / "ref" / "final")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert torch.equal(a[k], b[k]), k  # bit for bit
    start = load_file(str(Path(parts["llm"]) / "model.safetensors"))
    assert any(not torch.equal(b["llm." + k], v) for k, v in start.items() if "llm." + k in b)  # the LLM did train


def test_a_checkpoint_holds_the_resume_state_without_pickle(parts, tmp_path):
    train(config(parts, tmp_path, max_steps=5, save_every=4))
    ck = tmp_path / "checkpoint-000004"
    names = {p.name for p in ck.iterdir()}
    assert set(RESUME_FILES) <= names and {"rng_state_0.json", "rng_state_0.safetensors"} <= names
    assert not [n for n in names if n.endswith((".pt", ".bin", ".pkl", ".pth"))]
    state = json.loads((ck / "trainer_state.json").read_text())
    assert (state["step"], state["micro_batch"], state["total"]) == (4, 8, 5)
    opt = load_file(str(ck / "optimizer.safetensors"))
    assert any(k.endswith(".exp_avg_sq") for k in opt) and json.loads((ck / "scheduler.json").read_text())["last_epoch"] == 4


def test_resume_refuses_a_checkpoint_of_another_run(parts, tmp_path):
    train(config(parts, tmp_path, max_steps=5, save_every=4))
    with pytest.raises(ValueError, match=r"written by another run \(lr: 0.003 there, 0.001 here\)"):
        train(config(parts, tmp_path, max_steps=5, save_every=4, lr=1e-3, resume_from="latest"))
    with pytest.raises(FileNotFoundError, match="lacks optimizer.safetensors"):
        train(config(parts, tmp_path, max_steps=5, resume_from=str(tmp_path / "final")))


def test_resume_latest_without_a_checkpoint_starts_afresh(parts, tmp_path, capsys):
    res = train(config(parts, tmp_path, max_steps=2, save_every=0, resume_from="latest"))
    assert res.steps == 2 and "starting afresh" in capsys.readouterr().out
