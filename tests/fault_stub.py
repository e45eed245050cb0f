"""A fault-injecting OpenAI-compatible stub server (stdlib `http.server`, 127.0.0.1, free port).

It speaks just enough of vLLM's API for the openai backend: `/v1/models`, `/version`, `/tokenize`
(one token per character: id = code point), `/detokenize`, `/v1/completions` (echo + logprobs:
every prompt token scores -0.5 and is its own top-1, except id 90 'Z' which scores -3.0 with 'a'
as top-1; generation returns "gen:<n prompt tokens>") and `/v1/chat/completions` ("chat:<message>").

`stub.faults[path]` is a list of faults the next requests to `path` meet, in order:
"429" (with Retry-After: stub.retry_after), "500", "slow" (answers after stub.slow_s), "drop"
(closes the connection without an answer), "malformed" (200 with broken JSON), "404".
Every request is recorded (`stub.log`: path, headers, body, time)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_MODEL_LEN = 512


def _echo_choice(index: int, prompt: list[int], token_ids: bool) -> dict:
    def name(t: int) -> str:
        return f"token_id:{t}" if token_ids else chr(t)

    values, tops = [None], [None]
    for t in prompt[1:]:
        if t == ord("Z"):
            values.append(-3.0)
            tops.append({name(t): -3.0, name(ord("a")): -0.1})
        else:
            values.append(-0.5)
            tops.append({name(t): -0.5})
    gen = ord("!")
    return {"index": index, "text": "".join(map(chr, prompt)) + "!",
            "logprobs": {"tokens": [name(t) for t in prompt] + [name(gen)],
                         "token_logprobs": values + [-0.01], "top_logprobs": tops + [{name(gen): -0.01}],
                         "text_offset": list(range(len(prompt) + 1))},
            "finish_reason": "length"}


class Stub:
    def __init__(self, *, models=("stub-model",), echo: bool = True, tokenize: bool = True) -> None:
        self.models = list(models)
        self.echo = echo
        self.tokenize = tokenize
        self.faults: dict[str, list[str]] = {}
        self.log: list[dict] = []
        self.retry_after = "1"
        self.slow_s = 2.0
        self.error_body = ""  # extra text in 500 bodies (e.g. an echoed header)
        self.in_flight = 0  # requests being handled now, and the most at once (event counts, not clocks)
        self.max_in_flight = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                stub._handle(self, None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                stub._handle(self, json.loads(self.rfile.read(length) or b"null"))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Stub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path: str) -> list[dict]:
        return [r for r in self.log if r["path"] == path]

    # ------------------------------------------------------------------ dispatch
    def _handle(self, h: BaseHTTPRequestHandler, body) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._dispatch(h, body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _dispatch(self, h: BaseHTTPRequestHandler, body) -> None:
        path = h.path.split("?")[0]
        with self._lock:
            self.log.append({"path": path, "headers": dict(h.headers), "body": body, "t": time.monotonic()})
            queue = self.faults.get(path) or []
            fault = queue.pop(0) if queue else None
        if fault == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if fault == "slow":
            time.sleep(self.slow_s)
        if fault == "429":
            return self._send(h, 429, {"error": "rate limited"}, {"Retry-After": self.retry_after})
        if fault == "500":
            return self._send(h, 500, {"error": "boom " + self.error_body.format(**dict(h.headers))})
        if fault == "404":
            return self._send(h, 404, {"detail": "Not Found"})
        if fault == "malformed":
            return self._send_raw(h, 200, b'{"choices": [oops')
        status, answer = self._answer(path, body)
        self._send(h, status, answer)

    def _answer(self, path: str, body) -> tuple[int, dict]:
        if path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "vllm",
                                                     "max_model_len": MAX_MODEL_LEN} for m in self.models]}
        if path == "/version":
            return 200, {"version": "0.0-stub"}
        if path == "/tokenize" and self.tokenize:
            if "messages" in body:
                text = "<user>" + body["messages"][0]["content"] + "<bot>"
            else:
                text = ("^" if body.get("add_special_tokens") else "") + body["prompt"]
            ids = [ord(c) for c in text]
            return 200, {"tokens": ids, "count": len(ids), "max_model_len": MAX_MODEL_LEN}
        if path == "/detokenize" and self.tokenize:
            return 200, {"prompt": "".join(map(chr, body["tokens"]))}
        if path == "/v1/completions":
            if body.get("model") not in self.models:
                return 404, {"error": f"model {body.get('model')} does not exist"}
            return 200, self._completion(body)
        if path == "/v1/chat/completions":
            return 200, {"choices": [{"index": 0, "message": {"role": "assistant",
                                                               "content": "chat:" + body["messages"][0]["content"]}}]}
        return 404, {"detail": "Not Found"}

    def _completion(self, body) -> dict:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        if prompts and isinstance(prompts[0], int):
            prompts = [prompts]
        out = []
        for i, p in enumerate(prompts):
            ids = [ord(c) for c in p] if isinstance(p, str) else p
            if body.get("echo") and self.echo:
                out.append(_echo_choice(i, ids, bool(body.get("return_tokens_as_token_ids"))))
            else:
                out.append({"index": i, "text": f"gen:{len(ids)}", "logprobs": None, "finish_reason": "length"})
        return {"choices": out[::-1]}  # reversed: the client must order choices by `index`

    # ------------------------------------------------------------------ sending
    def _send(self, h, status: int, obj: dict, headers: dict | None = None) -> None:
        self._send_raw(h, status, json.dumps(obj).encode(), headers)

    def _send_raw(self, h, status: int, raw: bytes, headers: dict | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
