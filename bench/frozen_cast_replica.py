"""Issue 31 replica: does casting the frozen LLM's Linear weights to bf16 once (instead of autocast casting them on
every forward) speed up a stage-1 pass? Stage 1 trains only the projector; its LLM is frozen, and autocast caches casts
of trainable leaves only, so every step re-casts every frozen weight.

A stage-1-shaped pass through the shipped nano LLM (batch 32, 29 tokens, gradients to the inputs only), bf16 autocast,
the weights fp32 vs their Linear weights held in bf16; loss and input gradients compared bit for bit.

    .venv/bin/python bench/frozen_cast_replica.py   # -> bench/results/frozen_cast_replica.json
"""

import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llava_nb.core import cpu_name  # noqa: E402


def main(steps: int = 30, threads: int = 2) -> dict:
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    llm = AutoModelForCausalLM.from_pretrained(ROOT / "data/nano/llm", attn_implementation="eager")
    llm.requires_grad_(False)  # stage 1: the LLM is frozen
    B, T, D = 32, 29, llm.config.hidden_size
    x = torch.randn(B, T, D)  # (B, T, D): the projected image tokens and caption embeddings
    labels = torch.randint(0, llm.config.vocab_size, (B, T))  # (B, T)

    def step():
        e = x.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = llm(inputs_embeds=e, labels=labels)
        out.loss.backward()
        return out.loss.item(), e.grad.clone()

    def ms_per_step() -> float:
        for _ in range(5):
            step()
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - t) / steps * 1000

    loss_a, grad_a = step()
    fp32 = ms_per_step()
    for m in llm.modules():
        if isinstance(m, torch.nn.Linear):
            m.weight = torch.nn.Parameter(m.weight.detach().to(torch.bfloat16), requires_grad=False)
    loss_b, grad_b = step()
    bf16 = ms_per_step()
    res = {
        "cpu": cpu_name(),
        "threads": threads,
        "ms_per_step": {"fp32 weights, autocast casts": round(fp32, 1), "bf16 frozen Linear weights": round(bf16, 1)},
        "speed-up": round(fp32 / bf16, 3),
        "same loss": loss_a == loss_b,
        "same input gradients": bool(torch.equal(grad_a, grad_b)),
    }
    (ROOT / "bench" / "results" / "frozen_cast_replica.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
