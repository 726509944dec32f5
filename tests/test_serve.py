"""`llava-nb serve` over real HTTP on 127.0.0.1: the command started as users start it, talked to with the `openai`
client and raw `http.client`; answers equal the library's greedy generation and `llava-nb ask`; every bad request gets
OpenAI's error shape and leaves the server healthy; Ctrl-C stops it cleanly."""
import base64
import http.client
import io
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import openai
import pytest
from conftest import tiny_checkpoint
from matplotlib import cbook

from llava_nb.data.records import load_image
from llava_nb.model.hf import export_hf, load_model
from llava_nb.model.llava import LlavaModel
from llava_nb.chat.serve import LlavaServer, ServedModel

CLI = str(Path(sys.executable).parent / "llava-nb")
IMG = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # a real (non-square) JPEG photograph
Q = "Who is this?"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def model(ckpt):
    return LlavaModel.from_pretrained(ckpt)


@pytest.fixture(scope="module")
def ask(ckpt):
    "`llava-nb ask` about IMG, started early: it loads while the server does."
    args = [CLI, "ask", "--checkpoint", str(ckpt), "--image", str(IMG), "--max-new-tokens", "8", Q]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def server(ckpt, ask, tmp_path_factory):
    "`llava-nb serve` on a free port (it prints which); stopped with SIGINT (Ctrl-C) at the end, which must be clean."
    log = tmp_path_factory.mktemp("serve_log") / "stderr.txt"
    with open(log, "w") as err:
        args = ["serve", "--checkpoint", ckpt, "--port", "0", "--model-name", "tiny", "--max-tokens", "8"]
        proc = subprocess.Popen([CLI, *map(str, args), "--max-body-mb", "1"], stdout=subprocess.PIPE, stderr=err, text=True)
        line = proc.stdout.readline()  # the start line, once the socket listens
        m = re.fullmatch(r"serving model=(\S+) url=(http://127\.0\.0\.1:(\d+)/v1)\n", line)
        assert m, f"start line {line!r}; stderr: {log.read_text()}"
        yield {"model": m[1], "url": m[2], "port": int(m[3]), "proc": proc, "log": log}
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=90)  # generous: CI machines are shared
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the server dumps every thread's stack to its stderr
            time.sleep(2)
            proc.kill()
            pytest.fail(f"the server did not stop on SIGINT within 90 s; its stderr:\n{log.read_text()[-6000:]}")
        assert code == 0, log.read_text()
        assert "stopped" in log.read_text() and "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server["url"], api_key="none", max_retries=0, timeout=60)


def user(text: str, *urls: str) -> dict:
    "A user message: images (as `image_url` parts) then the text, as the openai client sends them."
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": u}} for u in urls] + [{"type": "text", "text": text}]}


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    "(status, parsed JSON or text, response headers) of one request on a fresh connection."
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=60)
    conn.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    try:
        return r.status, json.loads(text), dict(r.getheaders())
    except json.JSONDecodeError:
        return r.status, text, dict(r.getheaders())


def greedy(model, question=Q, image=IMG, history=(), n=8) -> str:
    return model.answer(str(image) if image else None, question, history=list(history), max_new_tokens=n)


# -- answers


def test_models_lists_the_served_id(client, server):
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny").owned_by == "llava_nb"
    status, body, _ = raw(server, "GET", "/v1/models/other")
    assert status == 404 and "'tiny'" in body["error"]["message"]


def test_greedy_answer_is_the_librarys_and_asks(client, model, ask):
    r = client.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))], max_tokens=8)
    text = r.choices[0].message.content
    assert text and text == greedy(model)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length")
    prompt = len(model.processor(Q, str(IMG))["input_ids"][0])  # image tokens included
    assert (r.usage.prompt_tokens, r.usage.total_tokens) == (prompt, prompt + r.usage.completion_tokens)
    assert 1 <= r.usage.completion_tokens <= 8
    out, err = ask.communicate(timeout=120)
    assert ask.returncode == 0 and out.strip().splitlines()[-1] == text.strip().splitlines()[-1], err


def test_default_length_is_the_servers_max_tokens(client, model):
    r = client.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))])  # no max_tokens: --max-tokens 8
    assert r.choices[0].message.content == greedy(model, n=8)


