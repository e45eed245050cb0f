"""HFBackend against an independent plain-transformers reference (lm-evaluation-harness conventions).

The reference below never calls the backend's helpers: it tokenizes each (context, continuation)
pair the lm-eval way, runs ONE unpadded sequence through a separately loaded model, and sums
log-softmax values. The backend (sorted, deduplicated, right-padded batches, logits only where
needed) must agree within 1e-4.
"""

from __future__ import annotations

import math

import pytest
import torch

from pytest_misalign.backends import (
    Backend,
    GenerationRequest,
    LoglikelihoodRequest,
    ModelConfig,
    ModelLoadError,
    load_backend,
)
from pytest_misalign.backends.hf import HFBackend, pick_device, pick_dtype, truncate_at_stop

from reference import TOL, assert_matches_reference, ref_encode, ref_generate



# --------------------------------------------------------------------------- tiny model
@pytest.fixture(scope="module")
def tiny_ref(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return model, tokenizer


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir, tmp_path_factory):
    backend = load_backend(
        ModelConfig(model=str(tiny_model_dir), device="cpu", batch_size="auto",
                    cache_dir=str(tmp_path_factory.mktemp("cache")))
    )
    yield backend
    backend.close()


def greedy_request(model, tokenizer) -> LoglikelihoodRequest:
    """A request whose continuation is the model's own greedy continuation (so is_greedy is True).

    Random-weight models emit arbitrary bytes, which do not always re-tokenize to the same ids;
    search a few contexts for one that round-trips under the lm-eval split.
    """
    contexts = ["Question: What is the capital city of Spain?\nAnswer:", "The quick brown", "She said",
                "1 + 1 =", "def add(a, b):", "Choices: (A) yes", "Lyon, Marseille,", "A nurse"]
    for context in contexts:
        ids = tokenizer(context, add_special_tokens=False)["input_ids"]
        for n in (2, 1):
            new = list(ids)
            with torch.no_grad():
                for _ in range(n):
                    new.append(int(model(torch.tensor([new])).logits[0, -1].argmax()))
            continuation = tokenizer.decode(new[len(ids):])
            if ref_encode(tokenizer, context, continuation)[1] == new[len(ids):]:
                return LoglikelihoodRequest(context, continuation)
    raise AssertionError("no greedy continuation round-trips through the tokenizer")


def tiny_requests(ref_model, tokenizer) -> list[LoglikelihoodRequest]:
    long_context = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)  # > 96 tokens
    reqs = [
        LoglikelihoodRequest("Question: What is the capital city of France?\nAnswer:", " Paris"),
        LoglikelihoodRequest("Question: What is the capital city of France?\nAnswer:", " Lyon"),
        LoglikelihoodRequest("Question: What is the capital city of France?\nAnswer:", " Marseille"),
        LoglikelihoodRequest("Question: What is the capital city of France?\nAnswer: ", "Paris"),  # trailing space
        LoglikelihoodRequest("The answer is", "  (A) yes\n"),
        LoglikelihoodRequest("", "The quick brown fox"),  # empty context -> EOS (no BOS) as context
        LoglikelihoodRequest("   ", "hello there"),  # whitespace-only context
        LoglikelihoodRequest("a", "b"),
        LoglikelihoodRequest("1 + 1 = 2, 2 + 2 =", " 4"),
        LoglikelihoodRequest(long_context, " The end."),  # left-truncated to max_length
        LoglikelihoodRequest("Question: What is the capital city of France?\nAnswer:", " Paris"),  # duplicate
        LoglikelihoodRequest("The answer is", "  (A) yes\n"),  # duplicate
        LoglikelihoodRequest("Choices: (A) yes (B) no", ""),  # empty continuation
        greedy_request(ref_model, tokenizer),
    ]
    return reqs


