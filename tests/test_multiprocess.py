"Two CPU processes under `accelerate launch` train like one process with the same global batch."
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llava_nb.tiny import save_tiny_parts
from llava_nb.train.loop import train
from llava_nb.train.config import TrainConfig

FIX = Path(__file__).resolve().parents[1] / "data" / "fixtures"
ACCELERATE = Path(sys.executable).with_name("accelerate")
# Each process pads its half batch to its own longest example and sums its own losses, so the matrix shapes and the order
# of the additions differ from one process's: the per-step losses agree to float32 rounding, not bit for bit.
LOSS_RTOL, WEIGHT_ATOL = 1e-5, 1e-5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not ACCELERATE.is_file() or not torch.distributed.is_available(), reason="accelerate launcher or torch.distributed missing")
def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    parts = save_tiny_parts(tmp_path / "parts")
    base = dict(stage=2, data_path=str(FIX / "llava_v1_5_mix665k.json"), image_folder=str(FIX / "images"), vision_tower=parts["vision"],
                llm=parts["llm"], lr=3e-3, projector_lr=1e-2, max_steps=4, grad_accum=1, group_by_length=True, progress=False, num_threads=1, device="cpu")
    one = train(TrainConfig(**base, batch_size=4, output_dir=str(tmp_path / "one")))

    cfg = tmp_path / "two.json"
    cfg.write_text(TrainConfig(**base, batch_size=2, output_dir=str(tmp_path / "two")).to_json())  # 2 processes × 2 = 4
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    # `--cpu` alone picks accelerate's single-process launcher (multi-CPU there means mpirun + oneCCL); `--multi_gpu` picks
    # torchrun, whose processes run on the CPU here (device="cpu", gloo all-reduce).
    cmd = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(free_port()), "-m", "llava_nb.train", "--config", str(cfg)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    assert "× 2" in p.stdout  # it really ran on two processes

    two = json.loads((tmp_path / "two" / "history.json").read_text())
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    assert [r["tokens"] for r in two] == [r["tokens"] for r in one.history]  # the same examples in every step
    assert [r["samples"] for r in two] == [r["samples"] for r in one.history]
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one.history], rel=LOSS_RTOL)
    assert [r["grad_norm"] for r in two] == pytest.approx([r["grad_norm"] for r in one.history], rel=1e-4)
    a = load_file(str(tmp_path / "two" / "final" / "projector.safetensors"))
    b = load_file(str(tmp_path / "one" / "final" / "projector.safetensors"))
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=0, atol=WEIGHT_ATOL)


CHILD = """
import json, sys, time
from llava_nb.train.loop import train
from llava_nb.train.config import TrainConfig
cfg = TrainConfig.from_dict(json.loads(open(sys.argv[1]).read()))
pause = float(sys.argv[2])
train(cfg, callbacks=[lambda info: time.sleep(pause)] if pause else [])
"""


def launch(tmp_path, cfg: TrainConfig, pause: float = 0.0, engine: tuple = ("--multi_gpu",)) -> subprocess.Popen:
    "`cfg` on two CPU processes under `accelerate launch`, in its own process group (so that one kill stops all)."
    f = tmp_path / f"cfg-{time.monotonic_ns()}.json"
    f.write_text(cfg.to_json())
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [str(ACCELERATE), "launch", *engine, "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(free_port()), str(script), str(f), str(pause)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)


def history(out) -> list:
    return [(r["step"], r["loss"], r["grad_norm"], r["lr"], r["tokens"]) for r in json.loads((Path(out) / "history.json").read_text())]


def kill_and_resume(tmp_path, base: dict, engine: tuple):
    "(killed-then-resumed run dir, uninterrupted run dir): both on two processes under `engine`."
    ref = launch(tmp_path, TrainConfig(**base, output_dir=str(tmp_path / "ref")), engine=engine)
    killed = tmp_path / "killed"
    child = launch(tmp_path, TrainConfig(**base, output_dir=str(killed)), pause=0.5, engine=engine)
    deadline = time.monotonic() + 240
    while not (killed / "checkpoint-000004").is_dir():
        assert child.poll() is None, child.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint-000004 after 240 s"
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)  # the launcher and both workers, as a node failure would
    child.wait()
    assert not (killed / "final").exists()
    resumed = launch(tmp_path, TrainConfig(**{**base, "resume_from": "latest"}, output_dir=str(killed)), engine=engine)
    for p in (resumed, ref):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-4000:]
    return killed, tmp_path / "ref"


