"""The openai backend: pure payload/parse functions, the HTTP client against a fault-injecting stub
(tests/fault_stub.py), the backend against the stub, and the backend against a real vLLM
OpenAI-compatible server compared with plain transformers (tests/reference.py) and the HF backend."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from fault_stub import Stub
from pytest_misalign.backends.base import GenerationRequest, LoglikelihoodRequest, ModelConfig
from pytest_misalign.backends.errors import ModelLoadError
from pytest_misalign.backends.openai import OpenAIBackend, ResponseError, ServerError
from pytest_misalign.backends.openai import payload
from pytest_misalign.backends.openai.client import Client, display_url

URL = "http://127.0.0.1:1/v1/completions"


# ================================================================================ pure payload / parse
def test_loglikelihood_payload_is_a_greedy_echo_of_token_ids():
    body = payload.loglikelihood_payload("m", [[1, 2, 3], (4, 5)], token_ids=True)
    assert body == {"model": "m", "prompt": [[1, 2, 3], [4, 5]], "max_tokens": 1, "temperature": 0, "n": 1,
                    "echo": True, "logprobs": 1, "return_tokens_as_token_ids": True}
    assert "return_tokens_as_token_ids" not in payload.loglikelihood_payload("m", [[1]], token_ids=False)


def test_generation_payloads():
    body = payload.completion_payload("m", ["hi"], max_tokens=5, stop=["\n"])
    assert body == {"model": "m", "prompt": ["hi"], "max_tokens": 5, "temperature": 0, "n": 1, "stop": ["\n"]}
    chat = payload.chat_payload("m", "hello", max_tokens=3)
    assert chat["messages"] == [{"role": "user", "content": "hello"}] and chat["temperature"] == 0
    assert "stop" not in chat
    assert payload.tokenize_chat_payload("m", "x")["add_generation_prompt"] is True


ECHO = json.loads("""{"choices": [{"index": 0, "text": "abc!", "logprobs": {
  "tokens": ["token_id:10", "token_id:11", "token_id:12", "token_id:99"],
  "token_logprobs": [null, -1.5, -0.25, -2.0],
  "top_logprobs": [null, {"token_id:11": -1.5, "token_id:7": -0.5}, {"token_id:12": -0.25}, {"token_id:99": -2.0}]}}]}""")


def test_parse_loglikelihood_sums_the_continuation_and_checks_top1_by_id():
    choice = payload.choices(ECHO, URL, 1)[0]
    assert payload.parse_loglikelihood(choice, n_prompt=3, n_cont=1, url=URL) == (-0.25, True)
    assert payload.parse_loglikelihood(choice, n_prompt=3, n_cont=2, url=URL) == (-1.75, False)
    assert payload.prompt_logprobs(choice, URL) == [-1.5, -0.25, -2.0]


def test_parse_loglikelihood_with_token_strings():
    choice = {"logprobs": {"tokens": ["A", " b"], "token_logprobs": [None, -0.7],
                           "top_logprobs": [None, {" b": -0.7, " c": -0.9}]}}
    assert payload.parse_loglikelihood(choice, 2, 1, URL) == (-0.7, True)


def test_parse_errors_name_the_url_and_what_is_missing():
    with pytest.raises(ResponseError, match=r"127\.0\.0\.1:1/v1/completions: server returned no prompt "
                                            r"logprobs: it does not support echo\+logprobs"):
        payload.parse_loglikelihood({"text": "x", "logprobs": None}, 3, 1, URL)
    with pytest.raises(ResponseError, match="expected 2 choices, got 1"):
        payload.choices(ECHO, URL, 2)
    short = {"logprobs": {"tokens": ["a"], "token_logprobs": [None], "top_logprobs": [None]}}
    with pytest.raises(ResponseError, match="logprobs for 3 echoed prompt tokens, got 1"):
        payload.parse_loglikelihood(short, 3, 1, URL)
    no_top = {"logprobs": {"tokens": ["a", "b"], "token_logprobs": [None, -1.0], "top_logprobs": [None, None]}}
    with pytest.raises(ResponseError, match="no top_logprobs at prompt position 1"):
        payload.parse_loglikelihood(no_top, 2, 1, URL)
    with pytest.raises(ResponseError, match="/tokenize response has no `tokens`"):
        payload.tokens({"count": 3}, URL)


def test_parse_choices_order_generations_models_version():
    resp = {"choices": [{"index": 1, "text": "b"}, {"index": 0, "text": "a"}]}
    assert [payload.completion_text(c, URL) for c in payload.choices(resp, URL, 2)] == ["a", "b"]
    chat = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    assert payload.chat_text(payload.choices(chat, URL, 1)[0], URL) == "hi"
    models = {"data": [{"id": "a", "max_model_len": 4096}, {"id": "b"}]}
    assert [m["id"] for m in payload.models(models, URL)] == ["a", "b"]
    assert payload.max_model_len(payload.models(models, URL)[0]) == 4096
    assert payload.max_model_len({"id": "b"}) is None
    with pytest.raises(ResponseError, match="lists no models"):
        payload.models({"data": []}, URL)
    assert payload.version({"version": "0.32.0"}) == "vllm 0.32.0" and payload.version({}) is None


def test_display_url_drops_credentials():
    assert display_url("https://user:s3cret@example.com:8443/v1?key=abc#x") == "https://example.com:8443/v1"


# ================================================================================ client vs fault stub
@pytest.fixture
def stub():
    with Stub() as s:
        yield s


def quick_client(stub: Stub, **kw) -> Client:
    kw = {"timeout": 1.0, "max_retries": 4, "backoff_base": 0.05, "backoff_cap": 0.2, **kw}
    return Client(stub.url, **kw)


def recorded_sleeps(monkeypatch) -> list[float]:
    """The client's backoff waits, recorded instead of slept (no clock in the assertions)."""
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    return sleeps


