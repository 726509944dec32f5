"LLM teachers and judges over real HTTP (llava_nb.datagen.teachers, llava_nb.datagen.coco, `llava-nb datagen`): retries, skips, concurrency, resume after kill -9, COCO."
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llava_nb.cli import main
from llava_nb.datagen.coco import coco_id, normalise_bbox, read_coco
from llava_nb.core import IMAGE_TOKEN
from llava_nb.data.records import validate_records
from llava_nb.eval.metrics import HFJudge, OpenAIJudge
from llava_nb.smallworld.world import context_text, make_world, sample_scene
from llava_nb.datagen.teachers import (BackendError, HFBackend, HFTeacher, OpenAIBackend, OpenAITeacher, RetryPolicy,
                               generate_dataset)
from llava_nb.tiny import tiny_bytelevel_tokenizer, tiny_causal_lm

sys.path.insert(0, str(Path(__file__).parent))
from stub_openai import StubOpenAI, prompt_words, words  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "data" / "coco_fixture"
CAPS, INST = FIXTURE / "captions_fixture2017.json", FIXTURE / "instances_fixture2017.json"
FAST = RetryPolicy(retries=3, base_delay=0.001, max_delay=0.05)
MSGS = [{"role": "user", "content": "Say something."}]
SCENES = [sample_scene(i, f"nw_{i:06d}") for i in range(16)]
SCENES = [{**s, "context": context_text(s)} for s in SCENES]  # what an LLM teacher reads (as SMALL_WORLD.load gives)


def qa_reply(body) -> str:
    "A deterministic teacher: one exchange about the first line of the context it was given."
    first = body["messages"][-1]["content"].splitlines()[0]
    return f"Question: What does the image show?\nAnswer: {first}"


# ---- the backend: retries, errors, usage ----
def test_retries_then_success_honouring_retry_after():
    with StubOpenAI(script=[{"status": 429, "retry_after": 0.3}, {"status": 500}, {"status": 503}]) as s:
        b = OpenAIBackend("m", base_url=s.url, retry=RetryPolicy(retries=3, base_delay=0.001, max_delay=1.0))
        t0 = time.perf_counter()
        r = b.chat(MSGS)
        took = time.perf_counter() - t0
    assert r.text.startswith("Question:") and len(s.requests) == 4
    assert (b.usage.requests, b.usage.retries) == (1, 3)
    assert took >= 0.3  # the server's Retry-After, not the 1 ms backoff
    with StubOpenAI(script=[{"status": 429, "retry_after": 30}]) as s:  # ... but no longer than max_delay
        t0 = time.perf_counter()
        OpenAIBackend("m", base_url=s.url, retry=FAST).chat(MSGS)
        assert time.perf_counter() - t0 < 5


def test_gives_up_after_n_with_a_clear_error():
    with StubOpenAI(reply=lambda body: {"status": 502}) as s:
        with pytest.raises(BackendError, match=r"openai:m: gave up after 4 attempts; last error: HTTP 502"):
            OpenAIBackend("m", base_url=s.url, retry=FAST).chat(MSGS)
        assert len(s.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 404])
def test_no_retry_on_other_4xx(status):
    with StubOpenAI(script=[{"status": status, "message": "model 'm' does not exist"}]) as s:
        with pytest.raises(BackendError, match=rf"HTTP {status} \(not retried\): .*model 'm' does not exist"):
            OpenAIBackend("m", base_url=s.url, retry=FAST).chat(MSGS)
        assert len(s.requests) == 1


def test_timeout_then_success():
    with StubOpenAI(script=[{"sleep": 1.5}]) as s:
        b = OpenAIBackend("m", base_url=s.url, timeout=0.3, retry=FAST)
        t0 = time.perf_counter()
        assert b.chat(MSGS).text.startswith("Question:")
        assert time.perf_counter() - t0 < 1.4 and b.usage.retries == 1


def test_malformed_json_is_retried_then_reported():
    with StubOpenAI(script=[{"raw": "{not json"}, {"raw": '{"object": "chat.completion"}'}]) as s:
        b = OpenAIBackend("m", base_url=s.url, retry=FAST)
        assert b.chat(MSGS).text.startswith("Question:") and b.usage.retries == 2
    with StubOpenAI(reply=lambda body: {"raw": "<html>oops"}) as s:
        with pytest.raises(BackendError, match="gave up after 2 attempts; last error: malformed reply"):
            OpenAIBackend("m", base_url=s.url, retry=RetryPolicy(retries=1, base_delay=0.001)).chat(MSGS)


