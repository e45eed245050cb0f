"""The vllm backend (offline `vllm.LLM`, in-process) against the independent plain-transformers
reference (`reference.py`) and the HF backend.

One engine (`vllm_smol`, conftest) serves the whole session; tests that need other engine
settings record what would reach `vllm.LLM` instead of starting one (tensor/pipeline parallelism
cannot run on CPU: the 135M model's 9 heads do not split, and PP crashes), and the lifecycle
tests (close, Ctrl-C) run a second engine in a subprocess with vLLM's multiprocess engine, where
there are child processes to leave behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require_vllm
from helpers import BBQ_DIR
from pytest_misalign.backends import GenerationRequest, LoglikelihoodRequest, ModelConfig, ModelLoadError
from reference import ref_loglikelihood

TOL = 1e-3  # vLLM's kernels (paged attention, fused ops) vs eager transformers, float32
CAPITAL = "Question: What is the capital city of France?\nAnswer:"


def bbq_requests(n_items: int = 40) -> tuple[list[LoglikelihoodRequest], list[int]]:
    """Three requests (one per answer) for `n_items` BBQ Age rows spread over the file, and the
    row labels."""
    path = BBQ_DIR / "Age.jsonl"
    if not path.is_file():
        pytest.skip("../shared/bbq/Age.jsonl is absent (only the project's own checkout has it)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    picked = rows[:: max(1, len(rows) // n_items)][:n_items]
    requests = [LoglikelihoodRequest(f"{r['context']}\n\nQ: {r['question']}\nA:", " " + r[f"ans{k}"])
                for r in picked for k in range(3)]
    return requests, [int(r["label"]) for r in picked]


# --------------------------------------------------------------------------- log-likelihood
def test_bbq_loglikelihoods_match_the_reference(vllm_smol, smol_reference):
    model, tokenizer = smol_reference
    requests, _ = bbq_requests()
    done: list[int] = []
    start = time.perf_counter()
    results = vllm_smol.loglikelihood(requests, progress=done.append)
    elapsed = time.perf_counter() - start
    assert sum(done) == len(requests) == 120
    worst = 0.0
    for i in range(0, len(requests), 3):
        refs = [ref_loglikelihood(model, tokenizer, r.context, r.continuation, vllm_smol.max_length)
                for r in requests[i:i + 3]]
        got = results[i:i + 3]
        for res, (logprob, greedy, n) in zip(got, refs):
            worst = max(worst, abs(res.logprob - logprob))
            assert res.n_tokens == n and res.is_greedy == greedy
        assert abs(worst) < TOL, (requests[i], [r.logprob for r in got], [r[0] for r in refs])
        pred = max(range(3), key=lambda k: got[k].logprob)
        assert pred == max(range(3), key=lambda k: refs[k][0])
    print(f"\nvllm BBQ: 120 requests in {elapsed:.1f} s, max |delta logprob| vs reference {worst:.2e}")


def test_duplicates_empty_continuations_order_and_progress(vllm_smol, smol_reference):
    model, tokenizer = smol_reference
    requests = [
        LoglikelihoodRequest(CAPITAL, " Paris"),
        LoglikelihoodRequest(CAPITAL, " Lyon"),
        LoglikelihoodRequest(CAPITAL, ""),  # empty continuation: 0.0, no engine work
        LoglikelihoodRequest(CAPITAL, " Paris"),  # duplicate
        LoglikelihoodRequest(CAPITAL + " ", "Paris"),  # trailing space moves onto the answer
        LoglikelihoodRequest("", "Paris is the capital of France."),  # empty context -> BOS
        LoglikelihoodRequest("The opposite of hot is", " cold"),
    ]
    before = dict(vllm_smol.stats)
    done: list[int] = []
    results = vllm_smol.loglikelihood(requests, progress=done.append)
    assert sum(done) == len(requests)
    for req, res in zip(requests, results):
        logprob, greedy, n = ref_loglikelihood(model, tokenizer, req.context, req.continuation,
                                               vllm_smol.max_length)
        assert res.n_tokens == n and res.is_greedy == greedy, req
        assert res.logprob == pytest.approx(logprob, abs=TOL), req
    assert results[2].logprob == 0.0 and results[2].is_greedy and results[2].n_tokens == 0
    assert results[3] == results[0] and results[4].logprob == pytest.approx(results[0].logprob, abs=1e-5)
    stats = vllm_smol.stats
    assert stats["strategy"] == "prompt_logprobs"
    assert stats["requests"] - before["requests"] == len(requests)
    assert stats["scored"] - before["scored"] == 4  # 7 requests: one empty, two equal after tokenizing
    assert stats["forward_calls"] - before["forward_calls"] == 1
    assert stats["tokens_forwarded"] > before["tokens_forwarded"]
    # reversed order: the same numbers, in the new order
    back = vllm_smol.loglikelihood(requests[::-1])
    assert [r.logprob for r in back] == pytest.approx([r.logprob for r in results[::-1]], abs=1e-5)
    assert vllm_smol.loglikelihood([]) == []


def test_small_engine_calls_advance_progress(vllm_smol, monkeypatch):
    from pytest_misalign.backends import vllm as vllm_backend

    requests = [LoglikelihoodRequest(f"Item {i}: the colour of the sky is", " blue") for i in range(7)]
    whole = vllm_smol.loglikelihood(requests)
    monkeypatch.setattr(vllm_backend, "CHUNK_REQUESTS", 3)
    calls = vllm_smol.stats["forward_calls"]
    done: list[int] = []
    chunked = vllm_smol.loglikelihood(requests, progress=done.append)
    assert done == [3, 3, 1] and vllm_smol.stats["forward_calls"] - calls == 3
    assert [r.logprob for r in chunked] == pytest.approx([r.logprob for r in whole], abs=1e-5)


# --------------------------------------------------------------------------- generation
def test_generation_equals_hf_greedy(vllm_smol, hf_smol):
    requests = [
        GenerationRequest("The capital of France is", max_tokens=12),
        GenerationRequest("The opposite of hot is", max_tokens=8),
        GenerationRequest(CAPITAL, max_tokens=8),  # the model answers EOS at once -> ""
        GenerationRequest("The capital of France is", max_tokens=12, stop=("Paris",)),
        GenerationRequest("List three colours:", max_tokens=20, stop=("\n", ",")),
        GenerationRequest("What is the capital city of France? Answer with the city name only.",
                          max_tokens=16, chat=True),
        GenerationRequest("Write one sentence about the sea.", max_tokens=24, stop=(".",), chat=True),
        GenerationRequest("The capital of France is", max_tokens=0),
        GenerationRequest("The capital of France is", max_tokens=12),  # duplicate
    ]
    done: list[int] = []
    got = vllm_smol.generate(requests, progress=done.append)
    want = hf_smol.generate(requests)
    assert got == want
    assert sum(done) == len(requests)
    assert "Paris" in got[0] and "Paris" not in got[3] and got[7] == ""
    assert "Paris" in got[5]  # asked in its own chat format, the instruct model answers


def test_chat_prompt_is_the_tokenizer_template(vllm_smol, hf_smol):
    assert vllm_smol.chat_prompt("hi") == hf_smol.chat_prompt("hi")
    assert vllm_smol.chat_prompt("hi").endswith("<|im_start|>assistant\n")


# --------------------------------------------------------------------------- info
def test_info_matches_hf(vllm_smol, hf_smol):
    import vllm

    info = vllm_smol.info
    assert info.backend == "vllm" and info.engine == f"vllm {vllm.__version__}"
    assert info.fingerprint == hf_smol.info.fingerprint and info.fingerprint
    assert info.tokenizer_fingerprint == hf_smol.info.tokenizer_fingerprint
    assert info.device == "cpu" and info.dtype == "float32"
    assert info.max_length == vllm_smol.max_length == info.extra["max_model_len"] - 1 == 8191
    extra = info.extra
    assert extra["tensor_parallel_size"] == extra["pipeline_parallel_size"] == 1
    assert extra["data_parallel_size"] == 1 and extra["distributed_executor_backend"]
    assert extra["enforce_eager"] is True and extra["enable_prefix_caching"] is True
    assert extra["model_args"] == {}
    assert extra["env"] == {"VLLM_CPU_KVCACHE_SPACE": os.environ["VLLM_CPU_KVCACHE_SPACE"],
                            "VLLM_ENABLE_V1_MULTIPROCESSING": os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"]}
    json.dumps(extra)  # recorded in results files
    assert vllm_smol.prefix_token_id == vllm_smol.tokenizer.bos_token_id


# --------------------------------------------------------------------------- model args
class _Recorded(Exception):
    pass


@pytest.fixture
def record_llm(monkeypatch, vllm_smol):
    """Replace `vllm.LLM` with a recorder that keeps its keywords and starts nothing."""
    import vllm

    seen: list[dict] = []

    class Recorder:
        def __init__(self, **kwargs):
            seen.append(kwargs)
            raise _Recorded("recorded")

    monkeypatch.setattr(vllm, "LLM", Recorder)
    return seen


def _load(smollm2_dir, **kwargs):
    from pytest_misalign.backends.vllm import VLLMBackend

    return VLLMBackend(ModelConfig(model=str(smollm2_dir), backend="vllm", **kwargs))


def test_model_args_reach_vllm_llm_unchanged(record_llm, smollm2_dir, vllm_smol):
    args = {"tensor_parallel_size": 4, "pipeline_parallel_size": 2, "distributed_executor_backend": "ray",
            "gpu_memory_utilization": 0.85, "max_model_len": 4096, "enforce_eager": False,
            "enable_prefix_caching": False, "seed": 7, "kv_cache_dtype": "auto"}
    with pytest.raises(ModelLoadError, match="recorded"):
        _load(smollm2_dir, model_args=args)
    (kwargs,) = record_llm
    assert {k: kwargs[k] for k in args} == args
    assert kwargs["model"] == kwargs["tokenizer"] == str(smollm2_dir.resolve())
    assert kwargs["dtype"] == "float32" and kwargs["trust_remote_code"] is False
    record_llm.clear()
    with pytest.raises(ModelLoadError):
        _load(smollm2_dir, dtype="bfloat16", trust_remote_code=True)
    (kwargs,) = record_llm
    assert kwargs["dtype"] == "bfloat16" and kwargs["trust_remote_code"] is True
    assert kwargs["enforce_eager"] is True and kwargs["enable_prefix_caching"] is True and kwargs["seed"] == 0
    assert vllm_smol.loglikelihood([LoglikelihoodRequest(CAPITAL, " Paris")])[0].n_tokens == 1


def test_registry_loads_the_vllm_backend(record_llm, smollm2_dir):
    from pytest_misalign.backends import load_backend

    with pytest.raises(ModelLoadError, match="recorded"):
        load_backend(ModelConfig(model=str(smollm2_dir), backend="vllm", model_args={"max_model_len": 64}))
    assert record_llm[0]["max_model_len"] == 64


@pytest.mark.parametrize("args, names", [
    ({"tensor_paralel_size": 2}, ["'tensor_paralel_size'", "tensor_parallel_size"]),
    ({"gpu_mem": 0.5}, ["'gpu_mem'"]),
    ({"model": "other"}, ["'model'", "--misalign-model"]),
    ({"gpu_memory_utilization": 7.0}, ["gpu_memory_utilization=7.0", "less than or equal to 1"]),
    ({"max_model_len": -5}, ["max_model_len=-5"]),
])
def test_bad_model_args_are_clean_errors(vllm_smol, smollm2_dir, args, names):
    with pytest.raises(ModelLoadError) as info:
        _load(smollm2_dir, model_args=args)
    for name in names:
        assert name in str(info.value)
    assert "--misalign-model-args" in str(info.value) or "--misalign-model" in str(info.value)
    # the session's engine is untouched by the failed start
    assert vllm_smol.loglikelihood([LoglikelihoodRequest(CAPITAL, " Paris")])[0].n_tokens == 1


def test_broken_vllm_import_names_the_fix(monkeypatch):
    import types

    from pytest_misalign.backends.vllm_engine import TORCH_EXTRAS_FIX, import_vllm

    broken = types.ModuleType("vllm")

    def fail(name):
        raise RuntimeError("operator torchvision::nms does not exist")

    broken.__getattr__ = fail
    monkeypatch.setitem(sys.modules, "vllm", broken)
    with pytest.raises(ModelLoadError, match="torchvision::nms") as info:
        import_vllm()
    assert TORCH_EXTRAS_FIX in str(info.value)
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ModelLoadError, match="pip install"):
        import_vllm()


def test_cpu_env_defaults_never_override_the_user(monkeypatch):
    from pytest_misalign.backends.vllm_engine import set_env_defaults

    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "3")
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    assert set_env_defaults("cpu") == {"VLLM_CPU_KVCACHE_SPACE": "3", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING")
    assert set_env_defaults("cuda") == {} and "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ


# --------------------------------------------------------------------------- lifecycle
CHILD = """
import json, sys, time, psutil
from pytest_misalign.backends import LoglikelihoodRequest, ModelConfig
from pytest_misalign.backends.vllm import VLLMBackend