@pytest.mark.parametrize("fault", ["500", "drop", "malformed", "slow"])
def test_client_retries_transient_faults_until_they_clear(stub, fault, monkeypatch):
    stub.slow_s = 1.5
    stub.faults["/v1/models"] = [fault, fault]
    client = quick_client(stub)
    sleeps = recorded_sleeps(monkeypatch) if fault != "slow" else []  # the stub's own sleep must run
    assert client.request("GET", "models")["data"][0]["id"] == "stub-model"
    assert len(stub.calls("/v1/models")) == 3 and client.retries == 2 and client.http_calls == 3
    assert all(0 <= s <= 0.2 for s in sleeps)  # short backoffs: within backoff_cap


def test_client_honours_retry_after_on_429(stub):
    stub.faults["/v1/models"] = ["429"]
    client = quick_client(stub)
    client.request("GET", "models")
    first, second = stub.calls("/v1/models")
    assert second["t"] - first["t"] >= 0.95  # Retry-After: 1, not the 0.05 s backoff


def test_client_backoff_grows_with_full_jitter(stub, monkeypatch):
    delays = []
    monkeypatch.setattr(time, "sleep", delays.append)
    stub.faults["/v1/models"] = ["500"] * 4
    quick_client(stub, backoff_base=1.0, backoff_cap=100.0).request("GET", "models")
    assert len(delays) == 4
    for attempt, delay in enumerate(delays):
        assert 0 <= delay <= 2 ** attempt  # uniform(0, base * 2**attempt)


def test_client_gives_up_with_url_and_last_status(stub, caplog, monkeypatch):
    stub.faults["/v1/models"] = ["500"] * 50
    client = quick_client(stub, max_retries=3)
    sleeps = recorded_sleeps(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="pytest_misalign.openai"):
        with pytest.raises(ServerError) as err:
            client.request("GET", "models")
    assert len(sleeps) == 3 and all(0 <= s <= 0.2 for s in sleeps)  # three short waits, then it gave up
    text = str(err.value)
    assert text.startswith(f"{stub.url}/models: gave up after 4 attempts; last error: HTTP 500")
    assert err.value.status == 500 and len(stub.calls("/v1/models")) == 4
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 3


def test_client_does_not_retry_other_4xx_nor_refused_connections(stub, monkeypatch):
    stub.faults["/v1/models"] = ["404"]
    with pytest.raises(ServerError, match="HTTP 404") as err:
        quick_client(stub).request("GET", "models")
    assert err.value.status == 404 and len(stub.calls("/v1/models")) == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = recorded_sleeps(monkeypatch)
    with pytest.raises(ServerError, match=rf"127\.0\.0\.1:{port}/v1/models: connection failed"):
        Client(f"http://127.0.0.1:{port}/v1", max_retries=5).request("GET", "models")
    assert sleeps == []  # a refused connection is not retried


def test_client_map_bounds_concurrency_and_yields_as_done(stub):
    stub.slow_s = 0.3
    stub.faults["/v1/models"] = ["slow"] * 6
    client = quick_client(stub, max_concurrency=3, timeout=5)
    got = list(client.map([lambda: client.request("GET", "models") for _ in range(6)]))
    assert sorted(i for i, _ in got) == list(range(6))
    assert stub.max_in_flight == 3  # bounded at max_concurrency, and reached: two waves of three
    client.close()


# ================================================================================ backend vs stub
def stub_backend(stub: Stub, **args) -> OpenAIBackend:
    args = {"timeout": 2, "max_retries": 3, **args}
    return OpenAIBackend(ModelConfig(model=stub.url, model_args=args))


