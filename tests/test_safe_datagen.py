"""Bad input to `llava-nb datagen` and to the teacher/judge backends (issue #26): outputs that would overwrite an input
or the run's own progress log, options out of range, servers that cannot be reached, teachers that write only garbage,
`--mix` strings that are not `KIND=WEIGHT`."""

import json
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from llava_nb.cli import main
from llava_nb.smallworld.teacher import SymbolicTeacher
from llava_nb.eval.metrics import OpenAIJudge
from llava_nb.smallworld.world import make_world, sample_scene
from llava_nb.datagen.teachers import BackendError, OpenAIBackend, RetryPolicy, generate_dataset

sys.path.insert(0, str(Path(__file__).parent))
from stub_openai import StubOpenAI  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "coco_fixture"
CAPS, INST = FIXTURE / "captions_fixture2017.json", FIXTURE / "instances_fixture2017.json"
MSGS = [{"role": "user", "content": "Say something."}]
QA = "Question: What is in the image?\nAnswer: Shapes."


@pytest.fixture
def world(tmp_path):
    make_world(tmp_path / "world", 4, write_images=False)
    return tmp_path / "world"


@pytest.fixture
def closed_url():
    "The base URL of a port nothing listens on: bound, then closed."
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"


def datagen(*args, teacher=None):
    "`llava-nb datagen` args: `teacher` is a base URL (the openai teacher there) or None (the symbolic teacher)."
    t = ["--teacher", "openai", "--base-url", teacher, "--model", "m"] if teacher else []
    return ["datagen", "--kind", "conversation", *t, "--no-progress", *map(str, args)]


# ---- 1. outputs that collide with the inputs or with the run's own files ----
def test_out_named_like_its_progress_log_is_refused(world, tmp_path, capsys):
    out = tmp_path / "conv.jsonl"  # the progress log is OUT with suffix .jsonl: the same file, deleted at the end
    assert main(datagen("--world", world, "--out", out)) == 2
    err = capsys.readouterr().err
    assert f"--out {out}" in err and "progress log" in err and "conv.json" in err
    assert not out.exists()


def test_out_over_the_world_it_reads_is_refused(world, capsys):
    before = (world / "scenes.json").read_bytes()
    assert main(datagen("--world", world, "--out", world / "scenes.json")) == 2
    err = capsys.readouterr().err
    assert f"--world {world / 'scenes.json'}" in err and "--out" in err
    assert (world / "scenes.json").read_bytes() == before


def test_out_through_a_symlink_or_a_dotted_path_is_resolved(world, tmp_path, capsys):
    before = (world / "scenes.json").read_bytes()
    (tmp_path / "link.json").symlink_to(world / "scenes.json")
    assert main(datagen("--world", world, "--out", tmp_path / "link.json")) == 2
    assert "--world" in capsys.readouterr().err
    assert main(datagen("--world", world / "scenes.json", "--out", f"{world}/../world/scenes.json")) == 2
    assert "--world" in capsys.readouterr().err
    assert (world / "scenes.json").read_bytes() == before


def test_progress_log_or_temp_file_over_an_input_is_refused(tmp_path, capsys):
    cb = tmp_path / "cb.jsonl"  # LLaVA's caps_boxes JSONL: `--out cb.json` would log its progress into it
    shutil.copy(FIXTURE / "caps_boxes_fixture.jsonl", cb)
    caps = tmp_path / "caps.tmp"  # `--out caps.json` would write its temporary file here, then move it away
    shutil.copy(CAPS, caps)
    url = "http://127.0.0.1:9/v1"  # never reached: refused before
    assert main(datagen("--coco-captions", cb, "--out", tmp_path / "cb.json", teacher=url)) == 2
    err = capsys.readouterr().err
    assert f"--coco-captions {cb}" in err and "progress log" in err
    assert (
        main(datagen("--coco-captions", caps, "--coco-instances", INST, "--out", tmp_path / "caps.json", teacher=url))
        == 2
    )
    err = capsys.readouterr().err
    assert f"--coco-captions {caps}" in err and "temporary file" in err
    inst = tmp_path / "inst.json"
    shutil.copy(INST, inst)
    assert main(datagen("--coco-captions", CAPS, "--coco-instances", inst, "--out", inst, teacher=url)) == 2
    assert f"--coco-instances {inst}" in capsys.readouterr().err
    assert cb.read_bytes() == (FIXTURE / "caps_boxes_fixture.jsonl").read_bytes()
    assert caps.read_bytes() == CAPS.read_bytes() and inst.read_bytes() == INST.read_bytes()
    assert not (tmp_path / "cb.json").exists() and not (tmp_path / "caps.json").exists()