def test_connection_refused_is_not_retried():
    "Nothing listening is not worth waiting for: it fails at once, naming the URL (issue 26)."
    with StubOpenAI() as s:
        url = s.url
    b = OpenAIBackend("m", base_url=url, retry=RetryPolicy(retries=1, base_delay=0.001))
    with pytest.raises(BackendError, match=rf"cannot connect to {url} .*Connection refused.*not retried"):
        b.chat(MSGS)
    assert b.usage.retries == 0


def test_usage_is_summed_and_key_sent(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    with StubOpenAI(script=[{"status": 429, "retry_after": 0}, "one two three", {"text": "four", "usage": False}]) as s:
        b = OpenAIBackend("m", base_url=s.url, retry=FAST)
        replies = [b.chat([{"role": "user", "content": f"question number {i}"}], seed=i) for i in range(3)]
    assert [r.text for r in replies[:2]] == ["one two three", "four"]
    assert b.usage.prompt_tokens == 3 * 2 and b.usage.completion_tokens == 3 + words(replies[2].text)
    assert (b.usage.requests, b.usage.retries) == (3, 1)
    assert set(s.keys) == {"Bearer sk-test-123"} and [r["seed"] for r in s.requests] == [0, 0, 1, 2]
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ValueError, match="no API key"):
        OpenAIBackend("gpt-4o")


# ---- datagen over HTTP: skips, tokens, concurrency ----
BAD = {SCENES[2]["captions"][0]: "I'm sorry, but I cannot help with that.",
       SCENES[5]["captions"][0]: "Here is a lovely conversation about the picture.",
       SCENES[7]["captions"][0]: "Question: How many shapes?\nAnswer:\n===\nQuestion: Q\nAnswer: A",
       SCENES[9]["captions"][0]: "Question: What is it?\nAnswer: As an AI, I cannot see the image."}


def flaky_teacher(body):
    first = body["messages"][-1]["content"].splitlines()[0]
    return BAD.get(first) or qa_reply(body)


def test_skips_are_counted_with_ids_and_reasons(tmp_path):
    said = []
    with StubOpenAI(reply=flaky_teacher) as s:
        t = OpenAITeacher("m", base_url=s.url, retry=FAST)
        recs, summary = generate_dataset(SCENES, t, tmp_path / "c.json", mix={"conversation": 1}, on_error="skip",
                                         progress=False, concurrency=4, llava_shape=True, say=said.append)
    assert len(recs) == 12 and summary.skipped == 4
    assert dict(summary.by_reason) == {"the teacher refused (\"I'm sorry\" ...)": 1, "no 'Question:' block in the teacher output": 1,
                                       "empty answer": 1, "the teacher refused ('As an AI' ...)": 1}
    assert sorted(said) == sorted([f"skipped record nw_000002: the teacher refused (\"I'm sorry\" ...)",
                                   "skipped record nw_000005: no 'Question:' block in the teacher output",
                                   "skipped record nw_000007, turn 1: empty answer",
                                   "skipped record nw_000009, turn 1: the teacher refused ('As an AI' ...)"])
    assert t.usage.requests == 16 and t.usage.prompt_tokens == sum(prompt_words(b) for b in s.requests)
    assert t.usage.completion_tokens == sum(words(flaky_teacher(b)) for b in s.requests)


def test_concurrency_1_and_8_give_the_same_records(tmp_path):
    runs = {}
    for k in (1, 8):
        with StubOpenAI(reply=qa_reply, latency=0.02) as s:
            t = OpenAITeacher("m", base_url=s.url, retry=FAST)
            runs[k] = generate_dataset(SCENES, t, tmp_path / f"c{k}.json", mix={"conversation": 1, "complex": 1}, progress=False,
                                      concurrency=k)[0]
        assert s.max_in_flight == 1 if k == 1 else s.max_in_flight >= 4
    assert runs[1] == runs[8] and len(runs[1]) == len(SCENES)
    assert json.loads((tmp_path / "c1.json").read_text()) == json.loads((tmp_path / "c8.json").read_text())