def test_backend_on_stub_scores_generates_and_describes_itself(stub):
    stub.faults["/v1/completions"] = ["429", "500", "malformed"]
    stub.retry_after = "0"
    backend = stub_backend(stub, batch_size=2)
    info = backend.info
    assert info.backend == "openai" and info.engine == "vllm 0.0-stub" and info.max_length == 510
    assert info.extra["served_model"] == "stub-model" and info.extra["prefix_token_id"] == ord("^")
    reqs = [LoglikelihoodRequest("abc", "de"), LoglikelihoodRequest("ab", "cZ"), LoglikelihoodRequest("", "x"),
            LoglikelihoodRequest("abc", "de")]
    seen = []
    out = backend.loglikelihood(reqs, progress=seen.append)
    assert [(r.logprob, r.is_greedy, r.n_tokens) for r in out] == [
        (-1.0, True, 2), (-3.5, False, 2), (-0.5, True, 1), (-1.0, True, 2)]
    assert sum(seen) == 4 and len(seen) == 2  # two HTTP batches of <= 2 distinct pairs
    gen = backend.generate([GenerationRequest("hello", max_tokens=4), GenerationRequest("hi", chat=True),
                            GenerationRequest("x", max_tokens=0)])
    assert gen == ["gen:5", "chat:hi", ""]
    assert backend.chat_prompt("q") == "<user>q<bot>"
    stats = backend.stats
    assert stats["retries"] == 3 and stats["forward_calls"] == 4  # the faults met the load probe; and stats["http_calls"] > 10
    backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        backend.generate([GenerationRequest("x")])


def test_api_key_is_sent_but_never_shown(stub, monkeypatch, caplog):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("MY_KEY", secret)
    stub.error_body = "auth header was {Authorization}"  # a careless server echoing the header
    url = stub.url.replace("http://", "http://alice:pw-SECRET-2@")
    with caplog.at_level(logging.DEBUG):
        backend = OpenAIBackend(ModelConfig(model=url, model_args={"api_key_env": "MY_KEY", "timeout": 2,
                                                                   "max_retries": 1}))
        assert all(r["headers"].get("Authorization") == f"Bearer {secret}" for r in stub.log)
        stub.faults["/v1/completions"] = ["500"] * 5
        stub.retry_after = "0"
        with pytest.raises(ServerError) as err:
            backend.generate([GenerationRequest("hello")])
    shown = [str(err.value), repr(backend.info), json.dumps(backend.info.extra), caplog.text]
    assert "HTTP 500" in str(err.value) and "***" in str(err.value)
    for text in shown:
        assert secret not in text and "pw-SECRET-2" not in text
    assert backend.info.source == stub.url


def test_missing_api_key_variable_is_a_clear_error(stub, monkeypatch):
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(ModelLoadError, match="api_key_env='NOPE_KEY' names an environment variable that is not set"):
        stub_backend(stub, api_key_env="NOPE_KEY")


def test_chat_only_server_generates_but_refuses_loglikelihood(stub):
    stub.echo = False
    backend = stub_backend(stub)
    assert backend.info.extra["prompt_logprobs"] is False and backend.info.fingerprint
    assert backend.generate([GenerationRequest("hey", chat=True)]) == ["chat:hey"]
    with pytest.raises(ModelLoadError, match="log-likelihood tasks cannot run on .*no prompt logprobs"):
        backend.loglikelihood([LoglikelihoodRequest("a", "b")])


def test_server_without_tokenize_generates_string_prompts(stub):
    stub.tokenize = False
    backend = stub_backend(stub)
    assert backend.generate([GenerationRequest("hello")]) == ["gen:5"]  # "hello" sent as a string
    assert backend.info.tokenizer_fingerprint is None
    with pytest.raises(ModelLoadError, match="cannot tokenize|no /tokenize"):
        backend.loglikelihood([LoglikelihoodRequest("a", "b")])


def test_model_choice_and_argument_errors(stub):
    stub.models = ["m1", "m2"]
    with pytest.raises(ModelLoadError, match="serves several models: m1, m2") as err:
        stub_backend(stub)
    assert "model=NAME" in str(err.value)
    assert stub_backend(stub, model="m2").served == "m2"
    with pytest.raises(ModelLoadError, match="does not serve 'm3'; it serves: m1, m2"):
        stub_backend(stub, model="m3")
    with pytest.raises(ModelLoadError, match="does not take 'max_concurency'.*did you mean 'max_concurrency'"):
        stub_backend(stub, model="m1", max_concurency=2)
    with pytest.raises(ModelLoadError, match="batch_size=0 is not a positive int"):
        stub_backend(stub, model="m1", batch_size=0)