def test_out_that_is_a_directory_is_refused(world, capsys):
    assert main(datagen("--world", world, "--out", world)) == 2
    assert f"--out {world} is a directory" in capsys.readouterr().err


def test_generate_dataset_refuses_the_same_collisions(tmp_path):
    scenes = [sample_scene(i, f"nw_{i:06d}") for i in range(2)]
    with pytest.raises(ValueError, match=r"x\.jsonl.*progress log"):
        generate_dataset(scenes, SymbolicTeacher(), tmp_path / "x.jsonl", progress=False)
    src = tmp_path / "scenes.json"
    src.write_text(json.dumps(scenes))
    with pytest.raises(ValueError, match=r"scenes\.json"):
        generate_dataset(scenes, SymbolicTeacher(), tmp_path / "scenes.json", progress=False, inputs={"scenes": src})
    assert json.loads(src.read_text()) == scenes


# ---- 2. options that must be positive (or not negative) ----
@pytest.mark.parametrize(
    "option, value",
    [("--limit", "-1"), ("--limit", "0"), ("--concurrency", "0"), ("--concurrency", "-2"), ("--retries", "-1"),
     ("--timeout", "0"), ("--timeout", "-5"), ("--timeout", "nan"), ("--max-tokens", "0"), ("--temperature", "-0.1")],
)  # fmt: skip
def test_out_of_range_options_are_refused_naming_the_option(world, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as e:
        main(datagen("--world", world, "--out", tmp_path / "o.json", option, value))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: " in err and repr(value) in err
    assert not (tmp_path / "o.json").exists()


def test_retry_policy_and_backend_check_their_numbers():
    with pytest.raises(ValueError, match="retries must be an integer >= 0, not -1"):
        RetryPolicy(retries=-1)
    with pytest.raises(ValueError, match="base_delay must be a finite number >= 0"):
        RetryPolicy(base_delay=-1.0)
    with pytest.raises(ValueError, match="timeout must be a finite number > 0, not 0"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", timeout=0)
    with pytest.raises(ValueError, match="max_tokens must be an integer >= 1, not 0"):
        OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", max_tokens=0)


# ---- 3. servers that cannot be reached, malformed URLs ----
def test_refused_connection_fails_at_once_naming_the_url(closed_url):
    b = OpenAIBackend("m", base_url=closed_url)  # the default policy: 5 retries
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=rf"cannot connect to {closed_url}.*refused.*not retried"):
        b.chat(MSGS)
    assert time.perf_counter() - t0 < 5 and b.usage.retries == 0


def test_judge_at_a_closed_port_fails_at_once_naming_the_url(closed_url):
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match=rf"cannot connect to {closed_url}"):
        OpenAIJudge("judge-m", base_url=closed_url).score("ctx", "Q?", "ref", "ans")
    assert time.perf_counter() - t0 < 5


def test_cli_datagen_at_a_closed_port_fails_at_once(world, tmp_path, closed_url, capsys):
    t0 = time.perf_counter()
    assert main(datagen("--world", world, "--out", tmp_path / "o.json", "--concurrency", "2", teacher=closed_url)) == 2
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err
    assert f"cannot connect to {closed_url}" in err and "Connection refused" in err
    assert not (tmp_path / "o.json").exists() and not (tmp_path / "o.jsonl").exists()  # nothing left behind


@pytest.mark.parametrize(
    "url", ["not-a-url", "localhost:8000/v1", "http://", "ftp://example.com/v1", "http://h:port/v1"]
)
def test_malformed_base_url_is_refused_up_front(world, tmp_path, capsys, url):
    with pytest.raises(ValueError, match=f"base URL {url!r}"):
        OpenAIBackend("m", base_url=url)
    t0 = time.perf_counter()
    assert main(datagen("--world", world, "--out", tmp_path / "o.json", teacher=url)) == 2
    assert time.perf_counter() - t0 < 5
    err = capsys.readouterr().err
    assert f"base URL {url!r}" in err and "http://localhost:8000/v1" in err


def test_recoverable_failures_are_still_retried_and_quickly(closed_url):
    "Guard: 429, 5xx and timeouts keep their retries (they can recover)."
    script = [{"status": 429, "retry_after": 0.01}, {"status": 503}, {"sleep": 1.0}]
    with StubOpenAI(script=script) as s:
        b = OpenAIBackend("m", base_url=s.url, timeout=0.3, retry=RetryPolicy(retries=3, base_delay=0.01))
        t0 = time.perf_counter()
        assert b.chat(MSGS).text.startswith("Question:")
        assert time.perf_counter() - t0 < 5 and b.usage.retries == 3


