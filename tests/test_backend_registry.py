"""Choosing a backend (issue 9 §2): `--misalign-backend`, `--misalign-model-args`, the lazy registry,
clear errors for unknown names, missing packages and bad model args, and hook-provided backends."""

from __future__ import annotations

import pytest

from helpers import CAPITALS_SUITE, FAKE_CONFTEST
from pytest_misalign.backends import ModelConfig, ModelLoadError
from pytest_misalign.backends import registry
from pytest_misalign.backends.base import BackendBase, ModelInfo, as_backend
from pytest_misalign.backends.model_args import ModelArgsError, parse_model_args


# --------------------------------------------------------------------------- model args
@pytest.mark.parametrize("text, expected", [
    ("", {}),
    ("tensor_parallel_size=4,pipeline_parallel_size=2", {"tensor_parallel_size": 4, "pipeline_parallel_size": 2}),
    ("gpu_memory_utilization=0.85, enforce_eager=True ,x=false", {"gpu_memory_utilization": 0.85,
                                                                  "enforce_eager": True, "x": False}),
    ("distributed_executor_backend=ray,quantization=none", {"distributed_executor_backend": "ray", "quantization": None}),
    ("model='1',api_key_env=MY_KEY", {"model": "1", "api_key_env": "MY_KEY"}),
    ("max_model_len=8192,", {"max_model_len": 8192}),
    ("rope=1e-3", {"rope": 0.001}),
])
def test_model_args_are_typed(text, expected):
    got = parse_model_args(text)
    assert got == expected
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize("text, says", [
    ("tensor_parallel_size", "is not key=value"),
    ("=4", "is not key=value"),
    ("a=1,a=2", "given twice"),
    ("bad key=1", "is not key=value"),
])
def test_bad_model_args_say_what_is_wrong(text, says):
    with pytest.raises(ModelArgsError, match=says):
        parse_model_args(text)


# --------------------------------------------------------------------------- registry
@pytest.mark.parametrize("model, backend, expected", [
    ("smollm2-135m", "auto", "hf"),
    ("http://127.0.0.1:8000/v1", "auto", "openai"),
    ("https://example.invalid/v1", "AUTO", "openai"),
    ("/models/llama", "vllm", "vllm"),
    ("/models/llama", "hf", "hf"),
    ("http://127.0.0.1:8000/v1", "openai", "openai"),
])
def test_auto_picks_openai_for_urls_else_hf(model, backend, expected):
    assert registry.choose(ModelConfig(model=model, backend=backend)) == expected


def test_unknown_backend_and_url_with_an_in_process_backend_are_errors():
    with pytest.raises(ModelLoadError, match="unknown backend 'tgi'.*\n  fix: use one of auto, hf, vllm, openai"):
        registry.choose(ModelConfig(model="x", backend="tgi"))
    with pytest.raises(ModelLoadError, match="is a URL .* but the backend is 'vllm'"):
        registry.choose(ModelConfig(model="http://127.0.0.1:1/v1", backend="vllm"))


def test_missing_package_names_the_install_command(monkeypatch):
    provider = registry.PROVIDERS["vllm"]
    monkeypatch.setitem(registry.PROVIDERS, "vllm", registry.Provider(
        provider.name, provider.module, provider.factory, ("no_such_package_xyz",), provider.install, ""))
    with pytest.raises(ModelLoadError) as err:
        registry.check_available("vllm")
    assert "needs no_such_package_xyz" in str(err.value)
    assert "pytest-misalign[vllm]" in str(err.value) and "pip uninstall -y torchvision" in str(err.value)


