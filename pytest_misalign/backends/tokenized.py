"""Strings -> token ids, written once for every engine (lm-eval's `TemplateLM`).

`TokenizedBackend` implements `Backend.loglikelihood` and `Backend.generate` on top of three
engine methods, so HF transformers, vLLM and OpenAI-compatible servers give the same numbers for
the same model:

* `tok_encode(texts)`: token ids of each text, without special tokens;
* `_loglikelihood_tokens(pairs, on_done)`: `(logprob, is_greedy)` for distinct
  `(context_ids, continuation_ids)` pairs with non-empty continuations;
* `_generate_tokens(items, on_done)`: greedy text for distinct `GenerationItem`s.

and two attributes: `max_length` (the longest input the engine scores, in tokens) and
`prefix_token_id` (BOS, else EOS). Conventions (lm-evaluation-harness, `TemplateLM._encode_pair`
and `HFLM._loglikelihood_tokens`):

* trailing whitespace of the context moves onto the continuation;
* `context + continuation` is tokenized whole; the context tokens are `tokenize(context)` and the
  continuation tokens the rest of the whole encoding;
* an empty (or whitespace-only) context becomes the prefix token, the continuation tokenized alone;
* the scored window is `(ctx + cont)[-(max_length + 1):]`: the model sees `window[:-1]`
  (`model_input`) and every continuation token is predicted from what precedes it;
* an empty continuation scores 0.0 (is_greedy=True, n_tokens=0) without any engine call;
* identical requests (or requests that tokenize identically) are scored once; progress counts
  every request, duplicates included.

Rolling log-likelihood (lm-eval's `loglikelihood_rolling`, for perplexity): each text's tokens are
cut into windows by `rolling_windows` (lm-eval `get_rolling_token_windows` with `context_len=1`
then `make_disjoint_window`): the first window predicts the first `max_length` tokens from the
prefix token, every later one the next `max_length` tokens from the `max_length` tokens before
them. Windows go through `_loglikelihood_tokens` like any pair; a text's score is the sum over its
windows (an empty text: 0.0, no engine call).

Generation: the prompt keeps its last `max_length - max_tokens` tokens (an empty prompt becomes
the prefix token), `chat=True` prompts go through `chat_prompt` first, `max_tokens=0` gives ""
without an engine call, and the text is cut at the first stop string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Callable, Iterator, Sequence

from .base import BackendBase, GenerationRequest, LoglikelihoodRequest, LoglikelihoodResult, Progress

TokenPair = tuple[list[int], list[int]]
OnDone = Callable[[list[int]], None]
"""Called by an engine with the indices (into the list it was given) it has just finished."""


@dataclass(frozen=True)
class GenerationItem:
    """One distinct generation for an engine: prompt ids (already fitted to the model), the number
    of new tokens (>= 1), and stop strings."""

    ids: tuple[int, ...]
    max_new: int
    stop: tuple[str, ...]


@dataclass
class ScoringStats(Mapping):
    """Cumulative work of one backend (`backend.stats`); a read-only mapping of its counters.

    Engines add to the counters they know about; the rest stay 0."""

    requests: int = 0  # log-likelihood requests received
    scored: int = 0  # distinct token pairs with a non-empty continuation among them
    forward_calls: int = 0  # model calls (engine calls, HTTP requests)
    tokens_forwarded: int = 0  # real tokens run through the model (padding excluded)
    padded_tokens: int = 0  # rows x width of every model call (padding included)
    plain_tokens: int = 0  # what one unshared forward per scored pair would run (lm-eval)
    trie_tokens: int = 0  # distinct input prefixes of the scored pairs: the floor for exact scores
    stem_tokens: int = 0  # of those, a prefix common to every pair of a call, run once and reused (KV cache)
    logit_positions: int = 0  # positions whose next-token distribution was computed
    generations: int = 0  # distinct generations run
    strategy: str = ""  # how the last call was scored ("prefix", "plain", "prompt_logprobs", ...)

    def as_dict(self) -> dict:
        return asdict(self)

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def __getitem__(self, key: str):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    """Cut `text` at the earliest occurrence of any (non-empty) stop string."""
    cut = len(text)
    for s in stops:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut]


def dedup(keys: list) -> tuple[list[int], list[int], list[int]]:
    """(first position of each distinct key, slot of every position, multiplicity of each slot)."""
    first: list[int] = []
    slot_of: dict = {}
    slots: list[int] = []
    for i, key in enumerate(keys):
        slot = slot_of.get(key)
        if slot is None:
            slot = slot_of[key] = len(first)
            first.append(i)
        slots.append(slot)
    multiplicity = [0] * len(first)
    for slot in slots:
        multiplicity[slot] += 1
    return first, slots, multiplicity


def _weighted(progress: Progress | None, weights: list[int], todo: list[int]) -> OnDone | None:
    """An engine's `on_done` (indices into `todo`) -> progress in requests (`weights` per slot)."""
    if progress is None:
        return None

    def on_done(done: list[int]) -> None:
        n = sum(weights[todo[i]] for i in done)
        if n:
            progress(n)

    return on_done


