"""A small, standard-library-only HTTP client for OpenAI-compatible servers.

* at most `max_concurrency` requests in flight (one thread pool per client);
* each request has a `timeout`; 429, 5xx, timeouts, dropped connections and malformed JSON are
  retried up to `max_retries` times with exponential backoff and full jitter (AWS's "full jitter":
  sleep uniform(0, min(cap, base * 2**attempt))), or exactly the server's `Retry-After` when it
  sends one (capped); any other 4xx fails at once;
* after the last retry, a `ServerError` names the URL and the last status / error (never a hang);
* `map` hands results back in completion order, so callers can advance progress as they arrive.

The API key travels only in the `Authorization` header: it is never logged, and error texts have
it redacted and show URLs without userinfo or query.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

from ...errors import MisalignError
from .payload import ResponseError

log = logging.getLogger("pytest_misalign.openai")

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 120.0  # seconds: a longer Retry-After is shortened to this


class ServerError(MisalignError, RuntimeError):
    """A request failed for good; the message names the URL, the status / error and the fix."""

    def __init__(self, message: str, *, url: str, status: int | None = None, retryable: bool = False):
        self.url = url
        self.status = status
        self.retryable = retryable
        super().__init__(message)


def display_url(url: str) -> str:
    """`url` without userinfo, query or fragment: safe for logs, errors and results."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value))) if value is not None else None
    except ValueError:  # an HTTP date: not worth parsing, use the backoff
        return None


class Client:
    """JSON over HTTP to one server (`base_url` like `http://host:8000/v1`)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 300.0,
                 max_retries: int = 5, max_concurrency: int = 8, backoff_base: float = 0.5,
                 backoff_cap: float = 30.0, counters: Any = None) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        self.base_url = self.display = display_url(base_url.rstrip("/"))  # what errors and results show
        # vLLM's /tokenize, /detokenize, /version sit beside /v1, not under it
        self.root_url = self.base_url[:-3] if self.base_url.endswith("/v1") else self.base_url
        self._secrets = [s for s in (api_key, parts.password) if s]
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        elif parts.username is not None:
            creds = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        self.timeout = float(timeout)
        self.max_retries = max(0, int(max_retries))
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.max_concurrency = max(1, int(max_concurrency))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.http_calls = 0
        self.retries = 0
        self.counters = counters if counters is not None else self  # gets http_calls / retries

    # ------------------------------------------------------------------ helpers
    def url(self, path: str, root: bool = False) -> str:
        """`/v1/...` paths hang off the base URL; `root=True` for vLLM's `/tokenize`, `/version`."""
        return (self.root_url if root else self.base_url) + "/" + path.lstrip("/")

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _count(self, retry: bool = False) -> None:
        with self._lock:
            if retry:
                self.counters.retries += 1
            else:
                self.counters.http_calls += 1

    def _fail(self, url: str, what: str, status: int | None, retryable: bool) -> ServerError:
        shown = display_url(url)
        return ServerError(self.redact(f"{shown}: {what}"), url=shown, status=status, retryable=retryable)

    # ------------------------------------------------------------------ one request
    def _once(self, method: str, url: str, body: Any, timeout: float) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers)
        self._count()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace").strip()
            err = self._fail(url, f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else ""),
                             exc.code, exc.code in RETRY_STATUS)
            err.retry_after = _retry_after(exc.headers)
            raise err from None
        except (TimeoutError, socket.timeout) as exc:
            raise self._fail(url, f"no answer within {timeout:g} s ({type(exc).__name__})", None, True) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            retry = not isinstance(reason, (ConnectionRefusedError, socket.gaierror))
            if isinstance(reason, (TimeoutError, socket.timeout)):
                what = f"no answer within {timeout:g} s"
            else:
                what = f"connection failed ({type(reason).__name__}: {reason})"
            raise self._fail(url, what, None, retry) from None
        try:
            return json.loads(raw)
        except ValueError:
            snippet = raw[:200].decode("utf-8", "replace")
            raise self._fail(url, f"malformed JSON in the response: {snippet!r}", None, True) from None

    def request(self, method: str, path: str, body: Any = None, *, root: bool = False,
                parse: Callable[[Any], Any] | None = None, retries: int | None = None,
                timeout: float | None = None) -> Any:
        """One call with retries; `parse` runs on the JSON (its `ResponseError` is not retried: a
        well-formed answer of the wrong shape would come back the same)."""
        url = self.url(path, root=root)
        budget = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                got = self._once(method, url, body, self.timeout if timeout is None else timeout)
                return parse(got) if parse is not None else got
            except (ServerError, ResponseError) as exc:
                retryable = getattr(exc, "retryable", False)  # a well-formed wrong answer: no
                if not retryable or attempt >= budget:
                    if attempt:
                        raise self._fail(url, f"gave up after {attempt + 1} attempts; last error: "
                                         f"{_tail(exc, url)}", getattr(exc, "status", None), False) from None
                    raise
                delay = getattr(exc, "retry_after", None)
                if delay is None:
                    delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** attempt))
                attempt += 1
                self._count(retry=True)
                log.warning("retrying %s %s in %.2f s (attempt %d of %d): %s", method,
                            display_url(url), delay, attempt + 1, budget + 1, _tail(exc, url))
                time.sleep(delay)

    # ------------------------------------------------------------------ many requests
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="misalign-openai")
        return self._pool

    def map(self, calls: Sequence[Callable[[], Any]]) -> Iterator[tuple[int, Any]]:
        """Run `calls` (at most `max_concurrency` at once); yield `(index, result)` as each ends.

        The first failure cancels what has not started and is raised."""
        if not calls:
            return
        if len(calls) == 1:
            yield 0, calls[0]()
            return
        futures: dict[Future, int] = {self.pool().submit(fn): i for i, fn in enumerate(calls)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield futures[future], future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _tail(exc: Exception, url: str) -> str:
    """An error's text without the leading 'URL: ' (the caller names the URL once)."""
    text = str(exc)
    prefix = display_url(url) + ": "
    return text[len(prefix):] if text.startswith(prefix) else text
