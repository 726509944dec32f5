"""`llava-nb data inspect` run as users run it (01c_data_inspect, 01d_data_inspect_cli): exit codes, the problem list, `--record`, `--json`;
on the fixtures, on a real SentencePiece vocabulary (Mistral-7B's, from the mistral-common wheel, converted the way a
user converts a `tokenizer.model`), and on a deliberately broken labelling function."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llava_nb.tiny import tiny_llama_tokenizer

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "data" / "fixtures"
MIX = FIXTURES / "llava_v1_5_mix665k.json"
CLI = str(Path(sys.executable).parent / "llava-nb")

# the mask before the fix, as a user's own labelling function: spans start at the answer's first character, so the
# space the model writes after `ASSISTANT:` (a lone `▁` before a digit, a newline or a CJK character) is not trained
OLD_RULE = '''
from llava_nb.data.templates import get_template
from llava_nb.data.masking import Tokenized, _overlap_labels


def answer_only_labels(conversations, tokenizer, template, num_image_tokens=1, max_length=None, record=None):
    r = get_template(template).render(conversations, tokenizer)
    enc = tokenizer(r.text, return_offsets_mapping=True)
    spans = [(s + len(r.text[s:e]) - len(r.text[s:e].lstrip()), e) for s, e in r.targets]
    return {"input_ids": enc.input_ids, "labels": _overlap_labels(enc.input_ids, enc.offset_mapping, spans)}
'''


def inspect(*args):
    return subprocess.run([CLI, "data", "inspect", *map(str, args)], capture_output=True, text=True, timeout=300)


def trained(stdout: str) -> list[str]:
    "The runs of trained text of a `--record` view (plain markup: `[[...]]`)."
    return re.findall(r"\[\[(.*?)\]\]", stdout, re.S)


def qa(rid, *answers, image=False) -> dict:
    "A record asking one question per answer; the first with `<image>` if `image`."
    turns = []
    for i, a in enumerate(answers):
        q = ("<image>\n" if image and i == 0 else "") + f"Question {i + 1}?"
        turns += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return {"id": rid, "conversations": turns} | ({"image": "coco/train2017/000000033471.jpg"} if image else {})


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    "The tiny Llama-style tokenizer (BOS, byte fallback, `<image>`), saved as users save theirs."
    d = tmp_path_factory.mktemp("tokenizers") / "llama"
    tiny_llama_tokenizer().save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def mistral(tmp_path_factory) -> Path:
    "Mistral-7B v0.1's SentencePiece `tokenizer.model`, converted to a fast tokenizer and saved: it has no `<image>`."
    mistral_common = pytest.importorskip("mistral_common", reason="a dev extra: pip install -e '.[dev]'")
    from transformers import LlamaTokenizerFast

    model = Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1"
    d = tmp_path_factory.mktemp("tokenizers") / "mistral"
    LlamaTokenizerFast(vocab_file=str(model), from_slow=True).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def old_rule(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("labels") / "old_rule.py"
    path.write_text(OLD_RULE)
    return f"{path}:answer_only_labels"


@pytest.mark.parametrize(
    "name,template",
    [("llava_v1_5_mix665k", "vicuna_v1"), ("llava_instruct_150k", "llama_2"), ("blip_laion_cc_sbu_558k", "plain")],
)
def test_fixture_files_train_exactly_answers_and_stop(llama, name, template):
    p = inspect(FIXTURES / f"{name}.json", "--template", template, "--tokenizer", llama)
    assert p.returncode == 0, p.stdout + p.stderr
    n = len(json.loads((FIXTURES / f"{name}.json").read_text()))
    assert re.search(rf"^records\s+{n}$", p.stdout, re.M) and re.search(r"^records with problems\s+0$", p.stdout, re.M)
    assert p.stdout.strip().splitlines()[-1] == f"OK: every kept record ({n}) trains exactly its answers + STOP"
    assert "inspecting" in p.stderr  # the progress bar, on stderr


def test_bad_records_are_counted_skips_with_reasons(llama):
    p = inspect(
        FIXTURES / "bad_records.json",
        "--template",
        "vicuna_v1",
        "--tokenizer",
        llama,
        "--image-folder",
        FIXTURES / "images",
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert re.search(r"^skipped\s+11$", p.stdout, re.M)
    for reason in (
        "missing 'conversations'",
        "unknown role 'system'",
        "empty answer",
        "image file missing",
        "path escapes the image folder",
    ):
        assert reason in p.stdout, reason


def test_record_view(llama):
    p = inspect(MIX, "--template", "vicuna_v1", "--tokenizer", llama, "--record", "2354786")
    assert p.returncode == 0, p.stderr
    assert trained(p.stdout) == [" Red</s>", " Gray</s>"]  # each answer with the space before it and its STOP
    assert "{image×576}" in p.stdout and "{user}\nIs the square red or blue?" in p.stdout
    assert re.search(r"^\d+ tokens, 576 image tokens, 9 trained$", p.stdout, re.M)
    assert "turn 1 trains ['▁', 'R', 'e', 'd', '</s>']" in p.stdout
    assert "OK: the trained tokens are exactly what generation writes" in p.stdout
    assert "\x1b[" not in p.stdout  # not a terminal: plain markup
    coloured = inspect(MIX, "--template", "vicuna_v1", "--tokenizer", llama, "--record", "2354786", "--color", "always")
    assert "\x1b[33;7m Red</s>\x1b[0m" in coloured.stdout  # the answer's colour, reversed: trained


def test_command_errors_name_what_was_wrong(llama):
    p = inspect(MIX, "--template", "vicuna_v1", "--tokenizer", llama, "--record", "no-such-id")
    assert p.returncode == 2 and "'no-such-id'" in p.stderr and str(MIX) in p.stderr and "Traceback" not in p.stderr
    p = inspect(MIX, "--template", "vicuna", "--tokenizer", llama)
    assert p.returncode == 2 and "unknown template 'vicuna'" in p.stderr and "'vicuna_v1'" in p.stderr
    bad = inspect(
        FIXTURES / "bad_records.json", "--template", "vicuna_v1", "--tokenizer", llama, "--record", "empty-answer"
    )
    assert bad.returncode == 1 and "skipped (training skips it too): empty answer" in bad.stdout


def test_json_counts_every_record(llama, tmp_path):
    out = tmp_path / "inspect.json"
    p = inspect(MIX, "--template", "vicuna_v1", "--tokenizer", llama, "--num-image-tokens", "4", "--json", out)
    assert p.returncode == 0, p.stderr
    report = json.loads(out.read_text())
    assert report["inspected"]["num_image_tokens"] == 4 and report["inspected"]["template"] == "vicuna_v1"
    ids = [r["id"] for r in json.loads(MIX.read_text())]
    assert [r["id"] for r in report["records"]] == ids
    assert sum(r["trained_tokens"] for r in report["records"]) == report["summary"]["trained_tokens"] > 0
    assert sum(r["image_tokens"] for r in report["records"]) == 4 * sum(
        "image" in r for r in json.loads(MIX.read_text())
    )
    assert all(r["problems"] == [] and r["skipped"] is None for r in report["records"])
    limited = inspect(MIX, "--template", "vicuna_v1", "--tokenizer", llama, "--limit", "3", "--json", out)
    assert limited.returncode == 0 and len(json.loads(out.read_text())["records"]) == 3
    assert not list(tmp_path.glob("*.part"))


def test_truncation_is_counted_and_nothing_to_train_fails(llama, tmp_path):
    data = tmp_path / "long.json"
    data.write_text(
        json.dumps([qa("long", "Once upon a time " * 40), qa("short", "Yes."), qa("img", "Red.", image=True)])
    )
    p = inspect(data, "--template", "vicuna_v1", "--tokenizer", llama, "--max-length", "60")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^truncated\s+1$", p.stdout, re.M) and "truncated to max_length" in p.stdout
    assert "truncation would cut or drop an image's tokens" in p.stdout  # the image record: skipped, with its reason
    none = inspect(data, "--template", "plain", "--tokenizer", llama, "--limit", "2")  # plain needs an image
    assert none.returncode == 1 and "PROBLEM: no record to train on (all 2 skipped)" in none.stdout


def test_a_broken_labelling_function_fails_the_gate(llama, old_rule, tmp_path):
    data = tmp_path / "digits.json"
    data.write_text(json.dumps([qa("t1", "2", "None."), qa("t2", "Yes."), qa("t3", "12 apples")]))
    assert inspect(data, "--template", "vicuna_v1", "--tokenizer", llama).returncode == 0  # the real mask
    out = tmp_path / "problems.json"
    p = inspect(data, "--template", "vicuna_v1", "--tokenizer", llama, "--labels", old_rule, "--json", out)
    assert p.returncode == 1, p.stdout + p.stderr
    listed = re.findall(r"^  (t\d): (turn \d: .*)$", p.stdout, re.M)
    assert [rid for rid, _ in listed] == ["t1", "t3"]
    assert listed[0][1] == "turn 1: trains ['<0x32>', '</s>'], generation writes ['▁', '<0x32>', '</s>']"
    assert "PROBLEM: 2 of 3 kept records" in p.stdout and "--record t1" in p.stderr
    report = json.loads(out.read_text())
    assert [r["id"] for r in report["records"] if r["problems"]] == ["t1", "t3"]
    assert report["summary"]["problems_by_kind"] == {"trained tokens differ from what generation writes": 2}
    one = inspect(data, "--template", "vicuna_v1", "--tokenizer", llama, "--labels", old_rule, "--record", "t1")
    assert one.returncode == 1 and trained(one.stdout)[0] == "2</s>"  # the space before `2` is left out


ANSWERS = ["2", "12 apples", "\nA list", "猫"]  # each starts with a token of its own after `ASSISTANT:`'s space


@pytest.mark.parametrize("template", ["vicuna_v1", "llama_2"])
def test_real_sentencepiece_tokenizer(mistral, old_rule, tmp_path, template):
    records = [qa(f"a{i}", a, image=i % 2 == 0) for i, a in enumerate(ANSWERS)] + [qa("multi", *ANSWERS, image=True)]
    data = tmp_path / "vqa.json"
    data.write_text(json.dumps(records))
    p = inspect(data, "--template", template, "--tokenizer", mistral)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "has no <image>: added it as a special token" in p.stderr
    assert p.stdout.strip().splitlines()[-1] == "OK: every kept record (5) trains exactly its answers + STOP"
    one = inspect(data, "--template", template, "--tokenizer", mistral, "--record", "a0")
    assert one.returncode == 0 and "turn 1 trains ['▁', '2', " in one.stdout  # the lone `▁`, trained
    assert trained(one.stdout)[0].startswith(" 2")
    old = inspect(data, "--template", template, "--tokenizer", mistral, "--labels", old_rule)
    assert old.returncode == 1
    assert sorted(set(re.findall(r"^  (\w+): turn", old.stdout, re.M))) == ["a0", "a1", "a2", "a3", "multi"]
