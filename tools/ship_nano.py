"""Ship a retrained small world into `data/nano`: an LLM from a `pretrain-backbones` folder, a quickstart checkpoint.

`--llm DIR` copies the nano LLM (weights in fp32, config, tokenizer) into `data/nano/llm`; its
`special_tokens_map.json` stays the shipped one (the same tokens, in the short form). `--checkpoint DIR` (a stage-2
`final/` folder) ships it into `data/nano/llava` with `smallworld.quickstart.ship_checkpoint` (bf16, tower and LLM
inside, its config naming the shipped backbones). `--stats FILE` adds the later LLM phases' stats (`llm_continued`,
a list) to `data/nano/pretrain_stats.json` and their steps, number and words (`later_phase_words`: the phases must
have been trained as the recipe's, each as long as `later_phase_steps` says) to `data/nano/backbones.json`.

    .venv/bin/python tools/ship_nano.py --llm runs/.../backbones/llm --checkpoint runs/.../seed0/stage2/final \\
        --stats PHASE2/second_phase_stats.json PHASE3/... PHASE4/... --continue-steps 1500
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from llava_nb.smallworld.backbones import later_phase_steps, later_phase_words
from llava_nb.smallworld.quickstart import ship_checkpoint

ROOT = Path(__file__).resolve().parents[1]
NANO = ROOT / "data" / "nano"
LLM_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1) + "\n")


def ship_llm(src: Path) -> None:
    for name in LLM_FILES:
        shutil.copy2(src / name, NANO / "llm" / name)


def ship_stats(stats_files: list[Path], steps: int) -> None:
    stats = json.loads((NANO / "pretrain_stats.json").read_text())
    stats["llm_continued"] = [json.loads(f.read_text()) for f in stats_files]  # a phase each
    lengths = [phase["steps"] for phase in stats["llm_continued"]]
    if lengths != later_phase_steps(len(lengths), steps):
        raise SystemExit(f"the phases trained {lengths} steps; the recipe's: {later_phase_steps(len(lengths), steps)}")
    write_json(NANO / "pretrain_stats.json", stats)
    manifest = json.loads((NANO / "backbones.json").read_text())
    manifest["llm_continue_steps"] = steps
    manifest["llm_continue_phases"] = len(stats_files)
    manifest["llm_continue_words"] = later_phase_words(len(stats_files))  # trained as the recipe's: its words
    manifest["llm_continue_phase_steps"] = lengths
    write_json(NANO / "backbones.json", manifest)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llm", type=Path, help="a pretrained nano LLM folder (pretrain-backbones' llm/)")
    ap.add_argument("--checkpoint", type=Path, help="a quickstart's stage2/final folder")
    ap.add_argument("--stats", type=Path, nargs="*", default=[], help="the later LLM phases' stats (JSON), in order")
    ap.add_argument("--continue-steps", type=int, default=0, help="the second phase's steps, for backbones.json")
    a = ap.parse_args(argv)
    if a.llm:
        ship_llm(a.llm)
    if a.checkpoint:
        ship_checkpoint(a.checkpoint, NANO / "llava")
    if a.stats:
        ship_stats(a.stats, a.continue_steps)


if __name__ == "__main__":
    main()