def test_registry_imports_nothing_heavy_until_a_model_loads():
    import subprocess
    import sys

    code = ("import sys, pytest_misalign.plugin, pytest_misalign.backends.registry as r; "
            "r.choose(r.ModelConfig(model='x')); "
            "print(sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- hook-provided backends
class _Minimal:
    """A third-party backend with only the required members."""

    def __init__(self):
        self.info = ModelInfo(name="m", device="cpu", dtype="float32", backend="mine")

    def loglikelihood(self, requests, progress=None):
        return []

    def generate(self, requests, progress=None):
        return []


def test_as_backend_completes_a_minimal_backend_and_rejects_a_non_backend():
    done = as_backend(_Minimal())
    assert dict(done.stats) == {} and done.close() is None
    with pytest.raises(ModelLoadError, match="has no chat template"):
        done.chat_prompt("hi")
    with pytest.raises(ModelLoadError, match="lacks loglikelihood, generate, info"):
        as_backend(object(), "my hook")
    full = type("Full", (BackendBase, _Minimal), {})()
    assert as_backend(full) is full


@pytest.fixture
def session(fake_session):
    fake_session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    return fake_session


@pytest.mark.parametrize("args, says", [
    (["--misalign-backend=tgi"], "--misalign-backend: unknown backend 'tgi'"),
    (["--misalign-model-args=tensor_parallel_size"], "--misalign-model-args: 'tensor_parallel_size' is not key=value"),
    (["--misalign-backend=hf", "--misalign-model=http://127.0.0.1:9/v1"], "is a URL"),
])
def test_bad_backend_options_are_usage_errors(pytester, args, says):
    pytester.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = pytester.runpytest("--misalign-model=smollm2-135m", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert says in result.stderr.str()


def test_missing_vllm_is_a_usage_error_with_the_install_command(session, monkeypatch):
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    result = session.runpytest("--misalign-model=fake", "--misalign-backend=vllm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the vllm backend needs vllm, which is not installed" in result.stderr.str()
    assert "pip install" in result.stderr.str()


def test_hook_sees_backend_and_typed_model_args(session):
    session.makeconftest(FAKE_CONFTEST + """
import json
def pytest_misalign_make_backend(model_config, config):
    print("ARGS", model_config.backend, json.dumps(dict(model_config.model_args), sort_keys=True))
    return None
""")
    result = session.runpytest("--misalign-model=fake", "--misalign-backend=custom-engine",
                               "--misalign-model-args=tp=2,util=0.5,eager=true,name=x", "-s")
    result.stdout.fnmatch_lines(['*ARGS custom-engine {"eager": true, "name": "x", "tp": 2, "util": 0.5}'])
    # the hook declined and no built-in engine is called 'custom-engine': a broken setup, not a failed model
    result.stdout.fnmatch_lines(["*ERROR at setup*", "*unknown backend 'custom-engine'*"])
    assert result.ret == 78


def test_hf_model_args_unknown_key_names_it(tiny_model_dir):
    from pytest_misalign.backends.hf import HFBackend

    with pytest.raises(ModelLoadError, match="does not take 'prefix_shareing' .*did you mean 'prefix_sharing'"):
        HFBackend(ModelConfig(model=str(tiny_model_dir), model_args={"prefix_shareing": False}))


def test_hf_model_args_reach_the_engine(tiny_model_dir):
    from pytest_misalign.backends.hf import HFBackend

    backend = HFBackend(ModelConfig(model=str(tiny_model_dir), model_args={
        "prefix_sharing": False, "attn_implementation": "eager", "max_length": 64}))
    assert (backend.prefix_sharing, backend.attn_implementation, backend.info.max_length) == (False, "eager", 64)
    assert backend.info.extra["model_args"] == {"prefix_sharing": False, "attn_implementation": "eager",
                                                "max_length": 64}
    backend.close()


def test_a_server_that_is_down_is_a_clean_setup_error_naming_the_url(pytester):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pytester.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    result = pytester.runpytest(f"--misalign-model=http://user:secret@127.0.0.1:{port}/v1", "-p", "no:cacheprovider")
    assert result.ret == 78  # a broken setup (outcomes.EXIT_BROKEN_SETUP), not a failed model
    out = result.stdout.str()
    assert f"127.0.0.1:{port}" in out and "fix:" in out
    assert "Traceback" not in out and "secret" not in out
