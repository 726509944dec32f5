"""Issue #26, bad input to `llava-nb eval`, the terminal chat and the server's sockets: nothing to evaluate is an
error naming the file or option; a chat turn too long for the context is refused and the conversation goes on; a
client that leaves mid-body is one log line, nothing parsed, nothing sent."""
import argparse
import io
import json
import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import tiny_checkpoint

from llava_nb.chat.session import ChatSession
from llava_nb.chat.terminal import add_chat_parser
from llava_nb.cli import main
from llava_nb.eval.cli import run_llava_bench, run_scienceqa
from llava_nb.chat.serve import LlavaServer, ServedModel

DATA = Path(__file__).resolve().parents[1] / "data"
BENCH, SQA = DATA / "llava_bench_fixture", DATA / "scienceqa_fixture"
TOO_LONG = "red " * 3000  # ~6,000 tokens: far past the tiny model's 512-token context


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("safe"))


# --- eval: nothing to evaluate ------------------------------------------------------------------------------------

def bench_args(ckpt, q, out, *extra):
    return ["eval", "llava-bench", "--checkpoint", str(ckpt), "--questions", str(q), "--context",
            str(BENCH / "context.jsonl"), "--answers", str(BENCH / "answers_gpt4.jsonl"), "--images",
            str(BENCH / "images"), "--out", str(out), "--max-new-tokens", "2", *extra]


