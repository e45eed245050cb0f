"""A deterministic stand-in model for plugin tests: it 'knows' a fixed set of answers.

Log-likelihood of a continuation is -0.5 when its text (stripped) is in KNOWN, otherwise
-2 - len(continuation)/100 (so longer wrong answers are less likely, as with a real model).
Rolling log-likelihood of a document: -0.5 nats per UTF-8 byte, -1.0 when it contains a word of HARD.
"""

from pytest_misalign.backends.base import LoglikelihoodResult, ModelInfo

KNOWN: set[str] = set()
GENERATIONS: dict[str, str] = {}
HARD: set[str] = set()
CALLS = {"load": 0, "loglikelihood": 0, "requests": 0, "generate": 0, "rolling": 0}


class FakeBackend:
    def __init__(self, name: str) -> None:
        # "fake-cached...": a fingerprint, so the result cache takes it (plain "fake" is never cached)
        cached = dict(fingerprint=name, tokenizer_fingerprint="fake-tokenizer") if name.startswith("fake-cached") else {}
        self.info = ModelInfo(name=name, device="cpu", dtype="float32", backend="fake", source="fake", **cached)

    def loglikelihood(self, requests, progress=None):
        CALLS["loglikelihood"] += 1
        CALLS["requests"] += len(requests)
        return [LoglikelihoodResult(-0.5 if r.continuation.strip() in KNOWN else -2.0 - len(r.continuation) / 100,
                                    False, 1) for r in requests]

    def loglikelihood_rolling(self, texts, progress=None):
        CALLS["rolling"] += 1
        return [-len(t.encode("utf-8")) * (1.0 if any(w in t.split() for w in HARD) else 0.5) for t in texts]

    def generate(self, requests, progress=None):
        CALLS["generate"] += 1
        return [GENERATIONS.get(r.prompt, "") for r in requests]

    def close(self):
        pass


def make(model_config):
    CALLS["load"] += 1
    return FakeBackend(model_config.model)
