"""lmms-eval hooks of the `smallworld` task: the scene image, the plain question, normalised exact match.

This file runs inside lmms-eval's environment, which need not have llava_nb installed, so it imports nothing of it.
`normalize_answer` is the rule of llava_nb's `metrics.normalize_answer` (the quickstart's VQA accuracy); the check
`tools/lmms_eval_check.py` runs both on every answer and fails if they ever disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent

_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NUM = {w: str(i) for i, w in enumerate(_NUMBERS)}
_SPELLING = {"colour": "color", "centre": "center", "grey": "gray"}
_ARTICLES = {"a", "an", "the"}


def normalize_answer(text: str) -> str:
    "Lowercase, punctuation and articles dropped, number words as digits, single spaces."
    words = re.sub(r"[^\w\s]|_", " ", text.replace("<image>", " ").lower()).split()
    return " ".join(_NUM.get(w, _SPELLING.get(w, w)) for w in words if w not in _ARTICLES)


def smallworld_doc_to_visual(doc: dict) -> list:
    "The item's scene: one 72x72 RGB image (its path in the dataset is relative to this folder)."
    return [Image.open(HERE / doc["image"]).convert("RGB")]


def smallworld_doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    """The plain question: the model's chat template (the exported processor's, or the server's) adds the rest.
    `pre_prompt` / `post_prompt` are empty by default (the small world was trained on bare short questions)."""
    kw = lmms_eval_specific_kwargs or {}
    return f"{kw.get('pre_prompt', '')}{doc['question']}{kw.get('post_prompt', '')}"


def smallworld_process_results(doc: dict, results: list) -> dict:
    "Exact match after normalisation (1.0 or 0.0) of the model's answer against the item's short answer."
    pred = results[0] if results else ""
    pred = getattr(pred, "text", pred)  # a GenerationResult in some lmms-eval versions, a string in others
    return {"exact_match": float(normalize_answer(str(pred)) == normalize_answer(doc["answer"]))}
