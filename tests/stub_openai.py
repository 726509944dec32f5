"""A scriptable OpenAI-compatible chat server on 127.0.0.1 for tests and benchmarks (stdlib only).

    with StubOpenAI(reply=lambda body: "Question: Q\\nAnswer: A", script=[{"status": 429, "retry_after": 0.01}]) as s:
        OpenAIBackend("stub", base_url=s.url).chat(messages)

Every request to `POST /v1/chat/completions` takes the next action of `script` (first in, first out); when the script
is used up it takes `reply(body)`, where `body` is the request's JSON. An action is either the reply's text (a str) or
a dict:

- `{"text": "..."}`: a normal reply (also `{"text": ..., "usage": False}`: a reply without a `usage` block)
- `{"status": 429, "retry_after": 0.05}`, `{"status": 500}`, `{"status": 400, "message": "..."}`: an error reply
  (`retry_after` becomes the `Retry-After` header)
- `{"sleep": 1.0}`: wait that long first, then answer with `reply(body)` (a client with a shorter timeout gives up)
- `{"raw": "{not json"}`: this body, sent as `application/json`
- any of the above with `"sleep": seconds` added

`latency` seconds are slept before every answer (a realistic server). Token counts in `usage` are whitespace-separated
words: prompt = words of all message contents, completion = words of the reply. The server records every request
body (`requests`), the `Authorization` headers (`keys`) and the most requests it had in flight at once (`max_in_flight`).
`GET /v1/models` lists `model`.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def words(text) -> int:
    "The stub's token count: whitespace-separated words."
    return len(str(text).split())


def prompt_words(body: dict) -> int:
    "The stub's prompt token count of a request body."
    return sum(words(m.get("content") or "") for m in body.get("messages", []))


class StubOpenAI:
    def __init__(self, reply=None, script=(), latency: float = 0.0, model: str = "stub-model"):
        self.reply = reply or (lambda body: "Question: What is this?\nAnswer: A stub reply.")
        self.script = list(script)
        self.latency, self.model = latency, model
        self.requests, self.keys = [], []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self) -> str:
        "The base URL an OpenAI client takes (`.../v1`)."
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "StubOpenAI":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(404, b'{"error": {"message": "not found"}}')
                self._send(200, json.dumps({"object": "list", "data": [{"id": stub.model, "object": "model"}]}).encode())

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, b'{"error": {"message": "not found"}}')
                with stub._lock:
                    stub.requests.append(body)
                    stub.keys.append(self.headers.get("Authorization"))
                    action = stub.script.pop(0) if stub.script else None
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    self._answer(body, action)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to answer
                    pass
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

            def _answer(self, body: dict, action):
                if action is None:
                    action = stub.reply(body)
                if isinstance(action, str):
                    action = {"text": action}
                time.sleep(stub.latency + action.get("sleep", 0.0))
                if "status" in action:
                    err = {"error": {"message": action.get("message", f"stub error {action['status']}"), "type": "stub"}}
                    headers = {"Retry-After": str(action["retry_after"])} if "retry_after" in action else {}
                    return self._send(action["status"], json.dumps(err).encode(), headers)
                if "raw" in action:
                    return self._send(200, action["raw"].encode())
                text = action["text"] if "text" in action else stub.reply(body)
                reply = {
                    "id": f"chatcmpl-{len(stub.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", stub.model),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                }
                if action.get("usage", True):
                    p, c = prompt_words(body), words(text)
                    reply["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
                self._send(200, json.dumps(reply).encode())

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
