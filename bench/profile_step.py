"""Where a training step's time goes: torch.profiler over the quickstart's own stage (the real path: `setup_run`,
`take_step`), its operators grouped into matmuls, attention, elementwise and norms, casts, the optimizer, data and the
rest, with the share of the machine's matmul peak the step reaches.

    .venv/bin/python bench/profile_step.py [--stage 2] [--steps 12] [--warmup 3] [--name NAME] [--set key=value ...]
    .venv/bin/python bench/profile_step.py --fixes    # each fix the profile pointed to, alone, against the old way
    .venv/bin/python bench/profile_step.py --trained-logits    # stage 2's logits at trained positions only

`--set` changes one field of the stage's `TrainConfig` (e.g. `--set attn_implementation=sdpa`), so each fix is
measured alone against the same batches. Writes bench/results/profile_step.json (an entry per --name) and prints the
table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from transformers import LlamaForCausalLM
from torch.profiler import ProfilerActivity, profile

from llava_nb.train.mfu import flops_per_token, machine_peak, step_shapes
from llava_nb.core import cpu_name, shipped_path
from llava_nb.smallworld.quickstart import QuickstartConfig, default_backbones, make_data, stage1_config, stage2_config
from llava_nb.train.loop import setup_run, take_step
from llava_nb.train.run import inputs_fingerprint
from llava_nb.train.step import SkipGuard, make_accelerator, model_inputs

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


def _time(fn, reps: int = 30) -> float:
    "Median milliseconds of `fn()` over `reps` calls, after two untimed."
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2]


def _time_pair(a, b, reps: int = 40) -> tuple[float, float]:
    "Median milliseconds of `a()` and of `b()`, called in turn `reps` times each (a drifting machine drifts for both)."
    for _ in range(2):
        a(), b()
    times = ([], [])
    for _ in range(reps):
        for fn, out in zip((a, b), times):
            t0 = time.perf_counter()
            fn()
            out.append(1000 * (time.perf_counter() - t0))
    return tuple(sorted(t)[reps // 2] for t in times)


def fixes(B: int = 32, T: int = 107, D: int = 256, image_tokens: int = 9) -> dict:
    """Each fix alone, against the way it replaced, at a quickstart stage-2 micro-batch's shapes (B rows of T tokens,
    width D, `image_tokens` per row): milliseconds per call (forward and backward where there is one)."""
    from transformers.masking_utils import causal_mask_function, eager_mask

    from llava_nb.model.llava import eager_attention_mask, merge_image_features

    embeds = torch.randn(B, T, D, requires_grad=True)  # (B, T, D)
    is_image = torch.zeros(B, T, dtype=torch.bool)
    is_image[:, 1 : 1 + image_tokens] = True  # (B, T)
    feats = torch.randn(B, image_tokens, D, requires_grad=True)  # (B, P, D)
    grad = torch.randn(B, T, D)

    def by_mask():
        embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), feats).backward(grad)

    def by_index():
        merge_image_features(embeds, is_image, feats).backward(grad)

    pad = torch.ones(B, T, dtype=torch.long)
    pad[::2, -20:] = 0  # half the rows padded
    ours = lambda: eager_attention_mask(pad, T, torch.float32)
    theirs = lambda: eager_mask(B, torch.arange(T), T, mask_function=causal_mask_function, attention_mask=pad.bool())
    if not torch.equal(ours(), theirs()):
        raise AssertionError("the broadcast mask differs from transformers' own")
    llm = LlamaForCausalLM.from_pretrained(shipped_path("nano") / "llm")  # the nano LLM's parameters
    adamw = {}
    for name, kw in (("for loop (the CPU default)", {}), ("fused", {"fused": True})):
        opt = torch.optim.AdamW(llm.parameters(), lr=1e-6, **kw)
        for p in llm.parameters():
            p.grad = torch.randn_like(p)
        adamw[name] = _time(opt.step)
    return {
        "shapes": {"B": B, "T": T, "D": D, "image_tokens": image_tokens},
        "merge image features, forward + backward": {"masked_scatter": _time(by_mask), "index_put": _time(by_index)},
        "eager attention mask": {"transformers (vmap)": _time(theirs), "broadcast": _time(ours)},
        "AdamW step over the nano LLM's parameters": adamw,
    }


@contextmanager
def first_batch(stage: int):
    "(accelerator, run, the first micro-batch) of the stage's quickstart run, set up in a temp dir (the real path)."
    with tempfile.TemporaryDirectory() as d:
        cfg = stage_config(stage, Path(d), {})
        acc = make_accelerator(cfg)
        run = setup_run(cfg, None, acc, Path(d) / "s", lambda *x, **k: None, fingerprint=inputs_fingerprint(cfg))
        yield acc, run, next(iter(run.loader))


def path_fixes(stage: int) -> dict:
    """Each fix of the model's forward on the real path: one of the stage's quickstart micro-batches through
    `LlavaModel` under the stage's autocast, forward and backward, with and without the fix, timed in turn (ms)."""
    from llava_nb.train.step import logits_needed, token_loss

    with first_batch(stage) as (acc, run, b):

        def step(use_cache: bool = False, share_prefix: bool | int = True):
            out = run.pmodel(
                **model_inputs(b),
                share_prefix=share_prefix,
                use_cache=use_cache,
                logits_to_keep=logits_needed(b["labels"]),
            )
            token_loss(out.logits, b["labels"])[0].backward()

        out = {"micro-batch": list(b["input_ids"].shape)}
        cached, uncached = _time_pair(lambda: step(use_cache=True), step)
        out["use_cache"] = {
            "True (the LLM config's default: a cache built, every layer's keys copied in)": cached,
            "False (training)": uncached,
        }
        least, shared = (1, True) if stage == 1 else (True, False)
        a, b_ = _time_pair(lambda: step(share_prefix=least), lambda: step(share_prefix=shared))
        out["share_prefix"] = {f"share_prefix={least}": a, f"share_prefix={shared}": b_}
    return out


