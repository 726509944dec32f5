"Two CPU processes under `accelerate launch` train like one process with the same global batch."
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llava_nb.tiny import save_tiny_parts
from llava_nb.train import train
from llava_nb.train_config import TrainConfig

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