def rolling_windows(tokens: list[int], prefix: int, max_length: int) -> list[TokenPair]:
    """(context, continuation) windows covering `tokens` (lm-eval `get_rolling_token_windows` with
    `context_len=1`, each made disjoint by `make_disjoint_window`); empty `tokens`: none."""
    windows: list[TokenPair] = []
    if not tokens:
        return windows
    predicted = min(max_length, len(tokens))
    windows.append(([prefix], tokens[:predicted]))
    while predicted < len(tokens):
        n = min(len(tokens) - predicted, max_length)
        end = predicted + n
        inputs = tokens[end - max_length - 1:end - 1]
        windows.append((inputs[:len(inputs) - (n - 1)], tokens[end - n:end]))
        predicted = end
    return windows


class _RollingProgress:
    """An engine's `on_done` over distinct windows -> progress in texts (a text counts when all its
    windows are done; texts without windows count at once)."""

    def __init__(self, progress: Progress | None, n_texts: int, owner: list[int], slots: list[int]) -> None:
        self.progress = progress
        self.left = [0] * n_texts
        self.texts_of: dict[int, list[int]] = {}
        for text, slot in zip(owner, slots):
            self.left[text] += 1
            self.texts_of.setdefault(slot, []).append(text)
        empty = sum(1 for n in self.left if n == 0)
        if progress is not None and empty:
            progress(empty)

    def __call__(self, done: list[int]) -> None:
        finished = 0
        for slot in done:
            for text in self.texts_of.get(slot, ()):
                self.left[text] -= 1
                finished += self.left[text] == 0
        if finished and self.progress is not None:
            self.progress(finished)