def test_giving_up_names_the_url():
    with StubOpenAI(reply=lambda body: {"status": 503}) as s:
        b = OpenAIBackend("m", base_url=s.url, retry=RetryPolicy(retries=1, base_delay=0.01))
        with pytest.raises(BackendError, match=rf"gave up after 2 attempts; last error: HTTP 503 from {s.url}"):
            b.chat(MSGS)
    with StubOpenAI(reply=lambda body: {"sleep": 1.0}) as s:
        b = OpenAIBackend("m", base_url=s.url, timeout=0.2, retry=RetryPolicy(retries=1, base_delay=0.01))
        with pytest.raises(BackendError, match=rf"last error: no reply from {s.url} within 0.2 s"):
            b.chat(MSGS)


# ---- 4. nothing to write ----
def test_a_teacher_that_writes_only_garbage_fails(world, tmp_path, capsys):
    out = tmp_path / "o.json"
    with StubOpenAI(reply=lambda body: "I'm sorry, I cannot see images.") as s:
        assert main(datagen("--world", world, "--out", out, teacher=s.url)) == 2
    err = capsys.readouterr().err
    assert "no records: the teacher's output was skipped for all 4" in err and "the teacher refused" in err
    assert not out.exists() and not out.with_suffix(".jsonl").exists()


def test_generate_dataset_writes_no_empty_dataset(tmp_path):
    class Garbage(SymbolicTeacher):
        def generate(self, context, kind, seed=None):
            return "I'm sorry, I cannot see images."

    out = tmp_path / "o.json"
    scenes = [sample_scene(i, f"nw_{i:06d}") for i in range(3)]
    recs, summary = generate_dataset(scenes, Garbage(), out, on_error="skip", progress=False)
    assert recs == [] and summary.skipped == 3 and not out.exists() and not out.with_suffix(".jsonl").exists()


def test_some_garbage_keeps_the_rest(world, tmp_path, capsys):
    out, n = tmp_path / "o.json", {"k": 0}

    def reply(body):
        n["k"] += 1
        return QA if n["k"] % 2 else "I'm sorry, no."

    with StubOpenAI(reply=reply) as s:
        assert main(datagen("--world", world, "--out", out, teacher=s.url)) == 0
    assert len(json.loads(out.read_text())) == 2 and "kept 2 of 4 records" in capsys.readouterr().err


def test_no_scenes_is_refused_naming_the_input(tmp_path, capsys):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "scenes.json").write_text("[]")
    assert main(datagen("--world", tmp_path / "w", "--out", tmp_path / "o.json")) == 2
    assert f"--world {tmp_path / 'w' / 'scenes.json'}: no scenes" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()
    with pytest.raises(ValueError, match="no scenes"):
        generate_dataset([], SymbolicTeacher(), tmp_path / "o.json", progress=False)


@pytest.mark.parametrize(
    "text, why",
    [("conversation=abc", "weight 'abc' of conversation is not a number"),
     ("conversation", "'conversation' has no '=WEIGHT'"), ("chat=1", "unknown instruction kind 'chat'"),
     ("conversation=-1", "mix['conversation'] must be a finite number >= 0, not -1.0"),
     ("conversation=inf", "mix['conversation'] must be a finite number >= 0, not inf"),
     ("conversation=0", "mix {'conversation': 0.0} has no positive weight"), ("", "mix {} has no positive weight"),
     ("conversation=1,conversation=2", "conversation twice")],
)  # fmt: skip
def test_parse_mix_names_the_option_and_the_form(text, why):
    from llava_nb.datagen.instruct import parse_mix

    with pytest.raises(ValueError) as e:
        parse_mix(text)
    assert str(e.value).startswith(f"--mix {text!r}: {why}") and "KIND=WEIGHT" in str(e.value)


def test_an_infinite_weight_is_refused_where_every_mix_is_checked():
    from llava_nb.datagen.instruct import plan_kinds

    with pytest.raises(ValueError, match=r"mix\['detail'\] must be a finite number >= 0, not inf"):
        plan_kinds(3, {"conversation": 1, "detail": float("inf")})


def test_parse_mix_reads_weights():
    from llava_nb.datagen.instruct import parse_mix

    assert parse_mix("conversation=4, detail=1,complex=0.5") == {"conversation": 4.0, "detail": 1.0, "complex": 0.5}