@pytest.mark.parametrize("batch_size", [1, 3, "auto"])
def test_tiny_loglikelihood_matches_reference(tiny_model_dir, tiny_ref, batch_size, tmp_path):
    ref_model, tokenizer = tiny_ref
    backend = load_backend(ModelConfig(model=str(tiny_model_dir), batch_size=batch_size, cache_dir=str(tmp_path)))
    try:
        assert isinstance(backend, Backend)
        requests = tiny_requests(ref_model, tokenizer)
        assert len(tokenizer(requests[9].context)["input_ids"]) > backend.max_length == 96
        results = backend.loglikelihood(requests)
        assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
        # the reference agrees the greedy continuation is greedy; make sure the flag can be True
        assert results[-1].is_greedy and not results[0].is_greedy
        assert results[10] == results[0] and results[11] == results[4]
        assert results[12].logprob == 0.0 and results[12].n_tokens == 0
        # distinct answers get distinct scores (a forward on the wrong positions would be caught)
        assert len({round(r.logprob, 3) for r in results[:3]}) == 3
    finally:
        backend.close()


def test_tiny_loglikelihood_order_dedupe_and_progress(tiny_backend, tiny_ref):
    ref_model, tokenizer = tiny_ref
    requests = tiny_requests(ref_model, tokenizer)
    reversed_requests = list(reversed(requests))
    scored_rows: list = []
    original = tiny_backend._score_batch

    def spy(batch):
        scored_rows.extend(batch)
        return original(batch)

    tiny_backend._score_batch = spy
    tiny_backend.prefix_sharing = False  # the plain path's batches (prefix sharing: test_prefix_sharing.py)
    calls: list[int] = []
    try:
        forward = tiny_backend.loglikelihood(requests, progress=calls.append)
        backward = tiny_backend.loglikelihood(reversed_requests)
    finally:
        del tiny_backend._score_batch
        tiny_backend.prefix_sharing = True
    assert backward == list(reversed(forward))  # results come back in request order
    assert sum(calls) == len(requests)
    # 14 requests: 2 literal duplicates, 1 that tokenizes like another once the trailing space
    # moves (#3 ~ #0), 1 empty continuation -> 10 rows per call, one batch at "auto" (16)
    assert len(scored_rows) == 2 * 10
    assert forward[3] == forward[0]
    assert calls == [1, 13]


def test_tiny_loglikelihood_halves_batch_on_oom(tiny_model_dir, tiny_ref, tmp_path):
    ref_model, tokenizer = tiny_ref
    backend = HFBackend(ModelConfig(model=str(tiny_model_dir), batch_size="auto", cache_dir=str(tmp_path)),
                        prefix_sharing=False)
    original = backend._score_batch
    sizes: list[int] = []

    def fake_oom(batch):
        sizes.append(len(batch))
        if len(batch) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. (simulated)")
        return original(batch)

    backend._score_batch = fake_oom
    requests = tiny_requests(ref_model, tokenizer)
    results = backend.loglikelihood(requests)
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    assert sizes[:3] == [10, 8, 4] and max(sizes[3:]) <= 4
    assert backend._auto_bs["loglikelihood"] == 4

    fixed = HFBackend(ModelConfig(model=str(tiny_model_dir), batch_size=8, cache_dir=str(tmp_path)),
                      prefix_sharing=False)
    fixed._score_batch = fake_oom
    with pytest.raises(torch.OutOfMemoryError):  # an explicit batch size is not second-guessed
        fixed.loglikelihood(requests)


def test_encoding_adds_no_special_tokens(tiny_model_dir, tiny_ref, tmp_path):
    """A tokenizer that would prepend a BOS-like token: lm-eval encodes without special tokens."""
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    eos = tokenizer.eos_token
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{eos} $A", special_tokens=[(eos, tokenizer.eos_token_id)]
    )
    assert tokenizer("a b")["input_ids"][0] == tokenizer.eos_token_id  # the processor is active
    backend = HFBackend(ModelConfig(model=str(tiny_model_dir), cache_dir=str(tmp_path)))
    backend.tokenizer = tokenizer
    pairs = [("Question: 2 + 2 =", " 4"), ("The quick ", "brown fox"), ("", "hello")]
    assert backend.encode_pairs(pairs) == [ref_encode(tokenizer, c, x) for c, x in pairs]
    backend.close()