def test_a_server_that_fails_for_good_stops_the_run_and_keeps_what_is_done(tmp_path):
    state = {"n": 0}

    def dies_after_5(body):
        state["n"] += 1
        return qa_reply(body) if state["n"] <= 5 else {"status": 500}

    out = tmp_path / "c.json"
    with StubOpenAI(reply=dies_after_5) as s:
        with pytest.raises(BackendError, match="gave up after 2 attempts"):
            generate_dataset(SCENES, OpenAITeacher("m", base_url=s.url, retry=RetryPolicy(1, 0.001)), out,
                             mix={"conversation": 1}, progress=False)
    kept = [json.loads(l) for l in out.with_suffix(".jsonl").read_text().splitlines()[1:]]
    assert len(kept) == 5 and not out.exists()


# ---- the HF backend on a tiny chat model saved to disk ----
@pytest.fixture(scope="module")
def tiny_chat_lm(tmp_path_factory):
    d = tmp_path_factory.mktemp("chat_lm")
    tok = tiny_bytelevel_tokenizer()
    tiny_causal_lm(tok, family="qwen2").save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_hf_backend_teacher_and_judge(tiny_chat_lm, tmp_path):
    b = HFBackend(tiny_chat_lm, temperature=0, max_tokens=6, device="cpu")
    r = b.chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What color is it?"}])
    prompt = b.tokenizer.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What color is it?"}],
                                             add_generation_prompt=True, tokenize=False)
    assert r.usage.prompt_tokens == len(b.tokenizer(prompt)["input_ids"]) and 1 <= r.usage.completion_tokens <= 6
    t = HFTeacher(tiny_chat_lm, temperature=0.7, max_tokens=6, device="cpu")
    recs, summary = generate_dataset(SCENES[:3], t, tmp_path / "hf.json", mix={"complex": 1}, on_error="skip", progress=False)
    assert summary.total == 3 and len(recs) + summary.skipped == 3 and t.usage.requests == 3  # gibberish: skipped, counted
    with pytest.raises(ValueError, match=r"hf:.*judging 'Q\?': judge reply must start with a line of two scores"):
        HFJudge(tiny_chat_lm, max_tokens=4, device="cpu").judge("ctx", "Q?", "ref", "ans")


# ---- the judge over HTTP ----
def test_openai_judge():
    with StubOpenAI(reply=lambda body: "9 4\nAssistant 2 gets the count wrong.") as s:
        j = OpenAIJudge("judge-model", base_url=s.url, retry=FAST)
        assert j.score("two dogs on grass", "How many dogs?", "Two.", "Three.") == (9.0, 4.0)
        full = j.judge("two dogs on grass", "How many dogs?", "Two.", "Three.")
    assert full.model.notes == ["Assistant 2 gets the count wrong."] and full.reference.accuracy == 9.0
    sent = s.requests[0]["messages"][1]["content"]
    for part in ("two dogs on grass", "[Question]\nHow many dogs?", "[Assistant 1]\nTwo.", "[Assistant 2]\nThree."):
        assert part in sent
    assert s.requests[0]["temperature"] == 0.2 and j.usage.requests == 2


# ---- COCO ----
def test_coco_context_and_normalisation():
    scenes, skipped = read_coco(CAPS, INST)
    s = scenes[0]
    assert (s["id"], s["image"], s["coco_id"]) == ("000000123456", "000000123456.jpg", 123456)
    assert s["context"].split("\n\n") == ["\n".join(s["captions"]),
                                          "dog: [0.1, 0.1, 0.6, 0.6]\nfrisbee: [0.47, 0.251, 0.532, 0.313]\n"
                                          "person: [0.75, 0.417, 0.906, 0.896]\nbench: [0.656, 0.625, 1.0, 0.875]"]
    assert len(s["captions"]) == 5 and coco_id(42) == "000000000042"
    assert normalise_bbox([0, 0, 427, 640], 427, 640) == [0.0, 0.0, 1.0, 1.0]
    assert skipped.skipped == 1 and skipped.examples["no captions"] == ["000000000077"]


def coco_args(out, kind="detail", teacher="openai", url=None, extra=()):
    return ["datagen", "--coco-captions", str(CAPS), "--coco-instances", str(INST), "--kind", kind, "--teacher", teacher,
            *(["--base-url", url, "--model", "teacher-m"] if url else []), "--out", str(out), "--no-progress", *extra]