def sqa_args(ckpt, splits, out, *extra):
    return ["eval", "scienceqa", "--checkpoint", str(ckpt), "--problems", str(SQA / "problems.json"), "--splits",
            str(splits), "--images", str(SQA / "images"), "--out", str(out), "--max-new-tokens", "2", *extra]


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_questions_file_is_an_error_naming_it(ckpt, tmp_path, capsys, text):
    q = tmp_path / "questions.jsonl"
    q.write_text(text)
    assert main(bench_args(ckpt, q, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert f"file {q}: no questions: nothing to evaluate" in err and "accuracy" not in err
    assert "loaded" not in err  # refused before the model loads
    assert not (tmp_path / "out" / "report.json").exists()


def test_split_without_problems_is_an_error_naming_it(ckpt, tmp_path, capsys):
    splits = tmp_path / "pid_splits.json"
    splits.write_text(json.dumps({"test": [], "val": ["3"]}))
    assert main(sqa_args(ckpt, splits, tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert f"file {splits}: split 'test' lists no problems: nothing to evaluate" in err and "loaded" not in err
    assert not (tmp_path / "out" / "report.json").exists()


@pytest.mark.parametrize("option", ["--limit", "--batch-size", "--max-new-tokens"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_counts_must_be_positive(ckpt, tmp_path, capsys, option, value):
    for args in (bench_args(ckpt, BENCH / "questions.jsonl", tmp_path / "b"), sqa_args(ckpt, SQA / "pid_splits.json",
                                                                                       tmp_path / "s")):
        with pytest.raises(SystemExit) as e:
            main([*args, option, value])
        assert e.value.code == 2
        err = capsys.readouterr().err
        rule = "an integer from 1 to" if option == "--max-new-tokens" else "an integer >= 1,"  # the generation range
        assert f"argument {option}: must be {rule}" in err and value in err, err
        assert not (tmp_path / "b").exists() and not (tmp_path / "s").exists()


def test_library_runs_refuse_no_items(tmp_path):
    with pytest.raises(ValueError, match="nothing to evaluate: no questions"):
        run_scienceqa(None, [], SQA / "images", tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="nothing to evaluate: no questions"):
        run_llava_bench(None, [], BENCH / "images", tmp_path / "b", progress=False)
    assert not (tmp_path / "s" / "report.json").exists() and not (tmp_path / "b" / "report.json").exists()


# --- chat: a turn too long for the context --------------------------------------------------------------------------

def test_terminal_chat_survives_a_line_longer_than_the_context(ckpt):
    p = argparse.ArgumentParser(prog="llava-nb")
    add_chat_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["chat", "--checkpoint", str(ckpt), "--max-new-tokens", "4", "--device", "cpu"])
    out, err = io.StringIO(), io.StringIO()
    script = f"What is it?\n{TOO_LONG}\n/regen\nAnd now?\n/quit\n"
    chat = args.func(args, stdin=io.StringIO(script), stdout=out, stderr=err)
    assert [t.question for t in chat.turns] == ["What is it?", "And now?"]  # the conversation went on
    log = err.getvalue()
    assert "error: the prompt is" in log and "the model's context is 512" in log
    assert "the conversation so far is kept (/new starts a new one)" in log
    assert log.count("tokens ·") + log.count("token ·") >= 3  # the first turn, the /regen and the last turn answered


def test_session_history_survives_a_too_long_turn(ckpt):
    chat = ChatSession.from_pretrained(ckpt, max_new_tokens=4)
    first = chat.ask("What is it?")
    with pytest.raises(ValueError, match="the model's context is 512"):
        chat.ask(TOO_LONG)
    with pytest.raises(ValueError, match="the model's context is 512"):
        list(chat.stream(TOO_LONG))
    assert chat.turns == [first] and not chat.generating
    nxt = chat.ask("And now?")
    assert chat.turns == [first, nxt] and "What is it?" in chat.prompt("?")


def test_regenerate_that_fails_keeps_the_last_answer(ckpt):
    chat = ChatSession.from_pretrained(ckpt, max_new_tokens=4)
    chat.ask("What is it?")
    before = list(chat.turns)
    with pytest.raises(TypeError, match="unknown generation settings"):
        chat.regenerate(temprature=0.5)
    assert chat.turns == before  # the old answer is still there
    model = chat.model
    context = model.llm.config.max_position_embeddings
    model.llm.config.max_position_embeddings = 8  # the same conversation no longer fits
    try:
        with pytest.raises(ValueError, match="the model's context is 8"):
            chat.regenerate()
    finally:
        model.llm.config.max_position_embeddings = context
    assert chat.turns == before


def test_widget_keeps_the_conversation_after_a_too_long_turn(ckpt):
    from llava_nb.chat.widget import ChatUI

    ui = ChatUI(ChatSession.from_pretrained(ckpt, max_new_tokens=4))
    assert ui.send("What is it?") and ui.wait()
    before = list(ui.session.turns)
    assert ui.send(TOO_LONG) and ui.wait()
    assert "the model&#x27;s context is 512" in ui.error.value and ui.session.turns == before
    assert ui.text.value == TOO_LONG.strip() and "Not asked" in ui.error.value  # given back to edit, not lost
    assert ui.send("And now?") and ui.wait()
    assert [t.question for t in ui.session.turns] == ["What is it?", "And now?"]


# --- serve: a client that leaves in the middle of its body ----------------------------------------------------------

class _Server(LlavaServer):
    "A server that says when a connection's handler has finished (its log lines, any traceback, all written)."

    def __init__(self, *a, **kw):
        self.handled = threading.Event()
        super().__init__(*a, **kw)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.handled.set()


@pytest.fixture
def server():
    "A server on a stand-in model (no request reaches it) that records every body it parses."
    served = ServedModel(SimpleNamespace(processor=SimpleNamespace(image_processor=None)), "stub")
    parsed = []
    served.request = parsed.append
    srv = _Server(served, "127.0.0.1", 0, max_body=1000).start()
    yield srv, parsed
    srv.stop()


def _send_partial(srv, length: int, body: bytes, half_close: bool) -> bytes:
    "Send a POST announcing `length` bytes of body but only `body`, then close (or half-close and read the reply)."
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", srv.server_port), timeout=30) as s:
        s.sendall(head + body)
        if not half_close:
            return b""
        s.shutdown(socket.SHUT_WR)
        return s.recv(1000)


@pytest.mark.parametrize("length", [5000, 900], ids=["over max_body (drained)", "under max_body"])
def test_client_leaving_mid_body_is_one_log_line(server, capsys, length):
    srv, parsed = server
    _send_partial(srv, length, b'{"a": 1}', half_close=False)
    assert srv.handled.wait(30)
    time.sleep(0.1)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"client went away: the body ended after 8 of {length:,} bytes" in lines[0]
    assert "POST /v1/chat/completions" in lines[0]
    assert parsed == []  # the partial body was not parsed


@pytest.mark.parametrize("length", [5000, 900], ids=["over max_body (drained)", "under max_body"])
def test_no_response_to_a_cut_body(server, length):
    srv, parsed = server
    assert _send_partial(srv, length, b'{"a": 1}', half_close=True) == b""  # no response written
    assert srv.handled.wait(30) and parsed == []


# --- eval --out and pretrain-backbones --out: only into folders llava_nb wrote -------------------------------------

def test_eval_out_is_never_a_folder_of_someone_elses_files(ckpt, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.json").write_text("my own report")
    assert main(sqa_args(ckpt, SQA / "pid_splits.json", mine, "--limit", "2")) == 2
    err = capsys.readouterr().err
    assert f"{mine} is not an empty directory and llava_nb did not write it" in err and "loaded" not in err
    assert (mine / "report.json").read_text() == "my own report"
    out = tmp_path / "ours"
    assert main(sqa_args(ckpt, SQA / "pid_splits.json", out, "--limit", "2")) == 0
    assert main(sqa_args(ckpt, SQA / "pid_splits.json", out, "--limit", "2")) == 0  # a rerun resumes into it


def test_pretrain_backbones_out_is_never_a_folder_of_someone_elses_files(tmp_path):
    from llava_nb.smallworld.backbones import pretrain_backbones

    (tmp_path / "vision").mkdir()
    (tmp_path / "vision" / "config.json").write_text("{}")  # a user's own model folder
    with pytest.raises(FileExistsError, match="llava_nb did not write it"):
        pretrain_backbones(tmp_path, vision_steps=1, llm_steps=1)
    assert (tmp_path / "vision" / "config.json").read_text() == "{}"