def test_stream_joins_to_the_same_answer(client, model):
    kw = dict(model="tiny", messages=[user(Q, str(IMG))], max_tokens=8)
    whole = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    with_choices = [c for c in chunks if c.choices]
    assert [c.choices[0].finish_reason for c in with_choices][-1] == whole.choices[0].finish_reason
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert len(with_choices) >= 3  # role, at least one piece, the finish reason


def test_image_as_data_urls_and_file_urls(client, model):
    path_answer = greedy(model)
    png = io.BytesIO()
    load_image(IMG).save(png, format="PNG")  # the same pixels, another encoding
    for url in (data_url(Path(IMG).read_bytes(), "image/jpeg"), data_url(png.getvalue(), "image/png"), Path(IMG).as_uri()):
        r = client.chat.completions.create(model="tiny", messages=[user(Q, url)], max_tokens=8)
        assert r.choices[0].message.content == path_answer, url[:40]


def test_stop_strings_and_max_tokens(client, model):
    base = client.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))], max_tokens=12)
    text = base.choices[0].message.content
    words = text.split()
    assert len(words) >= 3 and base.usage.completion_tokens > 2, text  # the random model says enough to cut
    stop = words[1]
    for stream in (False, True):
        r = client.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))], max_tokens=12, stop=[stop, "never"],
                                           stream=stream)
        if stream:
            got = "".join(c.choices[0].delta.content or "" for c in r if c.choices)
        else:
            got, reason = r.choices[0].message.content, r.choices[0].finish_reason
            assert reason == "stop"
        assert got == text[: text.find(stop)], (stop, text)
    r = client.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))], max_tokens=2)
    assert (r.choices[0].finish_reason, r.usage.completion_tokens) == ("length", 2)
    assert text.startswith(r.choices[0].message.content.rstrip("\ufffd"))


def test_sampling_with_a_seed_repeats(client):
    kw = dict(model="tiny", messages=[user(Q, str(IMG))], max_tokens=8, temperature=1.5, top_p=0.95)
    a, b = (client.chat.completions.create(**kw, seed=3).choices[0].message.content for _ in range(2))
    assert a == b
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**kw, seed=3, stream=True)
                       if c.choices)
    assert streamed == a


def test_multi_turn_and_system_prompt(client, model):
    first = greedy(model)
    msgs = [user(Q, str(IMG)), {"role": "assistant", "content": first}, user("And then?")]
    r = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8)
    assert r.choices[0].message.content == greedy(model, "And then?", history=[(Q, first)])
    system = "You are terse."
    r = client.chat.completions.create(model="tiny", messages=[{"role": "system", "content": system}, user(Q, str(IMG))],
                                       max_tokens=8)
    proc = replace(model.processor, template=replace(model.template, system=system))
    assert system in proc.prompt(proc.conversation(Q, image=True))
    inputs = proc(Q, load_image(IMG))
    out = model.generate(inputs["input_ids"], pixel_values=inputs["pixel_values"], stop=proc.stop_strings(), max_new_tokens=8)
    assert r.usage.prompt_tokens == len(inputs["input_ids"][0]) != len(model.processor(Q, str(IMG))["input_ids"][0])
    assert r.choices[0].message.content == out.texts[0]


def test_text_only_question(client, model):
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hello?"}], max_tokens=8)
    assert r.choices[0].message.content == greedy(model, "Hello?", image=None)


# -- errors: OpenAI's shape, and the server stays up

