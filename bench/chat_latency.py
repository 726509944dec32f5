"""Chat latency: time to first token and decoding tokens/s of `ChatSession` (streaming) against transformers'
`LlavaForConditionalGeneration.generate` with a streamer, on the same weights (the checkpoint exported with
`llava_nb.model.hf.export_hf`), the same image and question, batch 1, greedy, CPU by default.

    .venv/bin/python bench/chat_latency.py [--checkpoint CKPT] [--max-new-tokens 64] [--repeats 7] [--device cpu] [--threads N]

Without --checkpoint it uses the quickstart's trained small-world model if there is one, else a random "small"
LLaVA built on the spot (CLIP 64 px / 8 px patches = 64 image tokens, width 128, 4 layers; Llama width 256,
4 layers). Both sides are timed from the raw PIL image and question to:
  first token   the moment the first new token id exists (ours: the LLM call after it starts, recorded by the
                session's step clock; transformers: the streamer's first `put` of new ids), including image
                preprocessing, tokenization, the vision tower and the prefill;
Both sides stream text while generating: ours through `ChatSession.ask(stream=...)`, transformers' through its
`TextStreamer` (decoding as tokens arrive, the way a chat UI on `generate` would).
  tokens/s      (tokens - 1) / (end - first token): the decoding speed.
One warm-up run each, then `--repeats` alternating runs; medians are reported. Greedy outputs must be identical
(the script checks the token ids). Prints a markdown table and writes bench/results/chat_latency.json."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers
from PIL import Image
from transformers import AutoProcessor, LlavaForConditionalGeneration
from transformers import TextStreamer

from llava_nb.chat.session import ChatSession
from llava_nb.chat.widget import demo_checkpoint
from llava_nb.smallworld.world import small_world_gallery
from llava_nb.model.hf import export_hf
from llava_nb.model.llava import LlavaModel

ROOT = Path(__file__).resolve().parents[1]


def small_model(out: Path) -> Path:
    "A random LLaVA a little larger than the test models, saved as a stage-2 checkpoint."
    from llava_nb.tiny import tiny_causal_lm, tiny_clip_vision, tiny_llama_tokenizer
    tok = tiny_llama_tokenizer()
    tower, proc = tiny_clip_vision(image_size=64, patch_size=8, hidden_size=128, layers=4)
    lm = tiny_causal_lm(tok, hidden_size=256, layers=4)
    tower.save_pretrained(out / "vision"); proc.save_pretrained(out / "vision")
    lm.save_pretrained(out / "llm"); tok.save_pretrained(out / "llm")
    return LlavaModel.from_parts(str(out / "vision"), str(out / "llm")).save_pretrained(out / "ckpt", stage=2)


class TimedTextStreamer(TextStreamer):
    "transformers' own text streamer (decodes as tokens arrive, like a chat UI needs), collecting the text and timing the first new ids."
    def __init__(self, tokenizer):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.puts, self.first, self.pieces = 0, None, []
    def put(self, value):
        self.puts += 1
        if self.puts == 2: self.first = time.perf_counter()  # the first put is the prompt
        super().put(value)
    def on_finalized_text(self, text: str, stream_end: bool = False): self.pieces.append(text)


def run_ours(session: ChatSession, image, question, n) -> dict:
    session.clear()
    t0 = time.perf_counter()
    session.set_image(image)
    t_ask = time.perf_counter()
    turn = session.ask(question, max_new_tokens=n)
    t_end = t_ask + turn.seconds
    first = t_ask + turn.ttft
    return {"ttft": first - t0, "tokens": turn.n_tokens, "tps": (turn.n_tokens - 1) / (t_end - first), "text": turn.answer}


def run_hf(model, processor, prompt, image, n, stop) -> dict:
    t0 = time.perf_counter()
    inputs = processor(images=image, text=prompt, return_tensors="pt").to(model.device)
    streamer = TimedTextStreamer(processor.tokenizer)
    out = model.generate(**inputs, max_new_tokens=n, do_sample=False, streamer=streamer, stop_strings=stop or None,
                         tokenizer=processor.tokenizer, pad_token_id=processor.tokenizer.pad_token_id)
    t_end = time.perf_counter()
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    return {"ttft": streamer.first - t0, "tokens": len(new), "tps": (len(new) - 1) / (t_end - streamer.first), "ids": new}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=None, help="llava_nb checkpoint (default: trained small world, else a random small model)")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--question", default="Describe the image in detail.")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "chat_latency.json"))
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="llava_nb_bench_"))
    ckpt = Path(args.checkpoint) if args.checkpoint else None
    what = str(ckpt) if ckpt else None
    if ckpt is None:
        found = demo_checkpoint(ROOT, tiny_dir=tmp / "unused", say=lambda *a: None)
        if found.is_relative_to(tmp): ckpt, what = small_model(tmp / "small"), "random small model (no trained checkpoint found)"
        else: ckpt, what = found, str(found)
    dev = torch.device(args.device)
    session = ChatSession.from_pretrained(ckpt, device=dev)
    m = session.model
    hf_dir = export_hf(m, tmp / "hf")
    hf = LlavaForConditionalGeneration.from_pretrained(hf_dir).to(dev).eval()
    processor = AutoProcessor.from_pretrained(hf_dir)
    image = Image.open(small_world_gallery(tmp / "gallery", n=1, photo=False)["scene 1"]).convert("RGB")
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": args.question}]}]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True)
    session.set_image(image)
    assert prompt == session.prompt(args.question), f"prompts differ:\n{prompt!r}\n{session.prompt(args.question)!r}"
    stop = [s for s in m.template.stop_strings(m.tokenizer) if s not in m.tokenizer.all_special_tokens]
    n = args.max_new_tokens
    with torch.inference_mode():
        run_ours(session, image, args.question, n); run_hf(hf, processor, prompt, image, n, stop)  # warm-up
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(run_ours(session, image, args.question, n)); theirs.append(run_hf(hf, processor, prompt, image, n, stop))
    same = m.tokenizer.decode(theirs[0]["ids"], skip_special_tokens=True).strip() == ours[0]["text"].strip()
    med = lambda rows, k: statistics.median(r[k] for r in rows)
    res = {
        "checkpoint": what, "device": str(dev), "threads": torch.get_num_threads(), "max_new_tokens": n, "repeats": args.repeats,
        "image_tokens": m.num_image_tokens, "prompt_tokens": len(session.prompt_ids(args.question)),
        "tokens_generated": {"ours": ours[0]["tokens"], "transformers": theirs[0]["tokens"]}, "same_text": same,
        "ours": {"ttft_ms": 1000 * med(ours, "ttft"), "tokens_per_s": med(ours, "tps")},
        "transformers": {"ttft_ms": 1000 * med(theirs, "ttft"), "tokens_per_s": med(theirs, "tps")},
        "torch": torch.__version__, "transformers_version": transformers.__version__, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }
    res["speedup"] = {"ttft": res["transformers"]["ttft_ms"] / res["ours"]["ttft_ms"],
                      "tokens_per_s": res["ours"]["tokens_per_s"] / res["transformers"]["tokens_per_s"]}
    print(f"chat latency on {what}, {dev} ({res['threads']} threads), batch 1, greedy, {n} new tokens max, "
          f"{res['prompt_tokens']} prompt tokens ({res['image_tokens']} image), median of {args.repeats}\n")
    print("| | time to first token (ms) | tokens/s (decoding) | tokens |")
    print("|---|---:|---:|---:|")
    print(f"| llava_nb ChatSession (streaming) | {res['ours']['ttft_ms']:.1f} | {res['ours']['tokens_per_s']:.1f} | {ours[0]['tokens']} |")
    print(f"| transformers generate + streamer | {res['transformers']['ttft_ms']:.1f} | {res['transformers']['tokens_per_s']:.1f} | {theirs[0]['tokens']} |")
    print(f"| ratio (≥ 1: ours faster) | {res['speedup']['ttft']:.2f}× | {res['speedup']['tokens_per_s']:.2f}× | |")
    print(f"\nsame greedy text: {same}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
