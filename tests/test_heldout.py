"""The held-out phrasings (07h_smallworld_heldout) are held out by construction: no training source of the small world (the
instruct data of every kind in both of the teacher's phrasings, the VQA mix, the multiple-choice items, the detail and
brief instructions, the stage-1 captions, the nano LLM's pretraining corpus) contains a question that matches a
held-out frame or a held-out way to ask for a description."""


import pytest

from llava_nb.datagen.instruct import BRIEF_INSTRUCTIONS, DETAIL_INSTRUCTIONS, VARIED_DETAIL_INSTRUCTIONS
from llava_nb.datagen.instruct import make_instruct
from llava_nb.smallworld.teacher import make_pretrain, make_vqa_train
from llava_nb.smallworld.heldout import (
    HELD_OUT_DESCRIBE,
    HELD_OUT_DESCRIBE_B,
    HELD_OUT_QUESTIONS,
    HELD_OUT_TABLES,
    frame_pattern,
)
from llava_nb.smallworld.heldout import make_heldout_vqa
from llava_nb.smallworld.symbolic import ANSWER_GRAMMAR, DESCRIPTION_GRAMMAR
from llava_nb.smallworld.symbolic import VARIED_DESCRIPTION_REQUESTS
from llava_nb.smallworld.llm import lm_corpus
from llava_nb.smallworld.world import sample_scene, scene_rng
from llava_nb.smallworld.judge import make_mc_train
from llava_nb.smallworld.teacher import SymbolicTeacher

SCENES = [sample_scene(scene_rng(0, "train", i), f"t_{i}") for i in range(400)]


def _turns(records) -> list[str]:
    return [t["value"] for r in records for t in r["conversations"]]


def _lm_turns(items) -> list[str]:
    """The nano LLM's corpus turn by turn (a bare caption is one): a frame is matched within a turn, not across the
    end of a question and the next turn's words, which a whole rendered chat would let its gaps span."""
    return [t for it in items for t in (_turns([it]) if "conversations" in it else [it["text"]])]


@pytest.fixture(scope="module")
def training_texts() -> list[str]:
    texts = _turns(make_instruct(SCENES, SymbolicTeacher(seed=0), per_scene=3))
    texts += _turns(make_instruct(SCENES, SymbolicTeacher(seed=0, phrasing="varied", absent=0.5), per_scene=3))
    composed = SymbolicTeacher(seed=0, phrasing="varied", absent=0.5, order="reading", requests="composed")
    texts += _turns(make_instruct(SCENES, composed, per_scene=3))  # the quickstart's teacher
    grammar = SymbolicTeacher(seed=0, phrasing="varied", absent=0.5, requests="composed", answers="composed")
    texts += _turns(make_instruct(SCENES, grammar, per_scene=3))
    pointing = SymbolicTeacher(seed=0, phrasing="varied", absent=0.5, requests="composed", answers="composed", lone=0.5)
    texts += _turns(make_instruct(SCENES, pointing, per_scene=3))  # a lone object called "it", "the shape"
    texts += _turns(make_pretrain(SCENES)) + _turns(make_vqa_train(SCENES, turns=6)) + _turns(make_mc_train(SCENES))
    texts += _lm_turns(lm_corpus(n_scenes=300)) + _lm_turns(lm_corpus(n_scenes=100, seed=1, everyday=3))
    texts += _lm_turns(lm_corpus(n_scenes=100, seed=3, answers="composed"))  # the LLM's third later phase
    texts += list(DETAIL_INSTRUCTIONS + BRIEF_INSTRUCTIONS + VARIED_DETAIL_INSTRUCTIONS + VARIED_DESCRIPTION_REQUESTS)
    texts += list(DESCRIPTION_GRAMMAR)
    texts += [f for frames in ANSWER_GRAMMAR.values() for f in frames]  # every frame, drawn or not
    return [t.lower() for t in texts]


