"""The `openai` backend: any OpenAI-compatible server (vLLM, SGLang, TGI, ...) over HTTP.

Standard library only (`urllib` + a thread pool): `payload.py` builds request bodies and parses
responses (pure), `client.py` sends them (concurrency, retries, timeouts), `server.py` probes the
server once at load, `backend.py` is the `TokenizedBackend` engine.
"""

from .backend import MODEL_ARGS, OpenAIBackend, OpenAIStats
from .client import Client, ServerError
from .payload import ResponseError

__all__ = ["MODEL_ARGS", "Client", "OpenAIBackend", "OpenAIStats", "ResponseError", "ServerError"]