NOT_AN_IMAGE = data_url(b"this is not an image at all", "image/png")
BAD = {
    "unknown model": (dict(model="gpt-4o"), openai.NotFoundError, "model_not_found", "this server serves 'tiny'"),
    "http url": (dict(messages=[user(Q, "https://example.com/cat.jpg")]), openai.BadRequestError, "image_url_not_supported",
                 "does not fetch"),
    "two images": (dict(messages=[user(Q, str(IMG), str(IMG))]), openai.BadRequestError, "too_many_images", "has 2"),
    "undecodable": (dict(messages=[user(Q, NOT_AN_IMAGE)]), openai.BadRequestError, "invalid_image", "not an image"),
    "bad base64": (dict(messages=[user(Q, "data:image/png;base64,%%%")]), openai.BadRequestError, "invalid_image", "base64"),
    "missing file": (dict(messages=[user(Q, "/no/such/image.png")]), openai.BadRequestError, "invalid_image", "missing"),
    "too long": (dict(messages=[user("word " * 600, str(IMG))]), openai.BadRequestError, "context_length_exceeded",
                 "the model's context is 512"),
    "too long, streamed": (dict(messages=[user("word " * 600)], stream=True), openai.BadRequestError,
                           "context_length_exceeded", "context"),
    "n=2": (dict(n=2), openai.BadRequestError, "unsupported_value", "n=2"),
    "tools": (dict(tools=[{"type": "function", "function": {"name": "f"}}]), openai.BadRequestError, "unsupported", "'tools'"),
    "temperature": (dict(temperature=9), openai.BadRequestError, "invalid_value", "'temperature'"),
    "ends with assistant": (dict(messages=[user(Q), {"role": "assistant", "content": "x"}]), openai.BadRequestError, None,
                            "last message must be a user message"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_openai_errors(client, case):
    change, error, code, says = BAD[case]
    kw = {"model": "tiny", "messages": [user(Q, str(IMG))], "max_tokens": 4, **change}
    with pytest.raises(error) as e:
        r = client.chat.completions.create(**kw)
        list(r) if kw.get("stream") else None
    assert e.value.code == code and says in e.value.body["message"], e.value.body
    assert set(e.value.body) == {"message", "type", "param", "code"} and e.value.body["type"] == "invalid_request_error"


def test_wire_errors(server):
    msgs = json.dumps({"model": "tiny", "messages": [user(Q)]}).encode()
    cases = [
        ("POST", "/v1/chat/completions", b'{"model": "tiny", "messages": [', 400, "not valid JSON"),
        ("POST", "/v1/chat/completions", b"[1, 2]", 400, "must be a JSON object"),
        ("POST", "/v1/chat/completions", b'{"model": "tiny"}', 400, "missing required parameter 'messages'"),
        ("POST", "/v1/chat/completions", b" " * (1 << 20) + msgs, 413, "at most 1,048,576"),
        ("GET", "/v1/chat/completions", None, 405, "use POST"),
        ("POST", "/v1/models", msgs, 405, "use GET"),
        ("DELETE", "/v1/models", None, 405, "use GET"),
        ("GET", "/v2/anything", None, 404, "no route /v2/anything"),
    ]
    for method, path, body, status, says in cases:
        got, answer, headers = raw(server, method, path, body)
        assert got == status and says in answer["error"]["message"], (method, path, answer)
        assert set(answer["error"]) == {"message", "type", "param", "code"}
        if status == 405:
            assert headers["Allow"] in ("GET", "POST")
    with socket.create_connection(("127.0.0.1", server["port"]), timeout=30) as s:  # a chunked upload: no length
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 411")


def test_server_survives_and_serialises(client, server, model):
    conn = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=30)  # a client that leaves mid-stream
    conn.request("POST", "/v1/chat/completions", json.dumps({"model": "tiny", "messages": [user(Q, str(IMG))],
                                                              "max_tokens": 200, "stream": True}))
    r = conn.getresponse()
    assert r.status == 200 and r.readline().startswith(b"data: ")
    r.close()  # the stream's socket: the server's next write fails, generation ends there
    conn.close()
    answers, expected = [], greedy(model)

    def one():
        answers.append(client.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))], max_tokens=8))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a.choices[0].message.content for a in answers] == [expected] * 4  # one model, taking turns
    assert raw(server, "GET", "/health")[:2] == (200, {"status": "ok", "model": "tiny"})
    assert server["proc"].poll() is None


def test_llava_hf_directory_in_process_without_local_files(model, tmp_path):
    hf = load_model(export_hf(model, tmp_path / "hf"))  # transformers' layout, loaded back as `llava-nb serve` does
    srv = LlavaServer(ServedModel(hf, "tiny", allow_files=False), "127.0.0.1", 0, quiet=True).start()
    try:
        c = openai.OpenAI(base_url=srv.url, api_key="none", max_retries=0)
        with pytest.raises(openai.BadRequestError, match="--no-local-images"):
            c.chat.completions.create(model="tiny", messages=[user(Q, str(IMG))])
        url = data_url(Path(IMG).read_bytes(), "image/jpeg")
        r = c.chat.completions.create(model="tiny", messages=[user(Q, url)], max_tokens=8)
        assert r.choices[0].message.content == greedy(model)
    finally:
        srv.stop()
