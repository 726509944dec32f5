"Evaluation: the judge and resolvers agree with the teacher, oracles reach full marks, tiny models run every part."

import json
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llava_nb.datagen.instruct import make_instruct
from llava_nb.smallworld.teacher import SymbolicTeacher, make_vqa_eval
from llava_nb.smallworld.evaluate import Oracle, evaluate, oracle_table
from llava_nb.eval.metrics import (
    LETTERS,
    MODALITIES,
    OpenAIJudge,
    answer_batch,
    exact_match,
    extract_letter,
    majority_answers,
    mc_scores,
    normalize_answer,
    vqa_scores,
)
from llava_nb.smallworld.judge import SymbolicJudge, description_scores, judge_bench, make_bench, make_mc_eval, parse_description, resolve_question, resolve_reasoning
from llava_nb.eval.metrics import mc_prompt
from llava_nb.model.llava import LlavaModel
from llava_nb.smallworld.world import context_text, make_scene, make_world, sample_scene
from llava_nb.smallworld.symbolic import QTYPES, parse_context
from llava_nb.tiny import save_tiny_parts


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")
    return d, make_world(d, 15, seed=3, split="test")


@pytest.fixture(scope="module")
def many_scenes():
    return [sample_scene(random.Random(f"t/{i}"), f"nw_test_{i:06d}") for i in range(250)]


def objs_of(scene):
    return parse_context(context_text(scene))[1]


# --- the judge's reading of the context agrees with the teacher --------------------------------------------


def test_resolver_agrees_with_teacher_on_every_question_type(many_scenes):
    by_id = {s["id"]: s for s in many_scenes}
    vqa = make_vqa_eval(many_scenes, seed=1, per_scene=7)
    assert {r["type"] for r in vqa} == set(QTYPES)
    for r in vqa:
        scene = by_id[r["id"].rsplit("_", 1)[0]]
        assert resolve_question(r["question"], objs_of(scene)) == r["answer"], (r, scene["objects"])


def test_teacher_references_get_full_marks_from_the_context(many_scenes):
    judge = SymbolicJudge()
    for b in make_bench(many_scenes[:120], seed=2):
        objs = parse_context(b["context"])[1]
        facts = judge.requested(objs, b["question"], b["reference"], b["type"])
        assert facts, b
        if b["type"] != "detail":
            assert facts[0][0] == "answer (from the context)", b
        j = judge.judge(b["context"], b["question"], b["reference"], b["reference"], b["type"])
        assert j.reference.overall == 10.0 and j.model.overall == 10.0, (b, j.reference.notes)


def test_reasoning_resolver_matches_reference_lead(many_scenes):
    judge = SymbolicJudge()
    for b in make_bench(many_scenes[:150], seed=4, kinds=("complex",)):
        truth = resolve_reasoning(b["question"], parse_context(b["context"])[1])
        assert truth is not None, b["question"]
        assert (
            judge.judge(b["context"], b["question"], b["reference"], b["reference"], "complex").model.helpfulness
            == 10.0
        )


def test_judge_rubric_orders_answers():
    scene = make_scene(
        [
            {"shape": "circle", "color": "red", "size": "large", "cell": [0, 0]},
            {"shape": "square", "color": "blue", "size": "small", "cell": [1, 2]},
        ],
        "nw_t",
    )
    ctx, judge = context_text(scene), SymbolicJudge()
    ref = (
        "There are two shapes in this picture. A large red circle is in the top left. "
        "A small blue square is on the right."
    )
    partial = "There are two shapes in this picture. A large red circle is in the top left."
    wrong = "There are three shapes. A large green star is in the center."
    scores = [
        judge.judge(ctx, "Describe the image in detail.", ref, a, "detail").model.overall
        for a in (ref, partial, wrong, "")
    ]
    assert scores[0] == 10.0 > scores[1] > scores[2] >= scores[3] == 1.0
    # symmetric: judging (a, b) scores b as judging (b, a) scores it as the reference
    j1, j2 = (
        judge.judge(ctx, "Describe the image in detail.", x, y, "detail") for x, y in ((ref, partial), (partial, ref))
    )
    assert j1.model == j2.reference and j1.reference == j2.model
    q = "How many objects are there?"
    assert judge.judge(ctx, q, "2", "two").model.overall == 10.0
    assert judge.judge(ctx, q, "2", "3").model.accuracy == 1.0
    assert judge.judge(ctx, q, "2", "3").model.relevance == 10.0