def test_server_down_bad_url_and_wrong_path_are_clean_errors(stub):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(ModelLoadError, match=r"connection failed.*\n  fix: start the server") as err:
        OpenAIBackend(ModelConfig(model=closed))
    assert closed in str(err.value)
    for bad in ("http://:8000/v1", "http://127.0.0.1:99999/v1", "ftp://host/v1"):
        with pytest.raises(ModelLoadError, match="is not a valid server URL"):
            OpenAIBackend(ModelConfig(model=bad))
    with pytest.raises(ModelLoadError, match="ending in /v1"):
        OpenAIBackend(ModelConfig(model=stub.url[:-3] + "/nope"))


# ================================================================================ real vLLM server
@pytest.fixture(scope="module")
def served(vllm_server):
    backend = OpenAIBackend(ModelConfig(model=vllm_server))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def bbq_requests():
    from helpers import BBQ_DIR

    path = BBQ_DIR / "Age.jsonl"
    if not path.is_file():
        pytest.skip("../shared/bbq is absent (only the project's own checkout has it)")
    rows = [json.loads(line) for line in path.read_text().splitlines()[::37][:30]]
    return [[LoglikelihoodRequest(f"{r['context']}\n\nQ: {r['question']}\nA:", " " + r[f"ans{k}"])
             for k in range(3)] for r in rows]


def test_vllm_loglikelihoods_match_plain_transformers(served, bbq_requests, smollm2_dir, one_torch_thread):
    import torch
    from reference import ref_loglikelihood
    from transformers import AutoModelForCausalLM, AutoTokenizer

    flat = [req for item in bbq_requests for req in item]
    t0 = time.monotonic()
    got = served.loglikelihood(flat)
    took = time.monotonic() - t0
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    t1 = time.monotonic()
    ref = [ref_loglikelihood(model, tokenizer, r.context, r.continuation, served.max_length) for r in flat]
    ref_took = time.monotonic() - t1
    diffs = [abs(g.logprob - lp) for g, (lp, _, _) in zip(got, ref)]
    assert [g.n_tokens for g in got] == [n for _, _, n in ref]
    assert max(diffs) < 1e-3, max(diffs)
    for i in range(0, len(flat), 3):
        assert max(range(3), key=lambda k: got[i + k].logprob) == max(range(3), key=lambda k: ref[i + k][0])
    greedy_agree = sum(g.is_greedy == r[1] for g, r in zip(got, ref))
    print(f"\n{len(flat)} BBQ requests via vLLM in {took:.1f} s (reference {ref_took:.1f} s); "
          f"max |diff| {max(diffs):.2e}; "
          f"is_greedy agrees {greedy_agree}/{len(flat)}")
    assert greedy_agree >= len(flat) - 1  # a near-tie may flip between engines


def test_vllm_generation_matches_hf_backend(served, smollm2_dir):
    from pytest_misalign.backends.hf import HFBackend

    reqs = [GenerationRequest("The capital of France is", max_tokens=12),
            GenerationRequest("def fibonacci(n):", max_tokens=16, stop=("\n\n",)),
            GenerationRequest("What is 2+2? Answer briefly.", max_tokens=16, chat=True),
            GenerationRequest("Name a colour.", max_tokens=10, chat=True)]
    got = served.generate(reqs)
    with HFBackend(ModelConfig(model=str(smollm2_dir), dtype="float32", device="cpu")) as hf:
        want = hf.generate(reqs)
    assert got == want


def test_vllm_info_chat_prompt_and_fingerprint(served, vllm_server, smollm2_dir):
    info = served.info
    assert info.engine.startswith("vllm ") and info.max_length == 2046 and info.source == vllm_server
    assert info.extra["served_model"] == str(smollm2_dir) and info.extra["tokenization"] == "server"
    again = OpenAIBackend(ModelConfig(model=vllm_server, model_args={"tokenizer": str(smollm2_dir)}))
    try:
        assert again.info.fingerprint == info.fingerprint  # behavioural: same weights, same probe scores
        assert again.chat_prompt("hi") == served.chat_prompt("hi")  # local template == server's
        assert again.prefix_token_id is not None
        pair = [LoglikelihoodRequest("Hello", " world")]
        assert again.loglikelihood(pair)[0].logprob == pytest.approx(served.loglikelihood(pair)[0].logprob, abs=1e-4)
    finally:
        again.close()
    with pytest.raises(ModelLoadError, match="BOS"):  # server-only: SmolLM2's BOS is never added
        served.loglikelihood([LoglikelihoodRequest("", "Hello")])


def test_vllm_refuses_a_mismatching_local_tokenizer(vllm_server, tiny_model_dir):
    with pytest.raises(ModelLoadError, match="tokenize a probe text differently"):
        OpenAIBackend(ModelConfig(model=vllm_server, model_args={"tokenizer": str(tiny_model_dir)}))


def test_vllm_wrong_model_name_is_a_clean_error(vllm_server):
    with pytest.raises(ModelLoadError, match="does not serve 'nope'; it serves: "):
        OpenAIBackend(ModelConfig(model=vllm_server, model_args={"model": "nope"}))
