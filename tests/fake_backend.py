"""A deterministic stand-in model for plugin tests: it 'knows' a fixed set of answers.

Log-likelihood of a continuation is -0.5 when its text (stripped) is in KNOWN, otherwise
-2 - len(continuation)/100 (so longer wrong answers are less likely, as with a real model).
"""

from pytest_misalign.backends.base import LoglikelihoodResult, ModelInfo

KNOWN: set[str] = set()
GENERATIONS: dict[str, str] = {}
CALLS = {"load": 0, "loglikelihood": 0, "requests": 0, "generate": 0}


class FakeBackend:
    def __init__(self, name: str) -> None:
        self.info = ModelInfo(name=name, device="cpu", dtype="float32", backend="fake", source="fake")

    def loglikelihood(self, requests, progress=None):
        CALLS["loglikelihood"] += 1
        CALLS["requests"] += len(requests)
        return [LoglikelihoodResult(-0.5 if r.continuation.strip() in KNOWN else -2.0 - len(r.continuation) / 100,
                                    False, 1) for r in requests]

    def generate(self, requests, progress=None):
        CALLS["generate"] += 1
        return [GENERATIONS.get(r.prompt, "") for r in requests]

    def close(self):
        pass


def make(model_config):
    CALLS["load"] += 1
    return FakeBackend(model_config.model)