def test_llm_judge_needs_a_key_or_a_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="no API key: set OPENAI_API_KEY"):
        OpenAIJudge("gpt-4")
    assert OpenAIJudge("judge", base_url="http://127.0.0.1:9/v1").backend.name == "openai:judge"  # local: any key


# --- answer parsing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pred,ref,same",
    [
        ("Yes.", "yes", True),
        ("THREE", "3", True),
        ("the top-left", "top left", True),
        ("an orange", "orange", True),
        ("3 ", "three", True),
        ("top", "top left", False),
        ("left of", "right of", False),
        ("red circle", "red", False),
    ],
)
def test_exact_match(pred, ref, same):
    assert exact_match(pred, ref) is same


@pytest.mark.parametrize(
    "reply,want",
    [
        ("B", "B"),
        ("(B)", "B"),
        ("B.", "B"),
        ("b", "B"),
        ("The answer is B.", "B"),
        ("The answer is (C).", "C"),
        ("B. blue", "B"),
        ("(B) blue", "B"),
        ("B) blue", "B"),
        ("Answer: A", "A"),
        ("B blue", "B"),
        ("blue", "B"),
        ("It is green.", "C"),
        ("The answer is a red one", "A"),
        ("E", None),
        ("", None),
        ("red and blue", None),
    ],
)
def test_extract_letter(reply, want):
    assert extract_letter(reply, ["red", "blue", "green"]) == want


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["red", "top left", "3", "circle", "yes", "no", "left of", "large"]),
        min_size=2,
        max_size=5,
        unique=True,
    ),
    st.data(),
)
def test_extract_letter_property(choices, data):
    i = data.draw(st.integers(0, len(choices) - 1))
    fmt = data.draw(
        st.sampled_from(["{L}", "({L})", "{L}.", "The answer is {L}.", "{L}. {c}", "({L}) {c}", "Answer: {L}"])
    )
    assert extract_letter(fmt.format(L=LETTERS[i], c=choices[i]), choices) == LETTERS[i]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(list("abc XYZ.,!?-'0123") + ["three ", "The ", "an ", "_"]), max_size=30).map("".join))
def test_normalize_is_idempotent(text):
    assert normalize_answer(normalize_answer(text)) == normalize_answer(text)


def test_description_parsing():
    d = parse_description(
        "This picture contains three objects. In the top left, there is a large red circle. "
        "Two small blue squares sit on the right and at the bottom. A white cross is below them."
    )
    assert d["total"] == 3
    assert [(o["size"], o["color"], o["shape"], o["position"], o["n"]) for o in d["objects"]] == [
        ("large", "red", "circle", "top left", 1),
        ("small", "blue", "square", None, 2),
        (None, "white", "cross", None, 1),
    ]


# --- multiple choice ----------------------------------------------------------------------------------------


def test_mc_set_is_deterministic_and_well_formed(many_scenes):
    mc = make_mc_eval(many_scenes, seed=0, n=300)
    assert mc == make_mc_eval(many_scenes, seed=0, n=300) and mc != make_mc_eval(many_scenes, seed=1, n=300)
    assert {m["modality"] for m in mc} == set(MODALITIES)
    assert {len(m["choices"]) for m in mc} == {2, 3, 4, 5}
    for m in mc:
        assert len(set(m["choices"])) == len(m["choices"]) and m["answer"] in LETTERS[: len(m["choices"])]
        assert (m["image"] is not None) == (m["modality"] == "image") and (m["context"] is not None) == (
            m["modality"] == "text"
        )
        assert mc_prompt(m).endswith("Answer with the option's letter from the given choices directly.")
    text = [m for m in mc if m["modality"] == "text"]
    assert all(m["context"] in mc_prompt(m) for m in text)
    s = mc_scores([m["answer"] for m in mc], mc)
    assert s["accuracy"] == 1.0 and s["unparsed"] == 0 and set(s["by_modality"]) == set(MODALITIES)


# --- oracles through evaluate ------------------------------------------------------------------------------


