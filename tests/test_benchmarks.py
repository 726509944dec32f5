"""LLaVA-Bench and ScienceQA on their published file shapes: readers, letters, metrics, judges, and `llava-nb eval`."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_checkpoint

from llava_nb.eval.benchmarks import (
    JUDGE_SYSTEM_LLAVA,
    OfflineJudge,
    judge_agreement,
    load_llava_bench,
    read_bench_answers,
    read_bench_context,
    read_bench_questions,
    read_rules,
    read_scienceqa,
    rule_messages,
    sqa_prompt,
    sqa_scores,
    token_f1,
)
from llava_nb.cli import main
from llava_nb.core import RecordError
from llava_nb.eval.metrics import Judgement, Scores, extract_letter, parse_judge_scores, relative_scores
from llava_nb.eval.metrics import mc_prompt
from llava_nb.smallworld.judge import small_world_offline_judge

sys.path.insert(0, str(Path(__file__).parent))
from stub_openai import StubOpenAI  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
BENCH, SQA, COCO = DATA / "llava_bench_fixture", DATA / "scienceqa_fixture", DATA / "coco_fixture"
CAPS_BOXES = COCO / "caps_boxes_fixture.jsonl"
CLI = str(Path(sys.executable).parent / "llava-nb")


def bench_files():
    return BENCH / "questions.jsonl", BENCH / "context.jsonl", BENCH / "answers_gpt4.jsonl"


# --- readers -------------------------------------------------------------------------------------------------

def test_bench_readers_read_the_published_fields():
    q = read_bench_questions(BENCH / "questions.jsonl")
    assert len(q) == 9 and q[6] == {"question_id": 6, "image": "003.png",
                                    "text": "What colour is the roof of the house?", "category": "conv"}
    assert [x["category"] for x in q] == ["conv", "detail", "complex"] * 3
    ctx = read_bench_context(BENCH / "context.jsonl")
    assert set(ctx) == {"001.png", "002.png", "003.png"}
    coco = ctx["002.png"].split("\n\n")  # COCO flavour: five captions, a blank line, the boxes
    assert len(coco[0].splitlines()) == 5 and coco[1].splitlines()[0] == "white cross: [0.02, 0.041, 0.287, 0.308]"
    assert ctx["003.png"].startswith("A simple drawing") and "\n" not in ctx["003.png"]  # in-the-wild: the description
    refs = read_bench_answers(BENCH / "answers_gpt4.jsonl")
    assert refs[6] == "The roof of the house is red." and len(refs) == 9
    items = load_llava_bench(*bench_files())
    assert items[3]["type"] == "conversation" and items[3]["context"] == ctx["002.png"] and items[3]["question_id"] == 3


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


GOOD_Q = {"question_id": 0, "image": "a.jpg", "text": "What is it?", "category": "detail"}


@pytest.mark.parametrize("lines, message", [
    ([GOOD_Q, "{not json"], "q.jsonl line 2: bad JSON"),
    ([GOOD_Q, GOOD_Q], "q.jsonl line 2: question_id 0 again (first on line 1)"),
    ([{**GOOD_Q, "category": "reasoning"}], "q.jsonl line 1: category 'reasoning' is not one of"),
    ([{k: v for k, v in GOOD_Q.items() if k != "image"}], "q.jsonl line 1: missing field 'image'"),
    ([{**GOOD_Q, "text": "  "}], "q.jsonl line 1: field 'text' is empty"),
    ([{**GOOD_Q, "question_id": [1]}], "q.jsonl line 1: field 'question_id' should be int or str, got list"),
])
def test_bad_questions_name_file_and_line(tmp_path, lines, message):
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_bench_questions(_write(tmp_path / "q.jsonl", lines))


@pytest.mark.parametrize("line, message", [
    ({"image": "a.jpg"}, "c.jsonl line 1: missing field 'caption'"),
    ({"image": "a.jpg", "captions": ["x"], "instances": [{"category": "dog", "bbox": [0, 0, 1]}]},
     "c.jsonl line 1: instance 0 should be"),
    ({"image": "a.jpg", "captions": "one caption"}, "c.jsonl line 1: field 'captions' should be a list of strings"),
    ({"image": "a.jpg", "instances": []}, r"c.jsonl line 1: no captions \(field 'captions' is missing\)"),
    ({"image": "a.jpg", "captions": [], "instances": []}, r"c.jsonl line 1: no captions \(field 'captions' is empty\)"),
    ({"image": "a.jpg", "caption": [1, 2]}, "c.jsonl line 1: field 'caption' should be a string or a list"),
])
def test_bad_context_names_file_and_line(tmp_path, line, message):
    with pytest.raises(RecordError, match=message):
        read_bench_context(_write(tmp_path / "c.jsonl", [line]))


def test_missing_context_or_reference_names_the_question(tmp_path):
    q, c, a = bench_files()
    refs = _write(tmp_path / "a.jsonl", [json.loads(x) for x in a.read_text().splitlines()[:-1]])
    with pytest.raises(RecordError, match="record question_id 8: no reference answer in"):
        load_llava_bench(q, c, refs)
    ctx = _write(tmp_path / "c.jsonl", [json.loads(x) for x in c.read_text().splitlines()[1:]])
    with pytest.raises(RecordError, match="record question_id 0: image '001.png' has no line in"):
        load_llava_bench(q, ctx, a)


def test_scienceqa_reader_reads_the_published_fields():
    items = read_scienceqa(SQA / "problems.json", SQA / "pid_splits.json", "test")
    assert [it["id"] for it in items] == ["3", "4", "5", "6", "7", "8"]
    assert items[2] == {"id": "5", "question": "Which direction is the yellow dot from the center of the map?",
                        "choices": ["north", "south", "east", "west"], "answer": "C", "context": "",
                        "image": "test/5/image.png", "modality": "image", "has_hint": False,
                        "subject": "social science", "grade": "7-12"}
    assert all((SQA / "images" / it["image"]).is_file() for it in items if it["image"])
    assert [it["modality"] for it in items] == ["image", "text", "image", "text", "none", "none"]
    mini = read_scienceqa(SQA / "problems.json", SQA / "pid_splits.json", "minitest")
    assert [it["id"] for it in mini] == ["3", "4", "5"]
    assert mc_prompt(items[1]) == ("Context: Maria put a glass of water in the freezer. The next morning the water was "
                                   "solid.\nWhat happened to the water?\nA. It boiled.\nB. It froze.\nC. It melted.\n"
                                   "Answer with the option's letter from the given choices directly.")


GOOD_P = {"question": "Q?", "choices": ["a", "b"], "answer": 0, "hint": "", "image": None,
          "subject": "natural science", "grade": "grade3", "split": "test"}


@pytest.mark.parametrize("problem, message", [
    ({**GOOD_P, "answer": 2}, "record pid 9: answer 2 is not an index into 2 choices"),
    ({**GOOD_P, "choices": ["a"]}, "record pid 9: choices should be 2 to 5 strings"),
    ({**GOOD_P, "choices": list("abcdef")}, "record pid 9: choices should be 2 to 5 strings"),
    ({**GOOD_P, "grade": "kindergarten"}, "record pid 9: grade 'kindergarten' is not grade1"),
    ({k: v for k, v in GOOD_P.items() if k != "question"}, "record pid 9: missing field 'question'"),
    ({**GOOD_P, "answer": "0"}, "record pid 9: field 'answer' should be int, got str"),
])
def test_bad_problems_name_file_and_pid(tmp_path, problem, message):
    (tmp_path / "p.json").write_text(json.dumps({"9": problem}))
    (tmp_path / "s.json").write_text(json.dumps({"test": ["9"]}))
    with pytest.raises(RecordError, match=r"p\.json, " + message):
        read_scienceqa(tmp_path / "p.json", tmp_path / "s.json")


def test_bad_splits_are_clear(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"test": ["3", "99"]}))
    with pytest.raises(RecordError, match="split 'test' lists pid 99 that .* does not have"):
        read_scienceqa(SQA / "problems.json", tmp_path / "s.json")
    with pytest.raises(RecordError, match=r"no split 'dev' \(has: train, val, test"):
        read_scienceqa(SQA / "problems.json", SQA / "pid_splits.json", "dev")
    (tmp_path / "p.json").write_text('{"3": ')
    with pytest.raises(RecordError, match=r"p\.json: bad JSON"):
        read_scienceqa(tmp_path / "p.json", SQA / "pid_splits.json")


def test_fixtures_match_their_generator(tmp_path):
    subprocess.run([sys.executable, str(DATA / "make_benchmark_fixtures.py"), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    for name in ("llava_bench_fixture", "scienceqa_fixture"):
        made = sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*") if p.is_file())
        committed = sorted(p.relative_to(DATA / name) for p in (DATA / name).rglob("*") if p.is_file())
        assert made == committed
        for rel in made:
            assert (tmp_path / name / rel).read_bytes() == (DATA / name / rel).read_bytes(), rel
    # the COCO folder's two annotation files are hand-written; only its caps_boxes JSONL is made from them
    assert [p.name for p in (tmp_path / "coco_fixture").iterdir()] == [CAPS_BOXES.name]
    assert (tmp_path / "coco_fixture" / CAPS_BOXES.name).read_bytes() == CAPS_BOXES.read_bytes()
    assert sum(p.stat().st_size for p in tmp_path.rglob("*.png")) < 20_000  # tiny pictures


# --- letters and metrics -------------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, want", [
    ("C", "C"), ("c", "C"), ("(C)", "C"), ("C.", "C"), ("The answer is C.", "C"), ("Answer: C", "C"),
    ("C. east", "C"), ("east", "C"), ("It is to the east.", "C"), ("F", None), ("north or south", None), ("", None),
])
def test_letter_extraction(reply, want):
    assert extract_letter(reply, ["north", "south", "east", "west"]) == want


def test_sqa_scores_by_modality_subject_and_grade():
    items = read_scienceqa(SQA / "problems.json", SQA / "pid_splits.json", "test")
    # pids 3 (img, NAT, 1-6), 4 (txt, NAT, 1-6), 5 (img, SOC, 7-12), 6 (txt, LAN, 7-12), 7 (none, LAN, 1-6),
    # 8 (none, SOC, 7-12)
    replies = ["B", "B", "The answer is C.", "hmm", "banana", "C"]
    s = sqa_scores(replies, items)
    assert s["letters"] == ["B", "B", "C", None, "B", "C"]
    assert (s["n"], s["unparsed"]) == (6, 1) and s["accuracy"] == pytest.approx(4 / 6)
    assert s["by_modality"] == {"image": 0.5, "text": 0.5, "none": 1.0}
    assert s["by_subject"] == {"natural science": 0.5, "social science": 1.0, "language science": 0.5}
    assert s["by_grade"] == {"1-6": pytest.approx(2 / 3), "7-12": pytest.approx(2 / 3)}
    pub = s["published"]  # TXT = 3, 4, 6 (hints; 3 also has a picture); IMG = 3, 5; NO = 7, 8
    assert pub["TXT"] == pytest.approx(100 / 3) and pub["IMG"] == 50.0 and pub["NO"] == 100.0
    assert list(pub) == ["NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12", "Avg"]


def jd(ref, model):
    return Judgement(Scores(ref, ref, ref, ref), Scores(model, model, model, model))


def test_relative_score_arithmetic_and_agreement():
    kinds = ["conversation", "conversation", "detail", "complex"]
    rel = relative_scores([jd(8, 6), jd(8, 8), jd(10, 5), jd(5, 10)], kinds)
    assert rel == {"conversation": 87.5, "detail": 50.0, "complex": 200.0, "overall": pytest.approx(100 * 29 / 31)}
    same = judge_agreement([jd(8, 6), jd(8, 8), jd(10, 5)], [jd(10, 7), jd(9, 9), jd(8, 1)])
    assert same["pearson"] > 0.9 and same["spearman"] == pytest.approx(1.0) and same["same_verdict"] == 1.0
    opposite = judge_agreement([jd(8, 2), jd(8, 8), jd(8, 9)], [jd(8, 9), jd(8, 8), jd(8, 2)])
    assert opposite["spearman"] == pytest.approx(-1.0) and opposite["same_verdict"] == pytest.approx(1 / 3)
    assert judge_agreement([jd(8, 8)] * 3, [jd(8, 2), jd(8, 4), jd(8, 6)])["pearson"] is None  # constant: undefined


def test_offline_judge_reads_scenes_symbolically_and_the_rest_lexically():
    items = load_llava_bench(*bench_files())
    assert {OfflineJudge().which(it["context"]) for it in items} == {"lexical"}  # the core alone: no specialist
    judge = small_world_offline_judge()
    assert [judge.which(it["context"]) for it in items] == ["symbolic"] * 6 + ["lexical"] * 3
    for it in items:
        j = judge.judge(it["context"], it["question"], it["reference"], it["reference"], it["type"])
        assert j.model.overall == j.reference.overall == 10
    wrong = judge.judge(items[0]["context"], items[0]["question"], items[0]["reference"], "top right", "conversation")
    assert wrong.model.overall < 5  # the symbolic judge checks the position against the boxes
    assert token_f1("Red is the roof of that house!", items[6]["reference"]) == 1.0  # lexical: the same content words


# --- the command, on a tiny checkpoint -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("bench"))


def bench_args(ckpt, out, *extra):
    q, c, a = bench_files()
    return ["eval", "llava-bench", "--checkpoint", str(ckpt), "--questions", str(q), "--context", str(c), "--answers",
            str(a), "--images", str(BENCH / "images"), "--out", str(out), "--max-new-tokens", "6", *map(str, extra)]


def test_cli_llava_bench_symbolic_writes_the_report_and_resumes(ckpt, tmp_path):
    out = tmp_path / "bench"
    p = subprocess.run([CLI, *bench_args(ckpt, out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == str(out / "report.json")
    rep = json.loads((out / "report.json").read_text())
    assert rep["n"] == 9 and rep["primary_judge"] == "offline" and "agreement" not in rep
    assert set(rep["relative_score"]) == {"conversation", "detail", "complex", "overall"}
    assert rep["judges"]["offline"]["by"] == {"symbolic": 6, "lexical": 3}
    answers = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert [a["question_id"] for a in answers] == list(range(9))
    assert set(answers[0]) == {"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}
    assert (out / "report.md").read_text().startswith("## LLaVA-Bench: ckpt (9 questions)")
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert len((out / "scores.jsonl").read_text().splitlines()) == 9
    # a rerun after an interruption (the last line cut) answers only that question, in process this time
    lines = (out / "answers.jsonl").read_text().splitlines()
    (out / "answers.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:15])
    assert main(bench_args(ckpt, out)) == 0
    assert (out / "answers.jsonl").read_text().splitlines() == lines
    assert json.loads(lines[0])["metadata"] == {"checkpoint": str(Path(ckpt).resolve()), "max_new_tokens": 6}
    args = bench_args(ckpt, out)
    args[args.index("--max-new-tokens") + 1] = "2"  # another token limit: every answer is asked again
    assert main(args) == 0
    again = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert len(again) == 9 and {a["metadata"]["max_new_tokens"] for a in again} == {2}


def test_cli_llava_bench_with_an_llm_judge_over_http(ckpt, tmp_path):
    out = tmp_path / "bench"
    script = ["no scores here"]  # the first review is unparsable: skipped and counted, then judged on the rerun
    with StubOpenAI(reply=lambda body: "8 6\nAssistant 1 is more complete.", script=script) as stub:
        args = bench_args(ckpt, out, "--judge", "openai", "--base-url", stub.url, "--model", "stub-judge", "--limit", 6)
        assert main(args) == 0
        rep = json.loads((out / "report.json").read_text())
        judge = rep["judges"]["openai:stub-judge"]
        assert rep["primary_judge"] == "openai:stub-judge" and rep["relative_score"] == judge["relative"]
        assert (judge["n"], judge["skipped"]) == (5, 1) and "no scores here" in next(iter(judge["skip_reasons"]))
        assert judge["relative"]["overall"] == 75.0  # 6 / 8 on every judged question
        assert rep["agreement"]["n"] == 5 and rep["judges"]["offline"]["n"] == 6
        assert len(stub.requests) == 6
        user = stub.requests[1]["messages"][-1]["content"]  # the judge saw context, question and both answers
        assert "[Context]\nA green square and a yellow triangle" in user and "yellow triangle: [0.139" in user
        assert "Provide a thorough description of the given image." in user
        assert "judge agreement (openai:stub-judge vs offline, 5 questions)" in (out / "report.md").read_text()
        assert main(args) == 0  # the rerun asks the judge only about the skipped question
        assert len(stub.requests) == 7
        assert json.loads((out / "report.json").read_text())["judges"]["openai:stub-judge"]["n"] == 6


def test_cli_scienceqa_writes_the_report(ckpt, tmp_path):
    out = tmp_path / "sqa"
    args = ["eval", "scienceqa", "--checkpoint", str(ckpt), "--problems", str(SQA / "problems.json"), "--splits",
            str(SQA / "pid_splits.json"), "--images", str(SQA / "images"), "--split", "test", "--out", str(out),
            "--max-new-tokens", "4"]
    assert main(args) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["n"] == 6 and rep["split"] == "test" and 0 <= rep["accuracy"] <= 1
    assert rep["counts"]["by_modality"] == {"image": 2, "text": 2, "none": 2}
    assert set(rep["published"]) == {"NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12", "Avg"}
    answers = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert [a["question_id"] for a in answers] == ["3", "4", "5", "6", "7", "8"]
    assert answers[0]["prompt"].endswith("Answer with the option's letter from the given choices directly.")
    assert sum(a["correct"] for a in answers) == round(rep["accuracy"] * 6)
    assert (out / "report.png").is_file() and "| modality | image | 2 |" in (out / "report.md").read_text()
    assert main([*args[:-2], "--limit", "2", "--out", str(tmp_path / "two")]) == 0
    assert json.loads((tmp_path / "two" / "report.json").read_text())["n"] == 2


def test_cli_errors_are_one_line(ckpt, tmp_path, capsys):
    shutil.copytree(BENCH, tmp_path / "b")
    (tmp_path / "b" / "images" / "002.png").unlink()
    q, c, a = (tmp_path / "b" / n for n in ("questions.jsonl", "context.jsonl", "answers_gpt4.jsonl"))
    args = ["eval", "llava-bench", "--checkpoint", str(ckpt), "--questions", str(q), "--context", str(c), "--answers",
            str(a), "--images", str(tmp_path / "b" / "images"), "--out", str(tmp_path / "o"), "--max-new-tokens", "2"]
    assert main(args) == 2
    assert "image file missing" in capsys.readouterr().err
    assert main([*args, "--judge", "openai"]) == 2
    assert "--judge openai needs --model" in capsys.readouterr().err


# --- LLaVA's own judge prompt (rule.json), LLaVA's COCO context files, LLaVA v1's ScienceQA prompt ---------------

def test_llava_context_text_from_caps_boxes_jsonl_and_coco_files():
    jl = read_bench_context(CAPS_BOXES)
    coco = read_bench_context(COCO / "captions_fixture2017.json", COCO / "instances_fixture2017.json")
    rows = [json.loads(x) for x in CAPS_BOXES.read_text().splitlines()]
    dog, sign = rows[0], rows[4]
    assert jl[dog["image"]] == ("\n".join(dog["captions"]) + "\n\ndog: [0.1, 0.1, 0.6, 0.6]\nfrisbee: [0.47, 0.251, "
                                "0.532, 0.313]\nperson: [0.75, 0.417, 0.906, 0.896]\nbench: [0.656, 0.625, 1.0, 0.875]")
    assert jl[sign["image"]] == "\n".join(sign["captions"]) + "\n\n"  # no boxes: LLaVA's blank line stays
    assert all(jl[r["image"]] == coco[r["image"]] for r in rows[:4])
    with pytest.raises(ValueError, match="give --coco-instances too"):
        read_bench_context(COCO / "captions_fixture2017.json")
    with pytest.raises(ValueError, match="instances go with COCO's captions_"):
        read_bench_context(CAPS_BOXES, COCO / "instances_fixture2017.json")


def test_official_judge_messages_exactly():
    rules = read_rules(BENCH / "rule.json")
    assert {"conv", "detail", "complex", "llava_bench_conv", "llava_bench_detail", "llava_bench_complex"} <= set(rules)
    items = load_llava_bench(*bench_files())
    assert [it["rule"] for it in items] == ["conv", "detail", "complex"] * 2 + [
        "llava_bench_conv", "llava_bench_detail", "llava_bench_complex"]  # fmt: skip
    it = items[6]  # in-the-wild: the description
    msgs = rule_messages(it["context"], it["question"], "The roof is red.", "Blue.", rules[it["rule"]])
    assert msgs[0] == {"role": "system", "content": "You are a helpful and precise assistant for checking the quality "
                       "of the answer."}  # fmt: skip
    assert msgs[1]["content"] == (
        "[Context]\n" + it["context"] + "\n\n[Question]\nWhat colour is the roof of the house?\n\n"
        "[Assistant 1]\nThe roof is red.\n\n[End of Assistant 1]\n\n[Assistant 2]\nBlue.\n\n[End of Assistant 2]\n\n"
        "[System]\n" + rules["llava_bench_conv"]["prompt"] + "\n\n")
    sign = read_bench_context(CAPS_BOXES)["000000000555.jpg"]  # COCO without boxes: captions, then four newlines
    user = rule_messages(sign, "Q?", "a", "b", {"role": "Assistant", "prompt": "P"})[1]["content"]
    assert user.startswith("[Context]\nA wooden signpost") and "trails.\nA quiet woodland crossing marked by an old " \
        "signpost.\n\n\n\n[Question]\nQ?\n\n[Assistant 1]\na\n\n[End of Assistant 1]\n\n" in user  # fmt: skip
    assert user.endswith("[System]\nP\n\n")


@pytest.mark.parametrize("rules, message", [
    ('{"conv": {"role": "Assistant"}}', "rule.json: category 'conv' should be {'role': str, 'prompt': str}"),
    ('["conv"]', "rule.json: expected a JSON object"),
    ('{"conv": ', "rule.json: bad JSON"),
])
def test_bad_rules_files(tmp_path, rules, message):
    (tmp_path / "rule.json").write_text(rules)
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace("{", r"\{")):
        read_rules(tmp_path / "rule.json")


@pytest.mark.parametrize("reply, want", [("8 7", (8.0, 7.0)), ("8 7\nAssistant 1 names both shapes.", (8.0, 7.0)),
                                         ("9.5 6\n", (9.5, 6.0)), ("7,8", (7.0, 8.0)), ("10 1", (10.0, 1.0))])
def test_judge_reads_the_official_first_line(reply, want):
    assert parse_judge_scores(reply) == want


def test_llava_v1_scienceqa_prompts_exactly():
    items = {it["id"]: it for it in read_scienceqa(SQA / "problems.json", SQA / "pid_splits.json", "test")}
    assert sqa_prompt(items["3"], "llava-v1") == ("Context: The picture shows two balls.\nQuestion: Which ball is "
                                                 "larger?\nOptions: (A) the red ball (B) the blue ball")  # fmt: skip
    assert sqa_prompt(items["8"], "llava-v1") == ("Context: N/A\nQuestion: What is the capital of France?\nOptions: "
                                                 "(A) Lyon (B) Marseille (C) Paris (D) Nice (E) Lille")  # fmt: skip
    assert sqa_prompt(items["8"], "llava-1.5") == ("What is the capital of France?\nA. Lyon\nB. Marseille\nC. Paris\n"
                                                  "D. Nice\nE. Lille\nAnswer with the option's letter from the given "
                                                  "choices directly.")  # fmt: skip
    with pytest.raises(ValueError, match="unknown ScienceQA prompt format 'v1'"):
        sqa_prompt(items["8"], "v1")


@pytest.mark.parametrize("reply, want", [
    ("The answer is C.", "C"), ("The answer is C. BECAUSE: the dot is right of the centre.", "C"), ("(C) east", "C"),
    ("(C)", "C"), ("C", "C"), ("The answer is E.", None),
])
def test_letter_extraction_reads_llava_v1_replies(reply, want):
    assert extract_letter(reply, ["north", "south", "east", "west"]) == want


def test_cli_llava_bench_with_llava_rules_over_http(ckpt, tmp_path, capsys):
    out = tmp_path / "bench"
    with StubOpenAI(reply=lambda body: "8 6\nAssistant 1 is more complete.") as stub:
        args = bench_args(ckpt, out, "--judge", "openai", "--base-url", stub.url, "--model", "j", "--rules",
                          BENCH / "rule.json")  # fmt: skip
        assert main(args) == 0
        rep = json.loads((out / "report.json").read_text())
        assert rep["judge_prompt"] == f"LLaVA rule.json ({BENCH / 'rule.json'})"
        assert rep["judges"]["openai:j"]["prompt"] == rep["judge_prompt"] and rep["judges"]["openai:j"]["n"] == 9
        assert "openai:j judge's prompt: LLaVA rule.json" in (out / "report.md").read_text()
        items, rules = load_llava_bench(*bench_files()), read_rules(BENCH / "rule.json")
        answers = [json.loads(x)["text"] for x in (out / "answers.jsonl").read_text().splitlines()]
        for body, it, a in zip(stub.requests, items, answers):  # exactly LLaVA's messages, in question order
            assert body["messages"] == rule_messages(it["context"], it["question"], it["reference"], a,
                                                     rules[it["rule"]])  # fmt: skip
            assert body["temperature"] == 0.2
        assert stub.requests[0]["messages"][0]["content"] == JUDGE_SYSTEM_LLAVA
        assert main(args) == 0 and len(stub.requests) == 9  # reviews under the same prompt are reused
        assert main([a for a in args if a not in ("--rules", str(BENCH / "rule.json"))]) == 0
        assert len(stub.requests) == 18  # our own prompt this time: every question judged again
        assert json.loads((out / "report.json").read_text())["judge_prompt"] == "llava_nb judge_messages"
    (tmp_path / "rule.json").write_text(json.dumps({k: v for k, v in rules.items() if "llava_bench" not in k}))
    assert main([*args[:-1], str(tmp_path / "rule.json")]) == 2  # before the model loads or any judge call
    err = capsys.readouterr().err
    assert f"file {tmp_path / 'rule.json'}: no category 'llava_bench_conv', which question_id 6 needs" in err
    assert main(bench_args(ckpt, out, "--rules", BENCH / "rule.json")) == 2
    assert "--rules sets an LLM judge's prompt: give --judge openai|hf too" in capsys.readouterr().err


def test_cli_llava_bench_on_llava_caps_boxes_and_on_coco_files(ckpt, tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    for name in ("000000123456.jpg", "000000000555.jpg"):
        Image.new("RGB", (32, 24), (90, 140, 60)).save(tmp_path / "images" / name)
    q = _write(tmp_path / "q.jsonl", [
        {"question_id": 0, "image": "000000123456.jpg", "text": "What is the dog carrying?", "category": "conv"},
        {"question_id": 1, "image": "000000000555.jpg", "text": "Describe the image in detail.", "category": "detail"},
    ])  # fmt: skip
    a = _write(tmp_path / "a.jsonl", [{"question_id": 0, "text": "A red frisbee."},
                                      {"question_id": 1, "text": "A signpost at a fork in a forest path."}])
    common = ["eval", "llava-bench", "--checkpoint", str(ckpt), "--questions", str(q), "--answers", str(a), "--images",
              str(tmp_path / "images"), "--max-new-tokens", "3", "--judge", "openai", "--model", "j", "--rules",
              str(BENCH / "rule.json")]  # fmt: skip
    with StubOpenAI(reply=lambda body: "9 5\nok") as stub:
        assert main([*common, "--base-url", stub.url, "--context", str(CAPS_BOXES), "--out", str(tmp_path / "jl")]) == 0
        from_jsonl = [b["messages"][1]["content"] for b in stub.requests]
        coco = ["--context", str(COCO / "captions_fixture2017.json"), "--coco-instances",
                str(COCO / "instances_fixture2017.json")]  # fmt: skip
        one = _write(tmp_path / "q1.jsonl", [json.loads(q.read_text().splitlines()[0])])  # COCO's files: one image
        coco += ["--questions", str(one), "--out", str(tmp_path / "coco")]  # (the later --questions wins)
        assert main([*common, "--base-url", stub.url, *coco]) == 0
        from_coco = stub.requests[2]["messages"][1]["content"]
    ctx = read_bench_context(CAPS_BOXES)
    assert from_jsonl[0].startswith("[Context]\n" + ctx["000000123456.jpg"] + "\n\n[Question]\nWhat is the dog")
    assert "\nbench: [0.656, 0.625, 1.0, 0.875]\n\n[Question]\n" in from_jsonl[0]
    assert "old signpost.\n\n\n\n[Question]\nDescribe the image in detail.\n\n[Assistant 1]\nA sign" in from_jsonl[1]
    rules = read_rules(BENCH / "rule.json")
    assert from_jsonl[0].endswith(rules["conv"]["prompt"] + "\n\n")  # COCO context: the category's own key
    assert from_jsonl[1].endswith(rules["detail"]["prompt"] + "\n\n")
    assert from_coco == from_jsonl[0]  # COCO's own files give LLaVA's text too
    rep = json.loads((tmp_path / "jl" / "report.json").read_text())
    assert rep["n"] == 2 and rep["judges"]["openai:j"]["relative"]["overall"] == pytest.approx(500 / 9)


def test_cli_scienceqa_in_llava_v1_format(ckpt, tmp_path):
    out = tmp_path / "sqa"
    args = ["eval", "scienceqa", "--checkpoint", str(ckpt), "--problems", str(SQA / "problems.json"), "--splits",
            str(SQA / "pid_splits.json"), "--images", str(SQA / "images"), "--out", str(out), "--max-new-tokens", "2",
            "--limit", "3", "--prompt-format", "llava-v1"]  # fmt: skip
    assert main(args) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["prompt_format"] == "llava-v1" and rep["n"] == 3
    assert "prompt format: llava-v1" in (out / "report.md").read_text()
    answers = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    items = read_scienceqa(SQA / "problems.json", SQA / "pid_splits.json")[:3]
    assert [x["prompt"] for x in answers] == [sqa_prompt(it, "llava-v1") for it in items]
    assert answers[2]["prompt"] == ("Context: N/A\nQuestion: Which direction is the yellow dot from the center of the "
                                    "map?\nOptions: (A) north (B) south (C) east (D) west")  # fmt: skip
    assert main([*args[:-1], "llava-1.5"]) == 0  # the other format: every question asked again
    again = [json.loads(x) for x in (out / "answers.jsonl").read_text().splitlines()]
    assert again[0]["prompt"].endswith("Answer with the option's letter from the given choices directly.")