def test_tiny_info_and_close(tiny_model_dir, tmp_path):
    backend = load_backend(ModelConfig(model=str(tiny_model_dir), cache_dir=str(tmp_path)))
    info = backend.info
    assert (info.name, info.backend, info.device, info.dtype) == (str(tiny_model_dir), "hf", "cpu", "float32")
    assert info.source == str(tiny_model_dir.resolve())
    assert info.revision is None
    assert isinstance(info.fingerprint, str) and len(info.fingerprint) == 64
    int(info.fingerprint, 16)
    assert info.extra["kind"] == "local" and info.extra["trust_remote_code"] is False
    assert info.max_length == 96
    again = load_backend(ModelConfig(model=str(tiny_model_dir), cache_dir=str(tmp_path)))
    assert again.info.fingerprint == info.fingerprint
    again.close()
    backend.close()
    assert backend.model is None
    with pytest.raises(RuntimeError, match="closed"):
        backend.loglikelihood([LoglikelihoodRequest("a", "b")])
    backend.close()  # idempotent


def test_bad_options(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="batch_size"):
        HFBackend(ModelConfig(model=str(tiny_model_dir), batch_size=0, cache_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="batch_size"):
        HFBackend(ModelConfig(model=str(tiny_model_dir), batch_size="lots", cache_dir=str(tmp_path)))
    with pytest.raises(ModelLoadError, match="dtype"):
        pick_dtype("float8", "cpu")
    assert pick_dtype("auto", "cpu") == "float32" and pick_dtype("bf16", "cpu") == "bfloat16"
    assert pick_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("auto") in ("cpu", "mps")
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            pick_device("cuda")
    with pytest.raises(ModelLoadError, match="unknown device"):
        pick_device("tpu")


# --------------------------------------------------------------------------- generation (tiny)
PROMPTS = [
    "Question: What is the capital city of France?\nAnswer:",
    "The quick",
    "1 + 1 = 2, 2 + 2 = 4, 3 + 3 =",
    "def add(a, b):\n",
    "She said hello. He said goodbye. They said",
    "A",
]


def test_tiny_generate_matches_model_generate(tiny_backend, tiny_ref):
    ref_model, tokenizer = tiny_ref
    expected = [ref_generate(ref_model, tokenizer, p, 10) for p in PROMPTS]
    assert any(expected)
    got = tiny_backend.generate([GenerationRequest(p, max_tokens=10) for p in PROMPTS])
    assert got == expected


def test_tiny_generate_batch_equals_single(tiny_model_dir, tiny_backend, tmp_path):
    requests = [GenerationRequest(p, max_tokens=4 + 2 * i) for i, p in enumerate(PROMPTS)]
    single = load_backend(ModelConfig(model=str(tiny_model_dir), batch_size=1, cache_dir=str(tmp_path)))
    try:
        one_by_one = single.generate(requests)
    finally:
        single.close()
    calls: list[int] = []
    batched = tiny_backend.generate(requests + requests[:2], progress=calls.append)
    assert batched == one_by_one + one_by_one[:2]
    assert sum(calls) == len(requests) + 2
    assert tiny_backend.generate([GenerationRequest("The quick", max_tokens=0)]) == [""]


def test_tiny_generate_stop_strings(tiny_backend, tiny_ref):
    ref_model, tokenizer = tiny_ref
    prompt = PROMPTS[0]
    full = ref_generate(ref_model, tokenizer, prompt, 16)
    assert len(full) >= 6, full
    stop = full[len(full) // 2: len(full) // 2 + 2]
    cut = full.find(stop)
    lengths: list[int] = []
    original = tiny_backend.model.generate

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        lengths.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    tiny_backend.model.generate = spy
    try:
        got = tiny_backend.generate([
            GenerationRequest(prompt, max_tokens=16, stop=(stop,)),
            GenerationRequest(prompt, max_tokens=16, stop=("\x00never", stop, "")),
        ])
    finally:
        del tiny_backend.model.generate
    assert got == [full[:cut], full[:cut]]
    assert lengths and lengths[0] < 16  # stopped early instead of generating all 16 tokens


def test_truncate_at_stop():
    assert truncate_at_stop("abc\nQ: next", ["\n", "Q:"]) == "abc"
    assert truncate_at_stop("abc Q: x\ny", ["\n", "Q:"]) == "abc "
    assert truncate_at_stop("abc", []) == "abc"
    assert truncate_at_stop("abc", [""]) == "abc"


# --------------------------------------------------------------------------- real SmolLM2
@pytest.fixture(scope="module")
def smol(smollm2_dir, model_cache_root):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref_model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    backend = load_backend(ModelConfig(model="smollm2-135m", device="cpu", batch_size=16,
                                       cache_dir=str(model_cache_root)))
    yield backend, ref_model, tokenizer
    backend.close()


CAPITAL = "Question: What is the capital city of France?\nAnswer:"


def test_smollm2_loglikelihood_matches_reference(smol):
    backend, ref_model, tokenizer = smol
    requests = [
        LoglikelihoodRequest(CAPITAL, " Paris"),
        LoglikelihoodRequest(CAPITAL, " Lyon"),
        LoglikelihoodRequest(CAPITAL, " Marseille"),
        LoglikelihoodRequest(CAPITAL + " ", "Paris"),
        LoglikelihoodRequest("The opposite of hot is", " cold"),
        LoglikelihoodRequest("", "Paris is the capital of France."),
        LoglikelihoodRequest("2 + 2 =", " 4"),
        LoglikelihoodRequest(CAPITAL, " Paris"),
    ]
    results = backend.loglikelihood(requests)
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    paris, lyon, marseille = (r.logprob for r in results[:3])
    assert paris > lyon and paris > marseille, (paris, lyon, marseille)
    assert results[3].logprob == pytest.approx(paris, abs=TOL)  # trailing space moves onto the answer
    assert all(math.isfinite(r.logprob) and r.logprob < 0 for r in results)


def test_smollm2_info(smol):
    import hashlib

    from pytest_misalign.backends.embedded import find_embedded_gguf

    backend = smol[0]
    info = backend.info
    gguf = find_embedded_gguf()
    assert info.name == "smollm2-135m" and info.source == str(gguf) and info.backend == "hf"
    assert info.fingerprint == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert info.extra["kind"] == "embedded" and info.max_length == 8192
    assert backend.prefix_token_id == backend.tokenizer.bos_token_id


def test_smollm2_generate_matches_model_generate(smol):
    backend, ref_model, tokenizer = smol
    # CAPITAL: the quantized 135M model answers with an immediate <|im_end|> (EOS) -> ""
    prompts = ["The capital of France is", CAPITAL, "The opposite of hot is"]
    full = [ref_generate(ref_model, tokenizer, p, 8) for p in prompts]
    got = backend.generate([GenerationRequest(p, max_tokens=8) for p in prompts])
    assert got == full
    assert "Paris" in got[0]
    stopped = backend.generate([GenerationRequest(prompts[0], max_tokens=8, stop=("Paris",))])
    assert stopped == [full[0][: full[0].find("Paris")]]


def test_smollm2_chat_prompt_tokenizes_like_the_template(smol):
    backend, ref_model, tokenizer = smol
    question = "What is the capital city of France? Answer with the city name only."
    text = backend.chat_prompt(question)
    reference_ids = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                                  tokenize=True, add_generation_prompt=True)
    if isinstance(reference_ids, dict) or hasattr(reference_ids, "input_ids"):
        reference_ids = reference_ids["input_ids"]
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == list(reference_ids)
    (answer,) = backend.generate([GenerationRequest(text, max_tokens=16)])
    assert answer == ref_generate(ref_model, tokenizer, text, 16)
    assert "Paris" in answer  # the instruction model answers once asked in its own format


def test_chat_prompt_without_template_is_a_clear_error(tiny_backend):
    from pytest_misalign.backends import ModelLoadError

    if getattr(tiny_backend.tokenizer, "chat_template", None):
        pytest.skip("the tiny tokenizer has a chat template")
    with pytest.raises(ModelLoadError, match="has no chat template"):
        tiny_backend.chat_prompt("hi")