def test_the_training_sources_are_really_read(training_texts):
    "The check below has teeth: the in-template phrasings are all found in the same texts."
    joined = "\n".join(training_texts)
    for phrase in ("what color is the", "how many", "is there a", "describe the image in detail.", "give the colour of",
                   "there is no dog in the image.", "i would call"):
        assert phrase in joined, phrase


@pytest.mark.parametrize("table", sorted(HELD_OUT_TABLES))
@pytest.mark.parametrize("qtype", sorted(HELD_OUT_QUESTIONS))
def test_no_held_out_question_frame_occurs_in_training(training_texts, qtype, table):
    for frame in HELD_OUT_TABLES[table][0][qtype]:
        pattern = frame_pattern(frame)
        hits = [t for t in training_texts if pattern.search(t)]
        assert not hits, f"{frame!r} matches training text {hits[0][:120]!r}"


@pytest.mark.parametrize("ways", [HELD_OUT_DESCRIBE, HELD_OUT_DESCRIBE_B], ids=["first", "second"])
def test_no_held_out_description_request_occurs_in_training(training_texts, ways):
    for way in ways:
        hits = [t for t in training_texts if way.lower().rstrip(".?") in t]
        assert not hits, f"{way!r} occurs in training text {hits[0][:120]!r}"


def test_no_description_request_of_the_grammar_is_a_held_out_one_cut_short():
    "A held-out request with words left out ('Could you describe this image?' for '... for me?') is not held out."
    trained = SymbolicTeacher(phrasing="varied", requests="composed").detail_instructions
    norm = lambda s: s.lower().rstrip(".?!").removesuffix(", please")
    for way in HELD_OUT_DESCRIBE + HELD_OUT_DESCRIBE_B:
        hits = [r for r in DESCRIPTION_GRAMMAR if norm(r) in norm(way)]
        assert not hits, f"{hits[0]!r} is {way!r} cut short"
    assert len(trained) > len(DESCRIPTION_GRAMMAR)


@pytest.mark.parametrize("table", sorted(HELD_OUT_TABLES))
def test_held_out_questions_use_only_held_out_frames(table):
    "Every generated held-out question comes from a held-out frame (nothing leaks in from the training generators)."
    frames = HELD_OUT_TABLES[table][0]
    patterns = [frame_pattern(f) for fs in frames.values() for f in fs]
    for it in make_heldout_vqa(SCENES[:100], frames=frames, tag=table):
        assert any(p.fullmatch(it["question"]) for p in patterns), it["question"]


def test_the_varied_teacher_answers_like_the_templated_one():
    "Same intents, same kinds of answers; 'absent' turns answer honestly; the default draws are unchanged."
    import random

    from llava_nb.smallworld.world import COLOURS, POSITION_NAMES, SHAPES, SIZES, context_text
    from llava_nb.smallworld.symbolic import parse_context

    values = {"color": COLOURS, "shape": SHAPES, "size": SIZES, "position": POSITION_NAMES,
              "existence": ("yes", "no"), "relative_position": ("yes", "no", "left of", "right of", "above", "below")}
    teacher, kinds = SymbolicTeacher(seed=0, phrasing="varied", absent=1.0), set()
    for s in SCENES[:150]:
        objs = parse_context(context_text(s), s["id"])[1]
        for q, a, qt in teacher.conversation(objs, random.Random(s["id"])):
            kinds.add(qt)
            if qt == "absent":
                assert a.startswith("There is no ") and a.endswith(" in the image."), (q, a)
            elif qt == "count":
                assert a.isdigit(), (q, a)
            else:
                assert a in values[qt], (qt, q, a)
    assert kinds == set(values) | {"count", "absent"}
    same = lambda t: make_instruct(SCENES[:20], t, per_scene=2)
    assert same(SymbolicTeacher(seed=0)) == same(SymbolicTeacher(seed=0, phrasing="templates", absent=0.0))
