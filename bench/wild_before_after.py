"""The same wild questions before and after the tower saw variety, and whether its features hold the answer at all.

`bench/robust_vision.py` trains the "after" model: the nano tower pretrained with half of every batch drawn in other
looks, then the quickstart with half its training world varied (`runs/robust_vision/`). Here both models answer the
quickstart's wild test set (`llava_nb.smallworld.wild`: seed 0, 120 scenes drawn by the second renderer), every answer
kept, so lesson `07i_smallworld_wild` can show the pictures with both replies. Then linear probes of each tower's mean
patch token on one-object pictures, for the colour and the shape (`robust_vision.wild_probe`):

- `plain`: trained and tested on the plain world;
- `wild`: trained on the plain world, tested on wild pictures: does what the tower learned on its own look carry over?
- `wild -> wild`: trained on other wild pictures, tested on the same ones: is the answer in the features at all?

    .venv/bin/python bench/robust_vision.py            # first: the varied tower and its quickstart
    .venv/bin/python bench/wild_before_after.py        # ~2 min -> bench/results/wild_before_after.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from robust_vision import wild_probe  # noqa: E402

from llava_nb.core import cpu_has_fast_bf16, cpu_name, shipped_path  # noqa: E402
from llava_nb.eval.metrics import answer_batch, vqa_scores  # noqa: E402
from llava_nb.model.llava import LlavaModel  # noqa: E402
from llava_nb.smallworld.wild import make_wild  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "wild_before_after.json"
AFTER = ROOT / "runs" / "robust_vision"


def answers(checkpoint: Path, records: list[dict], folder: Path) -> list[str]:
    "Greedy replies of `checkpoint` to `records`, in bf16 where the CPU computes it natively (as the quickstart does)."
    model = LlavaModel.from_pretrained(checkpoint)
    autocast = "bfloat16" if cpu_has_fast_bf16() else None
    return answer_batch(model, records, folder, progress=False, autocast_dtype=autocast)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=str(shipped_path("nano") / "llava"), help="checkpoint (default: shipped)")
    ap.add_argument("--after", default=str(AFTER / "quickstart_variety0.5_seed0" / "stage2" / "final"))
    ap.add_argument("--before-tower", default=str(shipped_path("nano") / "vision"))
    ap.add_argument("--after-tower", default=str(AFTER / "backbones" / "vision"))
    ap.add_argument("--scenes", type=int, default=120, help="wild scenes (the quickstart's n_wild)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        records = make_wild(tmp, a.scenes, seed=0)  # the quickstart's wild set, seed 0
        before = answers(Path(a.before), records, Path(tmp))
        after = answers(Path(a.after), records, Path(tmp))
    where = lambda path: str(Path(path).resolve().relative_to(ROOT)) if ROOT in Path(path).resolve().parents else path
    res = {
        "cpu": cpu_name(),
        "before": where(a.before),  # relative to the repository where it is inside it
        "after": where(a.after),
        "scenes": a.scenes,
        "accuracy": {
            "before": vqa_scores(before, records)["accuracy"],
            "after": vqa_scores(after, records)["accuracy"],
        },
        "by_type": {
            "before": vqa_scores(before, records)["by_type"],
            "after": vqa_scores(after, records)["by_type"],
        },
        "answers": [
            {"id": r["id"], "question": r["question"], "answer": r["answer"], "before": b, "after": f}
            for r, b, f in zip(records, before, after)
        ],
        "probes": {
            "before": wild_probe(Path(a.before_tower), wild_train=1000),
            "after": wild_probe(Path(a.after_tower), wild_train=1000),
        },
    }
    res["seconds"] = round(time.perf_counter() - t0, 1)
    OUT.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "answers"}, indent=1))
    print(f"wrote {OUT}")
    return res


if __name__ == "__main__":
    main()