def engine_processes():
    alive = []  # live child processes: exited-but-unreaped zombies run nothing
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):  # stdlib helper, exits with us
                alive.append(p.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    return alive


def settled_engine_processes(seconds=20.0):
    deadline = time.monotonic() + seconds  # a worker may take a moment to exit after shutdown
    while (alive := engine_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def load():
    return VLLMBackend(ModelConfig(model=sys.argv[1], dtype="float32", backend="vllm",
                                   model_args={"max_model_len": 128}))


def failed_load():
    describe = VLLMBackend._describe

    def boom(self, version):  # fails after the engine has started
        raise RuntimeError("boom after the engine started")

    VLLMBackend._describe = boom
    try:
        load()
    except RuntimeError as exc:
        print(json.dumps({"failed": str(exc), "after_failed": settled_engine_processes()}), flush=True)
    finally:
        VLLMBackend._describe = describe


def close_scenario():
    requests = [LoglikelihoodRequest("The capital of France is", " Paris")]
    failed_load()
    backend = load()
    started = engine_processes()
    backend.loglikelihood(requests)
    backend.close()
    backend.close()  # idempotent
    print(json.dumps({"started": started, "after_close": settled_engine_processes()}), flush=True)
    try:
        backend.loglikelihood(requests)
    except RuntimeError as exc:
        print(json.dumps({"closed_error": str(exc)}), flush=True)


def ctrl_c_scenario():
    backend = load()  # then Ctrl-C while it scores
    print(json.dumps({"scoring": engine_processes(), "max_length": backend.max_length}), flush=True)
    requests = [LoglikelihoodRequest("word " * 100, " end"), LoglikelihoodRequest("The capital of France is", " Paris")]
    while True:
        backend.loglikelihood(requests)


def main():
    import faulthandler, signal
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks if we hang
    {"close": close_scenario, "ctrl-c": ctrl_c_scenario}[sys.argv[2]]()


if __name__ == "__main__":
    main()
"""


def _wait_or_show_stacks(proc, log: Path) -> None:
    """Wait for a child to stop; if it does not, fail with every thread's stack (faulthandler on
    SIGUSR1) and the end of its stderr, so that a hang says where it hangs."""
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(3)
        pytest.fail(f"the child did not stop within {STOP_WAIT_S} s; its threads and stderr:\n"
                    + log.read_text(errors="replace")[-12000:], pytrace=False)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_tree(proc) -> None:
    """Never leave an engine behind when the test itself fails."""
    import psutil

    if proc.poll() is None:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
    proc.wait()


def _events(proc, until: str | None = None) -> dict:
    events: dict = {}
    for line in proc.stdout:
        if line.startswith("{"):
            events.update(json.loads(line))
        if until in events:
            break
    return events


# How long a child may take to stop: a liveness bound, not a speed claim. 120 s was exceeded once on
# the 2-core machine with `-n 2` (the other worker scoring lm-eval in float64, two vLLM servers up);
# alone the whole test takes ~85 s.
STOP_WAIT_S = 300


def test_close_and_ctrl_c_leave_no_engine_processes(smollm2_dir, tmp_path):
    """vLLM's multiprocess engine (the GPU default) runs its engine core and worker in child
    processes: a load that fails after the engine started, close(), and Ctrl-C while scoring
    must each stop them. Two children, run side by side: close, and Ctrl-C."""
    require_vllm()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    logs = {mode: tmp_path / f"{mode}.stderr" for mode in ("close", "ctrl-c")}
    procs = {mode: subprocess.Popen([sys.executable, str(script), str(smollm2_dir), mode], stdout=subprocess.PIPE,
                                    stderr=logs[mode].open("w"), env=env, text=True)
             for mode in ("close", "ctrl-c")}
    try:
        scoring = _events(procs["ctrl-c"], until="scoring")
        assert "scoring" in scoring, scoring
        time.sleep(2)  # inside llm.generate
        procs["ctrl-c"].send_signal(signal.SIGINT)
        _wait_or_show_stacks(procs["ctrl-c"], logs["ctrl-c"])
        closing = _events(procs["close"])
        _wait_or_show_stacks(procs["close"], logs["close"])
    finally:
        for proc in procs.values():
            _kill_tree(proc)
    assert "boom" in closing["failed"] and closing["after_failed"] == []
    assert closing["started"], "the multiprocess engine started no child process"
    assert closing["after_close"] == []
    assert "closed" in closing["closed_error"]
    assert scoring["scoring"] and scoring["max_length"] == 127
    assert procs["ctrl-c"].returncode != 0  # KeyboardInterrupt
    time.sleep(1)
    assert [pid for pid in closing["started"] + scoring["scoring"] if _alive(pid)] == []
