"""The backend contract, checked the same way on every backend (issue 9 §1): the HF engine, vLLM's
offline engine and an OpenAI-compatible server (a real vLLM server on 127.0.0.1), all serving the
embedded SmolLM2-135M in float32.

Each backend must: answer in request order; give duplicates the same answer; score an empty
continuation 0.0 with no tokens; report progress for every request (duplicates and trivial ones
included) and no more; agree with the independent plain-transformers reference (`reference.py`)
within 1e-3 per request with the same greedy flags; generate the reference's greedy text.
"""

from __future__ import annotations

import pytest
from reference import ref_generate, ref_loglikelihood, ref_rolling

from pytest_misalign.backends import GenerationRequest, LoglikelihoodRequest

TOL = 1e-3
BACKENDS = ["hf", "vllm", "openai"]

CONTEXT = ("At the bus stop, a grandfather and his grandson were waiting. One of them had trouble "
           "reading the timetable.\nQuestion: Who had trouble reading the timetable?\nAnswer:")
CHOICES = [" The grandfather", " The grandson", " Cannot be determined"]
REQUESTS = [
    *(LoglikelihoodRequest(CONTEXT, c) for c in CHOICES),
    LoglikelihoodRequest("The capital of France is", " Paris"),
    LoglikelihoodRequest(CONTEXT, CHOICES[1]),  # duplicate, out of order
    LoglikelihoodRequest("The capital of France is", ""),  # empty continuation
    LoglikelihoodRequest("", "Hello world"),  # empty context -> prefix token
    LoglikelihoodRequest("The capital of France is ", "Paris"),  # trailing space moves over
    LoglikelihoodRequest("2 + 2 =", " 4"),
]
PROMPTS = [
    GenerationRequest("The capital of France is", max_tokens=8),
    GenerationRequest("List three colours:\n1.", max_tokens=12, stop=("\n",)),
    GenerationRequest("The capital of France is", max_tokens=8),  # duplicate
    GenerationRequest("Anything", max_tokens=0),  # nothing to generate
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend under test (HF in-process; vLLM offline; vLLM's OpenAI server over HTTP)."""
    return request.getfixturevalue({"hf": "hf_smol", "vllm": "vllm_smol", "openai": "openai_smol"}[request.param])


def _counting():
    seen: list[int] = []
    return seen, seen.append


def test_loglikelihood_order_duplicates_empty_and_reference(backend, smol_reference):
    model, tokenizer = smol_reference
    seen, progress = _counting()
    results = backend.loglikelihood(REQUESTS, progress=progress)
    assert len(results) == len(REQUESTS)
    assert sum(seen) == len(REQUESTS) and all(n > 0 for n in seen)
    assert results[4] == results[1]  # the duplicate
    assert (results[5].logprob, results[5].is_greedy, results[5].n_tokens) == (0.0, True, 0)
    worst = 0.0
    for req, res in zip(REQUESTS, results):
        logprob, greedy, n = ref_loglikelihood(model, tokenizer, req.context, req.continuation,
                                               backend.info.max_length)
        assert res.n_tokens == n, req
        assert res.is_greedy == greedy, req
        worst = max(worst, abs(res.logprob - logprob))
    assert worst < TOL, f"{backend.info.backend}: largest |delta logprob| {worst:.2e}"


def test_rolling_loglikelihood_matches_reference(backend, smol_reference):
    """Perplexity's rolling log-likelihood (lm-eval `loglikelihood_rolling`), windows included:
    the backend's max_length is lowered to 8 so that the texts span several windows."""
    model, tokenizer = smol_reference
    texts = [CONTEXT, "Hello world", "", CONTEXT]
    saved, backend.max_length = backend.max_length, 8
    try:
        seen, progress = _counting()
        got = backend.loglikelihood_rolling(texts, progress=progress)
    finally:
        backend.max_length = saved
    assert sum(seen) == len(texts) and got[2] == 0.0 and got[3] == got[0]
    worst = max(abs(g - ref_rolling(model, tokenizer, t, 8)) for g, t in zip(got, texts))
    assert worst < TOL, f"{backend.info.backend}: largest |delta rolling logprob| {worst:.2e}"


def test_multiple_choice_prediction_matches_reference(backend, smol_reference):
    model, tokenizer = smol_reference
    results = backend.loglikelihood([LoglikelihoodRequest(CONTEXT, c) for c in CHOICES])
    ref = [ref_loglikelihood(model, tokenizer, CONTEXT, c, backend.info.max_length)[0] for c in CHOICES]
    got = [r.logprob for r in results]
    assert got.index(max(got)) == ref.index(max(ref))


def test_generation_matches_reference_and_counts_progress(backend, smol_reference):
    model, tokenizer = smol_reference
    seen, progress = _counting()
    texts = backend.generate(PROMPTS, progress=progress)
    assert sum(seen) == len(PROMPTS)
    assert texts[0] == texts[2] == ref_generate(model, tokenizer, PROMPTS[0].prompt, 8)
    expected = ref_generate(model, tokenizer, PROMPTS[1].prompt, 12).split("\n")[0]
    assert texts[1] == expected
    assert texts[3] == ""


def test_chat_generation_uses_the_chat_template(backend, smol_reference):
    model, tokenizer = smol_reference
    question = "What is the capital of France? Answer in one word."
    text = backend.generate([GenerationRequest(question, max_tokens=10, chat=True)])[0]
    templated = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                              add_generation_prompt=True)
    assert text.strip() == ref_generate(model, tokenizer, templated, 10).strip()


def test_info_is_complete(backend, smollm2_dir):
    info = backend.info
    assert info.backend in BACKENDS and info.engine
    assert isinstance(info.max_length, int) and info.max_length > 1000
    assert info.fingerprint and info.tokenizer_fingerprint
    assert info.dtype == ("server" if info.backend == "openai" else "float32")
    assert isinstance(dict(backend.stats), dict)