@pytest.mark.skipif(not ACCELERATE.is_file() or not torch.distributed.is_available(), reason="accelerate launcher or torch.distributed missing")
def test_ddp_kill_9_then_resume_equals_the_uninterrupted_run(tmp_path):
    parts = save_tiny_parts(tmp_path / "parts")
    base = dict(stage=2, data_path=str(FIX / "llava_v1_5_mix665k.json"), image_folder=str(FIX / "images"), vision_tower=parts["vision"],
                llm=parts["llm"], lr=3e-3, projector_lr=1e-2, batch_size=2, max_steps=10, save_every=4, group_by_length=True,
                weight_decay=0.1, warmup_ratio=0.2, progress=False, num_threads=1, device="cpu", log_every=1,
                group_by_modality=True)  # whole text-only micro-batches on one process: its projector gets no image
    killed, ref = kill_and_resume(tmp_path, base, ("--multi_gpu",))
    assert "resumed from" in (killed / "train.log").read_text() and "× 2, MULTI_CPU" in (killed / "train.log").read_text()
    assert [r[0] for r in history(killed)] == list(range(1, 11))
    assert history(killed) == history(ref)  # per-step loss, grad norm, lr and tokens: the same batches, the same math
    a = load_file(str(killed / "final" / "projector.safetensors"))
    b = load_file(str(ref / "final" / "projector.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    for f in sorted((ref / "final" / "llm").glob("*.safetensors")):
        x, y = load_file(str(f)), load_file(str(killed / "final" / "llm" / f.name))
        assert all(torch.equal(x[k], y[k]) for k in x)


# FSDP (version 1, full shard, decoder layers wrapped, as configs/accelerate/fsdp_8gpu.yaml) on two processes. accelerate
# runs FSDP only on accelerators: on a CPU it quietly picks MULTI_CPU (plain data parallel) whatever the flags say, so
# this test runs where LLAVA_NB_TEST_DEVICE=cuda (`bench/gpu_check.sh`) and is skipped here.
FSDP = ("--use_fsdp", "--fsdp_version", "1", "--fsdp_sharding_strategy", "FULL_SHARD", "--fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP", "--fsdp_transformer_layer_cls_to_wrap", "LlamaDecoderLayer", "--fsdp_use_orig_params", "true",
        "--fsdp_state_dict_type", "FULL_STATE_DICT", "--fsdp_sync_module_states", "false", "--fsdp_cpu_ram_efficient_loading",
        "false")


@pytest.mark.skipif(not ACCELERATE.is_file() or not torch.distributed.is_available(), reason="accelerate launcher or torch.distributed missing")
def test_fsdp_kill_9_then_resume_equals_the_uninterrupted_run(tmp_path):
    device = os.environ.get("LLAVA_NB_TEST_DEVICE", "cpu")
    if device == "cpu":
        pytest.skip("accelerate runs FSDP only on GPUs (on a CPU it falls back to MULTI_CPU): bench/gpu_check.sh runs this")
    parts = save_tiny_parts(tmp_path / "parts")
    base = dict(stage=2, data_path=str(FIX / "llava_v1_5_mix665k.json"), image_folder=str(FIX / "images"), vision_tower=parts["vision"],
                llm=parts["llm"], lr=3e-3, projector_lr=1e-2, batch_size=2, max_steps=10, save_every=4, group_by_length=True,
                weight_decay=0.1, warmup_ratio=0.2, progress=False, num_threads=1, device=device, log_every=1)
    killed, ref = kill_and_resume(tmp_path, base, FSDP)
    log = (killed / "train.log").read_text()
    assert "resumed from" in log and "× 2, FSDP" in log
    assert [r[0] for r in history(killed)] == list(range(1, 11))
    assert history(killed) == history(ref)  # each rank's optimizer shard came back
    a = load_file(str(killed / "final" / "projector.safetensors"))
    b = load_file(str(ref / "final" / "projector.safetensors"))
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    for f in sorted((ref / "final" / "llm").glob("*.safetensors")):
        x, y = load_file(str(f)), load_file(str(killed / "final" / "llm" / f.name))
        for k in x: torch.testing.assert_close(x[k], y[k], rtol=0, atol=1e-6)


@pytest.mark.skipif(not ACCELERATE.is_file() or not torch.distributed.is_available(), reason="accelerate launcher or torch.distributed missing")
@pytest.mark.parametrize("zero_stage", [2, 3])
def test_deepspeed_kill_9_then_resume_through_the_engine_state(tmp_path, zero_stage):
    "DeepSpeed owns its partitioned optimizer state: step checkpoints hold it in `engine/` and a resume reads it back."
    device = os.environ.get("LLAVA_NB_TEST_DEVICE", "cpu")
    if device == "cpu" or importlib.util.find_spec("deepspeed") is None:
        pytest.skip("DeepSpeed needs CUDA (and the deepspeed package): bench/gpu_check.sh runs this")
    parts = save_tiny_parts(tmp_path / "parts")
    base = dict(stage=2, data_path=str(FIX / "llava_v1_5_mix665k.json"), image_folder=str(FIX / "images"), vision_tower=parts["vision"],
                llm=parts["llm"], lr=3e-3, projector_lr=1e-2, batch_size=2, max_steps=10, save_every=4, group_by_length=True,
                weight_decay=0.1, warmup_ratio=0.2, progress=False, num_threads=1, device=device, log_every=1)
    engine = ("--use_deepspeed", "--zero_stage", str(zero_stage), "--gradient_accumulation_steps", "1")
    killed, ref = kill_and_resume(tmp_path, base, engine)
    assert (killed / "checkpoint-000008" / "engine").is_dir() or (killed / "checkpoint-000004" / "engine").is_dir()
    assert "resumed from" in (killed / "train.log").read_text() and "DEEPSPEED" in (killed / "train.log").read_text()
    assert [r[0] for r in history(killed)] == list(range(1, 11))
    for a, b in zip(history(killed), history(ref)):
        assert a[0] == b[0] and a[4] == b[4] and a[1] == pytest.approx(b[1], rel=1e-4)