def test_oracles(world):
    d, scenes = world
    vqa, bench, mc = make_vqa_eval(scenes, 0, 3), make_bench(scenes[:5], 0), make_mc_eval(scenes, 0, 12)
    kw = dict(n_bench=5, n_mc=12, blind_baseline=False, progress=False)
    good = evaluate(Oracle(oracle_table(vqa, bench, mc)), d, **kw)
    bad = evaluate(Oracle(oracle_table(vqa, bench, mc, wrong=True)), d, **kw)
    assert good["vqa_accuracy"] == 1.0 and set(good["by_type"].values()) == {1.0}
    assert good["relative_score"] == {"conversation": 100.0, "detail": 100.0, "complex": 100.0, "overall": 100.0}
    assert good["mc_accuracy"] == 1.0
    assert good["description"]["precision"] == good["description"]["recall"] == 1.0
    assert good["description"]["position_accuracy"] == good["description"]["count_accuracy"] == 1.0
    assert bad["vqa_accuracy"] == 0.0 and bad["mc_accuracy"] == 0.0
    for k in ("conversation", "detail", "complex", "overall"):
        assert bad["relative_score"][k] < 70, bad["relative_score"]
    assert bad["description"]["f1"] < good["description"]["f1"]


def test_majority_baseline_from_training_file(world, tmp_path):
    d, scenes = world
    train = make_instruct([sample_scene(i, f"nw_{i:06d}") for i in range(60)], SymbolicTeacher(), mix={"conversation": 1}, seed=0)
    (tmp_path / "instruct.json").write_text(json.dumps(train))
    maj = majority_answers(train)
    assert set(maj) == set(QTYPES)
    vqa = make_vqa_eval(scenes, 0, 3)
    res = evaluate(
        Oracle(oracle_table(vqa)),
        vqa,
        scenes=d,
        image_folder=d,
        train_records=tmp_path / "instruct.json",
        n_bench=0,
        n_mc=0,
        blind_baseline=False,
        progress=False,
    )
    base = res["baselines"]["majority answer"]
    assert 0 <= base["accuracy"] < 1 and "| **overall** |" in res["table"] and "relative_score" not in res


# --- tiny untrained models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["llama", "qwen2"])
def tiny(request, tmp_path_factory):
    parts = save_tiny_parts(tmp_path_factory.mktemp(request.param), family=request.param)
    template = "vicuna_v1" if request.param == "llama" else "chatml"
    return LlavaModel.from_parts(parts["vision"], parts["llm"], template=template)


def test_tiny_model_batching_is_invariant(tiny, world):
    d, scenes = world
    items = make_vqa_eval(scenes, 0, 2)[:12] + [{"question": "How many shapes are there?", "image": None}]
    a = answer_batch(tiny, items, d, batch_size=5, max_new_tokens=5, progress=False)
    b = answer_batch(tiny, items, d, batch_size=1, max_new_tokens=5, progress=False)
    assert a == b and len(a) == len(items)
    assert a[0] == tiny.answer(d / items[0]["image"], items[0]["question"], max_new_tokens=5).strip()
    assert len(
        answer_batch(tiny, items, d, batch_size=8, max_new_tokens=3, progress=False, autocast_dtype="bfloat16")
    ) == len(items)
    assert answer_batch(tiny, [], d, progress=False) == []


def test_tiny_model_evaluate(tiny, world, tmp_path):
    d, _ = world
    res = evaluate(tiny, d, n_bench=2, n_mc=6, max_new_tokens=4, long_tokens=10, out_dir=tmp_path, progress=False)
    json.dumps(res)
    assert 0 <= res["vqa_accuracy"] <= 1 and res["vqa_n"] == 45 and set(res["by_type"]) <= set(QTYPES)
    assert set(res["relative_score"]) == {"conversation", "detail", "complex", "overall"}
    assert set(res["heldout"]["relative_score"]) == set(res["relative_score"])  # the bench in held-out words too
    assert "model, no image" in res["baselines"] and res["mc"]["n"] == 6 and res["questions_per_second"] > 0
    report = (tmp_path / "eval_report.md").read_text()
    assert report.startswith("## Held-out VQA (45 questions)") and "| type | score | held-out words |" in report
    saved = json.loads((tmp_path / "eval_predictions.json").read_text())
    assert len(saved["vqa"]) == 45 and len(saved["bench"]) == 6 and len(saved["mc"]) == 6


def test_missing_eval_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no vqa_eval.json and no scenes.json"):
        evaluate(Oracle({}), tmp_path, progress=False)