@pytest.mark.parametrize("kind", ["conversation", "detail", "complex"])
def test_cli_coco_records_have_the_instruct_150k_shape(tmp_path, kind, capsys):
    reply = (lambda body: "A dog runs on the grass.") if kind == "detail" else qa_reply
    with StubOpenAI(reply=reply) as s:
        assert main(coco_args(tmp_path / "o.json", kind, url=s.url, extra=["--concurrency", "3", "--limit", "3"])) == 0
    recs = json.loads((tmp_path / "o.json").read_text())
    assert [r["id"] for r in recs] == ["000000123456", "000000000042", "000000000987"]
    assert [r["image"] for r in recs] == ["000000123456.jpg", "000000000042.jpg", "000000000987.jpg"]
    for r in recs:
        assert list(r) == ["id", "image", "conversations"]
        conv = r["conversations"]
        assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2)
        assert conv[0]["value"].startswith(f"{IMAGE_TOKEN}\n") and sum(IMAGE_TOKEN in t["value"] for t in conv) == 1
    assert validate_records(recs)[1].skipped == 0
    last = next(m for r in s.requests for m in r["messages"][-1:] if m["content"].startswith("A brown dog"))["content"]
    assert ("dog: [0.1, 0.1, 0.6, 0.6]" in last) == (kind != "conversation")
    assert "photograph" in s.requests[0]["messages"][0]["content"]  # COCO's prompts, not the small world's
    err = capsys.readouterr().err
    assert "kept 3 of 3 records" in err and "teacher openai:teacher-m: 3 requests (0 retries)" in err


def test_cli_errors(tmp_path, capsys):
    assert main(coco_args(tmp_path / "o.json", teacher="symbolic")) == 2
    assert "the symbolic teacher reads only small-world contexts" in capsys.readouterr().err
    assert main(["datagen", "--kind", "detail", "--out", str(tmp_path / "o.json")]) == 2
    assert "give either --coco-captions" in capsys.readouterr().err
    with StubOpenAI(reply=lambda body: {"status": 401, "message": "bad key"}) as s:
        assert main(coco_args(tmp_path / "o.json", url=s.url)) == 2
    err = capsys.readouterr().err
    assert "HTTP 401 (not retried)" in err and "bad key" in err and err.count("\n") == 2


def test_cli_counts_malformed_teacher_output(tmp_path, capsys):
    def reply(body):
        return "I'm sorry, I can't do that." if "bicycles" in body["messages"][-1]["content"] else qa_reply(body)

    with StubOpenAI(reply=reply) as s:
        assert main(coco_args(tmp_path / "o.json", "conversation", url=s.url)) == 0
    err = capsys.readouterr().err
    assert "skipped record 000000000042: the teacher refused" in err and "kept 3 of 4 records; skipped 1" in err
    assert len(json.loads((tmp_path / "o.json").read_text())) == 3 and (tmp_path / "o.jsonl").exists()


# ---- kill -9 in the middle of `llava-nb datagen`, then resume ----
def test_resume_after_kill_9(tmp_path):
    make_world(tmp_path / "world", 40, write_images=False)
    out, counter = tmp_path / "conv.json", {"n": 0}

    def numbered(body):  # every reply differs: a record asked for twice would change
        counter["n"] += 1
        return qa_reply(body) + f" (reply {counter['n']})"

    cli = [str(Path(sys.executable).parent / "llava-nb")]
    with StubOpenAI(reply=numbered, latency=0.05) as s:
        args = ["datagen", "--world", str(tmp_path / "world"), "--kind", "conversation", "--teacher", "openai",
                "--base-url", s.url, "--model", "m", "--out", str(out), "--concurrency", "4", "--no-progress"]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        p = subprocess.Popen(cli + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        log = out.with_suffix(".jsonl")
        deadline = time.time() + 60
        while time.time() < deadline and (not log.exists() or log.read_text().count("\n") < 12):
            time.sleep(0.02)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        assert not out.exists(), "killed before the end"
        before = {}
        for line in log.read_text().splitlines()[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill
                continue
            before[rec["id"]] = rec
        asked_first = len(s.requests)
        assert 11 <= len(before) < 40
        assert main(args) == 0  # the rerun, in this process (the same command; saves a second start-up)
    recs = json.loads(out.read_text())
    ids = [x["id"] for x in recs]
    assert ids == [f"nw_{i:06d}" for i in range(40)] and len(set(ids)) == 40  # all there, no duplicates
    assert all(x == before[x["id"]] for x in recs if x["id"] in before)  # no finished answer lost or asked again
    assert len(s.requests) - asked_first == 40 - len(before)  # the rerun asked only for the rest
    assert not out.with_suffix(".jsonl").exists()