class TokenizedBackend(BackendBase):
    """Shared tokenized layer; engines subclass it (see the module docstring)."""

    max_length: int
    prefix_token_id: int | None

    def __init__(self) -> None:
        self._stats = ScoringStats()

    # ------------------------------------------------------------------ engine interface
    def tok_encode(self, texts: list[str]) -> list[list[int]]:
        raise NotImplementedError

    def _loglikelihood_tokens(self, pairs: list[TokenPair], on_done: OnDone | None) -> list[tuple[float, bool]]:
        raise NotImplementedError

    def _generate_tokens(self, items: list[GenerationItem], on_done: OnDone | None) -> list[str]:
        raise NotImplementedError

    def _check_open(self) -> None:
        """Raise when the engine has been closed."""

    @property
    def stats(self) -> ScoringStats:
        return self._stats

    # ------------------------------------------------------------------ tokenization
    def _prefix(self, what: str) -> int:
        if self.prefix_token_id is None:
            raise ValueError(f"empty {what} but the tokenizer has neither a BOS nor an EOS token")
        return self.prefix_token_id

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> list[TokenPair]:
        """lm-eval `_encode_pair` for many (context, continuation) pairs at once."""
        contexts: list[str] = []
        wholes: list[str] = []
        for context, continuation in pairs:
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces > 0:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
            contexts.append(context)
            wholes.append(context + continuation)
        nonempty = [i for i, c in enumerate(contexts) if c]
        ctx_enc = dict(zip(nonempty, self.tok_encode([contexts[i] for i in nonempty])))
        out: list[TokenPair] = []
        for i, whole in enumerate(self.tok_encode(wholes)):
            ctx = ctx_enc.get(i, [])
            out.append((ctx, whole[len(ctx):]) if ctx else ([self._prefix("context")], whole))
        return out

    def model_input(self, ctx: list[int], cont: list[int]) -> list[int]:
        """What the model reads for a pair: the last max_length + 1 tokens, minus the last."""
        return (ctx + cont)[-(self.max_length + 1):][:-1]

    # ------------------------------------------------------------------ log-likelihood
    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> list[LoglikelihoodResult]:
        self._check_open()
        requests = list(requests)
        self._stats.requests += len(requests)
        if not requests:
            return []
        encoded = self.encode_pairs([(r.context, r.continuation) for r in requests])
        first, slots, weights = dedup([(tuple(c), tuple(x)) for c, x in encoded])
        unique = [encoded[i] for i in first]
        for _, cont in unique:
            if len(cont) > self.max_length:
                raise ValueError(f"continuation of {len(cont)} tokens exceeds the model's maximum "
                                 f"length {self.max_length}")
        todo = [s for s, (_, cont) in enumerate(unique) if cont]
        if progress is not None and len(todo) < len(unique):
            progress(sum(weights[s] for s, (_, cont) in enumerate(unique) if not cont))
        self._stats.scored += len(todo)
        self._stats.plain_tokens += sum(len(self.model_input(*unique[s])) for s in todo)
        scores: list[tuple[float, bool]] = [(0.0, True)] * len(unique)
        if todo:
            got = self._loglikelihood_tokens([unique[s] for s in todo], _weighted(progress, weights, todo))
            if len(got) != len(todo):
                raise RuntimeError(f"{type(self).__name__} returned {len(got)} scores for {len(todo)} requests")
            for s, score in zip(todo, got):
                scores[s] = score
        return [LoglikelihoodResult(float(scores[s][0]), bool(scores[s][1]), len(unique[s][1])) for s in slots]

    # ------------------------------------------------------------------ rolling log-likelihood
    def loglikelihood_rolling(self, texts: Sequence[str], progress: Progress | None = None) -> list[float]:
        """Summed log-probability of every token of each text, over lm-eval's rolling windows."""
        self._check_open()
        texts = list(texts)
        self._stats.requests += len(texts)
        if not texts:
            return []
        windows: list[TokenPair] = []
        owner: list[int] = []  # text index of each window
        for i, ids in enumerate(self.tok_encode(texts)):
            if ids:
                prefix = self._prefix("context before a text's first token (rolling log-likelihood)")
                for pair in rolling_windows(ids, prefix, self.max_length):
                    windows.append(pair)
                    owner.append(i)
        first, slots, _ = dedup([(tuple(c), tuple(x)) for c, x in windows])
        unique = [windows[i] for i in first]
        self._stats.scored += len(unique)
        self._stats.plain_tokens += sum(len(self.model_input(*pair)) for pair in unique)
        on_done = _RollingProgress(progress, len(texts), owner, slots)
        got = self._loglikelihood_tokens(unique, on_done if progress is not None else None) if unique else []
        if len(got) != len(unique):
            raise RuntimeError(f"{type(self).__name__} returned {len(got)} scores for {len(unique)} windows")
        totals = [0.0] * len(texts)
        for i, slot in zip(owner, slots):
            totals[i] += float(got[slot][0])
        return totals

    # ------------------------------------------------------------------ generation
    def generation_items(self, requests: Sequence[GenerationRequest]) -> list[GenerationItem | None]:
        """Each request as the engine will run it; None for `max_tokens <= 0` (answered "")."""
        texts = [self.chat_prompt(r.prompt) if r.chat else r.prompt for r in requests]
        items: list[GenerationItem | None] = []
        for req, ids in zip(requests, self.tok_encode(texts)):
            max_new = max(0, int(req.max_tokens))
            if max_new == 0:
                items.append(None)
                continue
            ids = ids or [self._prefix("prompt")]
            ids = ids[-max(1, self.max_length - max_new):]  # lm-eval: keep the prompt's end
            items.append(GenerationItem(tuple(ids), max_new, tuple(s for s in req.stop if s)))
        return items

    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> list[str]:
        self._check_open()
        requests = list(requests)
        if not requests:
            return []
        items = self.generation_items(requests)
        first, slots, weights = dedup(items)
        unique = [items[i] for i in first]
        todo = [s for s, item in enumerate(unique) if item is not None]
        if progress is not None and len(todo) < len(unique):
            progress(sum(weights[s] for s, item in enumerate(unique) if item is None))
        texts = [""] * len(unique)
        if todo:
            self._stats.generations += len(todo)
            got = self._generate_tokens([unique[s] for s in todo], _weighted(progress, weights, todo))
            for s, text in zip(todo, got):
                texts[s] = truncate_at_stop(text, unique[s].stop)
        return [texts[s] for s in slots]
