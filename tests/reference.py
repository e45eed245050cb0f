"""The independent reference for log-likelihoods and generation: plain transformers calls, one
unpadded sequence at a time, with lm-evaluation-harness's token split written out here (not the
plugin's code path)."""

from __future__ import annotations

import torch

TOL = 1e-4


# --------------------------------------------------------------------------- independent reference
def ref_encode(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    def enc(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    if context.strip() == "":  # empty (lm-eval) or whitespace-only (our documented extension)
        prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        return [prefix], enc(context + continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = enc(context + continuation)
    ctx = enc(context)
    return ctx, whole[len(ctx):]


def ref_loglikelihood(model, tokenizer, context, continuation, max_length):
    ctx, cont = ref_encode(tokenizer, context, continuation)
    if not cont:
        return 0.0, True, 0
    seq = (ctx + cont)[-(max_length + 1):]
    inp = seq[:-1]
    with torch.no_grad():
        logits = model(torch.tensor([inp])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    total, greedy = 0.0, True
    for j, token in enumerate(cont):
        pos = len(inp) - len(cont) + j  # the position whose output predicts cont[j]
        total += float(logprobs[pos, token])
        greedy = greedy and int(logits[pos].argmax()) == token
    return total, greedy, len(cont)


def ref_rolling(model, tokenizer, text: str, max_length: int) -> float:
    """Rolling log-likelihood by its definition: the sum over the text's tokens of log p(token | the
    up to `max_length` tokens before it, the first conditioned on BOS/EOS), float64 log-softmax, one
    forward per block of `max_length` predictions (lm-eval `loglikelihood_rolling`)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    prefix = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    seq = [prefix] + ids
    total, start = 0.0, 0
    while start < len(ids):
        stop = min(start + max_length, len(ids))
        lo = max(0, stop - max_length)  # the model reads seq[lo:stop]: max_length tokens at most
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([seq[lo:stop]])).logits[0].double(), dim=-1)
        total += sum(float(logp[j - lo, seq[j + 1]]) for j in range(start, stop))  # ids[j] = seq[j + 1]
        start = stop
    return total


def ref_generate(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model.generate(
            torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0, len(ids):], skip_special_tokens=True)


def assert_matches_reference(results, requests, ref_model, tokenizer, max_length):
    assert len(results) == len(requests)
    for req, res in zip(requests, results):
        logprob, greedy, n = ref_loglikelihood(ref_model, tokenizer, req.context, req.continuation, max_length)
        assert res.n_tokens == n, req
        assert abs(res.logprob - logprob) < TOL, (req, res.logprob, logprob)
        assert res.is_greedy == greedy, req
