"""The lmms-eval task in lmms_eval_tasks/smallworld without lmms-eval (that runs in its own venv: `make lmms-eval`):
its committed data is what make_data.py writes, its copy of the answer normalisation is llava_nb's rule, and the
hooks its yaml names exist and score an item."""

import importlib.util
import json
import re
from pathlib import Path

from hypothesis import given, settings, strategies as st

from llava_nb.eval.metrics import normalize_answer

TASK = Path(__file__).resolve().parents[1] / "lmms_eval_tasks" / "smallworld"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"smallworld_{name}", TASK / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


UTILS, MAKE = load("utils"), load("make_data")
ITEMS = [json.loads(line) for line in (TASK / "smallworld.jsonl").read_text().splitlines()]


def test_committed_items_are_what_make_data_writes():
    _, items = MAKE.make_items()
    assert items == ITEMS and len(ITEMS) == 40
    assert all((TASK / it["image"]).is_file() for it in ITEMS)
    assert len({it["type"] for it in ITEMS}) == 7  # every question type of the held-out VQA


def test_yaml_names_hooks_that_exist():
    yaml = (TASK / "smallworld.yaml").read_text()
    for name in re.findall(r"!function utils\.(\w+)", yaml):
        assert callable(getattr(UTILS, name)), name
    assert re.search(r"test: smallworld.jsonl", yaml)


def test_hooks_score_an_item():
    it = ITEMS[0]
    assert UTILS.smallworld_doc_to_visual(it)[0].size == (72, 72)
    assert UTILS.smallworld_doc_to_text(it) == it["question"]  # the chat template adds the rest
    assert UTILS.smallworld_process_results(it, [it["answer"].upper() + "."]) == {"exact_match": 1.0}
    assert UTILS.smallworld_process_results(it, ["something else entirely"]) == {"exact_match": 0.0}


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from([it["answer"] for it in ITEMS] + ["The colour is Grey.", "Two!", "<image> an A_b"]),
                 st.text(max_size=30)))
def test_normalisation_copy_is_llava_nb_rule(text):
    assert UTILS.normalize_answer(text) == normalize_answer(text)