def trained_logits_only() -> dict:
    """Measured, not adopted: stage 2's logits computed only at the positions whose next token is trained (the LLM's
    final hidden states, its head applied to the selected rows) against logits from the first trained position on
    (`logits_needed`, what the loop does). One quickstart micro-batch, forward and backward, timed in turn (ms)."""
    import torch.nn.functional as F

    from llava_nb.core import IGNORE_INDEX
    from llava_nb.train.step import logits_needed, token_loss

    with first_batch(2) as (acc, run, b):
        labels, model = b["labels"], acc.unwrap_model(run.pmodel)
        kw = {**model_inputs(b), "share_prefix": True, "use_cache": False}

        def from_first() -> float:
            s = token_loss(run.pmodel(**kw, logits_to_keep=logits_needed(labels)).logits, labels)[0]
            s.backward()
            return s.item()

        def at_trained() -> float:
            h = run.pmodel(**kw, logits_to_keep=1, output_hidden_states=True).hidden_states[-1]  # (B, K, D)
            target = labels[:, labels.shape[1] - h.shape[1] + 1 :]  # (B, K-1)
            keep = target != IGNORE_INDEX
            with acc.autocast():
                logits = model.llm.get_output_embeddings()(h[:, :-1][keep])  # (N, V)
            s = F.cross_entropy(logits.float(), target[keep], reduction="sum")
            s.backward()
            return s.item()

        losses = {"from the first trained position": from_first(), "at trained positions only": at_trained()}
        a, t = _time_pair(from_first, at_trained)
    return {
        "micro-batch": list(b["input_ids"].shape),
        "summed loss": losses,
        "ms": {"from the first trained position": a, "at trained positions only": t},
    }


def stage_config(stage: int, out: Path, sets: dict):
    cfg = QuickstartConfig(n_train=400, n_test=10)
    paths = make_data(out, cfg, say=lambda *a, **k: None)
    make = stage1_config if stage == 1 else stage2_config
    tc = make(out, paths, cfg, default_backbones(), progress=False)

    def parse(k: str, v: str):  # a TrainConfig field's value from text, as the field's type reads it
        old = getattr(tc, k)
        return v if old is None else v == "True" if isinstance(old, bool) else type(old)(v)

    fields = {k: parse(k, v) for k, v in sets.items()}
    return replace(tc, **fields)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--name", default="quickstart stage")
    ap.add_argument("--set", nargs="*", default=[], help="TrainConfig fields to change: key=value")
    ap.add_argument("--compile", action="store_true", help="torch.compile each LLM layer (needs a C++ compiler)")
    ap.add_argument("--fixes", action="store_true", help="time each fix alone (ms per call) instead")
    ap.add_argument("--trained-logits", action="store_true", help="time logits at trained positions only (not adopted)")
    a = ap.parse_args(argv)
    if a.fixes:
        results = json.loads(OUT.read_text()) if OUT.is_file() else {}
        results["fixes, each alone (ms per call)"] = {
            **fixes(),
            **{f"stage {k}, one micro-batch forward + backward": path_fixes(k) for k in (1, 2)},
        }
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(results["fixes, each alone (ms per call)"], indent=1))
        return results
    if a.trained_logits:
        results = json.loads(OUT.read_text()) if OUT.is_file() else {}
        results["stage 2, logits at the trained positions only (measured, not adopted)"] = trained_logits_only()
        OUT.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(results["stage 2, logits at the trained positions only (measured, not adopted)"], indent=1))
        return results
    sets = dict(s.split("=", 1) for s in a.set)
    with tempfile.TemporaryDirectory() as d:
        cfg = stage_config(a.stage, Path(d), sets)
        acc = make_accelerator(cfg)
        fingerprint = inputs_fingerprint(cfg)
        run = setup_run(cfg, None, acc, Path(d) / f"stage{a.stage}", lambda *x, **k: None, fingerprint=fingerprint)
        batches, skips = iter(run.loader), SkipGuard(cfg.max_skipped_steps)
        if a.compile:  # each decoder layer compiled in place (nn.Module.compile); dynamic: the lengths vary by batch
            for layer in run.model.llm.model.layers:
                layer.compile(dynamic=True)
        t_warm = time.perf_counter()
        for step in range(1, a.warmup + 1):
            take_step(run, step, batches, skips)
        warm_seconds = time.perf_counter() - t_warm
        tokens0, samples0 = run.tokens, run.samples
        t0 = time.perf_counter()  # timed without the profiler (its per-operator cost would count), then profiled
        for step in range(a.warmup + 1, a.warmup + a.steps + 1):
            take_step(run, step, batches, skips)
        seconds = time.perf_counter() - t0
        tokens, samples = run.tokens - tokens0, run.samples - samples0
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for step in range(a.warmup + a.steps + 1, a.warmup + 2 * a.steps + 1):
                take_step(run, step, batches, skips)
        trained = sum(h["tokens"] for h in run.history[a.warmup : a.warmup + a.steps])
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
        "settings": {**sets, **({"compile": "each LLM layer, dynamic"} if a.compile else {})},
        "warmup_seconds": round(warm_seconds, 1),  # the first steps: compilation, if any
        "losses": [round(h["loss"], 6) for h in run.history],
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
