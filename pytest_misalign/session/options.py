"""Command-line and ini options -> `runner.Options` (validated: bad values are usage errors)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from ..backends.base import ModelConfig
from ..backends.registry import BACKEND_CHOICES
from ..baseline.match import BaselineError, load_baseline
from ..checks import GATES
from ..runner.evaluator import Options

# (option, ini key, default, help)
OPTIONS = [
    ("model", None, "model to evaluate: a Hugging Face id, a local directory, a .gguf file, "
                    "or the embedded alias 'smollm2-135m'"),
    ("backend", "auto", "engine that scores the model: auto (an http(s):// model -> openai, else hf), "
                        "hf, vllm or openai"),
    ("model-args", None, "key=value,... handed to the engine, typed (e.g. tensor_parallel_size=4,"
                         "max_model_len=8192 for vllm; model=NAME,max_concurrency=16 for openai)"),
    ("device", "auto", "auto (CUDA when present), cpu, cuda, cuda:N or mps"),
    ("dtype", "auto", "auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16 or float64 (hf)"),
    ("batch-size", "auto", "requests per forward pass: a positive integer or 'auto'"),
    ("limit", None, "cap the items per task (seeded random subsample) for quick local runs"),
    ("num-fewshot", None, "shots before every item of the tasks that declare `fewshot:` data (e.g. 5 for MMLU as "
                          "lm-eval's --num_fewshot 5; default: each task's `fewshot.n`)"),
    ("json", None, "write machine-readable results to this path (atomically)"),
    ("html", None, "write a self-contained HTML report here (plots, per-suite tables, item browser; no network)"),
    ("gate", "point", "how verdicts fail tests: 'point' (the point estimate decides; the interval is shown) "
                      "'confident' (only a confident pass passes) or 'sequential' (as confident, but each task "
                      "is scored in chunks and stops once anytime-valid confidence sequences settle every check)"),
    ("chunk", None, "sequential gate: items scored between two looks at the sequences (default: 1/20 of the "
                    "task, at least 10)"),
    ("seed", "0", "sequential gate: seed of the (stratified) order items are scored in"),
    ("baseline", None, "an earlier results file: adds a paired `regression` test to every task in both"),
    ("max-drop", "0.02", "largest allowed accuracy drop against the baseline (per task: regression.max_drop)"),
    ("data-dir", None, "serve hub datasets (`data.hf`) from local files here: `hf.local`, or "
                       "<path>/<name>/<split>.jsonl"),
    ("show-items", "2", "under a failing check, show up to N of the items that failed (wrong items of the "
                        "worst group, flipped pairs, inconsistent variants); 0 turns it off"),
    ("cache-dir", None, "where converted models and scored results are cached (default: ~/.cache/pytest-misalign); "
                        "created private (0700)"),
    ("model-cache-dir", None, "where converted models (GGUF -> safetensors) are kept, under models/ "
                              "(default: $PYTEST_MISALIGN_MODEL_CACHE_DIR, else the cache dir); when it cannot "
                              "be written, models are converted into a temporary directory instead"),
    ("results-cache", None, "the result cache file (default: $PYTEST_MISALIGN_RESULTS_CACHE, else "
                            "<cache dir>/results.sqlite)"),
    ("markdown", None, "write a GitHub-flavoured markdown summary here (failed checks first); also appended to "
                       "$GITHUB_STEP_SUMMARY when that is set"),
]


def get(config: pytest.Config, name: str):
    dest = "misalign_" + name.replace("-", "_")
    value = config.getoption(dest)
    return config.getini(dest) if value is None else value


def _positive_int(config: pytest.Config, name: str, value, allow_auto: bool = False):
    if value in (None, ""):
        return None
    if allow_auto and str(value) == "auto":
        return "auto"
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        auto = " or 'auto'" if allow_auto else ""
        raise pytest.UsageError(f"--misalign-{name} must be a positive integer{auto}, got {value!r}")
    return number


def _model_args(config: pytest.Config) -> dict:
    from ..backends.model_args import ModelArgsError, parse_model_args

    try:
        args = parse_model_args(get(config, "model-args"))
    except ModelArgsError as exc:
        raise pytest.UsageError(f"--misalign-model-args: {exc}") from None
    for key, option in _OWN_OPTIONS.items():  # settings the plugin owns: one usage error, not a failed test each
        if key in args:
            raise pytest.UsageError(f"--misalign-model-args: {key} is set with {option}, not as an engine argument "
                                    f"(e.g. {option}={args[key]})")
    return args


_OWN_OPTIONS = {"dtype": "--misalign-dtype", "torch_dtype": "--misalign-dtype", "device": "--misalign-device",
                "trust_remote_code": "--misalign-trust-remote-code"}


def _check_backend(config: pytest.Config, model_config: ModelConfig) -> None:
    """Unknown backend names and missing optional packages are usage errors, before any test runs
    (unless a plugin's `pytest_misalign_make_backend` takes over the name)."""
    from ..backends.errors import ModelLoadError
    from ..backends.registry import check_available, choose

    name = model_config.backend.strip().lower()
    if name != "auto" and name not in BACKEND_CHOICES and _has_custom_backend_hook(config):
        return
    try:
        check_available(choose(model_config))
    except ModelLoadError as exc:
        raise pytest.UsageError(f"--misalign-backend: {exc}") from None


def _has_custom_backend_hook(config: pytest.Config) -> bool:
    impls = config.pluginmanager.hook.pytest_misalign_make_backend.get_hookimpls()
    ours = sys.modules.get("pytest_misalign.plugin")
    return any(impl.plugin is not ours for impl in impls)


def _model_cache_kwargs(config: pytest.Config) -> dict:
    """--misalign-model-cache-dir for `ModelConfig.model_cache_dir` (read by backends/resolve.py)."""
    value = get(config, "model-cache-dir") or None
    return {"model_cache_dir": str(value)} if value else {}


def _results_cache_kwargs(config: pytest.Config) -> dict:
    """--misalign-results-cache for `runner.Options.results_cache` (the runner hands it to `cache_path`)."""
    value = get(config, "results-cache") or None
    return {"results_cache": str(value)} if value else {}


def data_roots(config: pytest.Config, data_dir: str | None) -> tuple[Path, ...]:
    """Where suites may read local data files: the rootdir, `misalign_data_roots` (relative to the
    ini file) and --misalign-data-dir."""
    roots = [config.rootpath, *config.getini("misalign_data_roots"), *([Path(data_dir)] if data_dir else [])]
    return tuple(dict.fromkeys(Path(root).expanduser().resolve() for root in roots))


def options_from_config(config: pytest.Config) -> Options:
    model = get(config, "model") or None
    device, dtype = str(get(config, "device")), str(get(config, "dtype"))
    if dtype not in ("auto", "float32", "bfloat16", "float16", "float64"):
        raise pytest.UsageError(f"--misalign-dtype must be auto, float32, bfloat16, float16 or float64, got {dtype!r}")
    if not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]+)?", device.strip().lower()):  # as the backends read it
        raise pytest.UsageError(f"--misalign-device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    model_config = None
    if model:
        model_config = ModelConfig(
            model=str(model), device=device, dtype=dtype,
            batch_size=_positive_int(config, "batch-size", get(config, "batch-size"), allow_auto=True),
            trust_remote_code=bool(get(config, "trust-remote-code")),
            cache_dir=get(config, "cache-dir") or None, **_model_cache_kwargs(config),
            backend=str(get(config, "backend") or "auto"), model_args=_model_args(config),
        )
        _check_backend(config, model_config)
    gate = str(get(config, "gate"))
    if gate not in GATES:
        raise pytest.UsageError(f"--misalign-gate must be one of {', '.join(GATES)}, got {gate!r}")
    max_drop = get(config, "max-drop")
    try:
        max_drop = float(max_drop)
        assert 0.0 <= max_drop <= 1.0
    except (TypeError, ValueError, AssertionError):
        raise pytest.UsageError(f"--misalign-max-drop must be a rate in [0, 1], got {max_drop!r}") from None
    baseline = None
    if get(config, "baseline"):
        try:
            baseline = load_baseline(get(config, "baseline"))
        except BaselineError as exc:
            raise pytest.UsageError(f"--misalign-baseline: {exc}") from None
    data_dir = get(config, "data-dir")
    show_items = get(config, "show-items")
    show_items = 0 if str(show_items).strip() == "0" else (_positive_int(config, "show-items", show_items) or 3)
    return Options(model=model_config, limit=_positive_int(config, "limit", get(config, "limit")),
                   show_items=show_items,
                   json_path=get(config, "json") or None, gate=gate, baseline=baseline, max_drop=max_drop,
                   data_dir=Path(data_dir).resolve() if data_dir else None,
                   data_roots=data_roots(config, data_dir),
                   cache=not get(config, "no-cache"), strict=bool(get(config, "strict")),
                   chunk=_positive_int(config, "chunk", get(config, "chunk")), seed=_seed(config),
                   num_fewshot=_num_fewshot(config),
                   **_results_cache_kwargs(config))


def _num_fewshot(config: pytest.Config) -> int | None:
    value = get(config, "num-fewshot")
    if value in (None, ""):
        return None
    if not str(value).strip().isdigit():
        raise pytest.UsageError(f"--misalign-num-fewshot must be a whole number of shots (0 or more), got {value!r}")
    return int(str(value).strip())


def _seed(config: pytest.Config) -> int:
    value = get(config, "seed")
    try:
        return int(str(value if value not in (None, "") else 0).strip())
    except ValueError:
        raise pytest.UsageError(f"--misalign-seed must be an integer, got {value!r}") from None



def add_options(parser: pytest.Parser) -> None:
    """Every option on the command line and as an ini key."""
    group = parser.getgroup("misalign", "capability-misalignment gates for language models")
    for name, default, help_text in OPTIONS:
        dest = "misalign_" + name.replace("-", "_")
        group.addoption(f"--misalign-{name}", dest=dest, default=None,
                        help=f"{help_text} (ini: {dest}{'' if default is None else f'; default: {default}'})")
        parser.addini(dest, help_text, default=default)
    group.addoption("--misalign-trust-remote-code", dest="misalign_trust_remote_code", action="store_true",
                    default=None, help="allow the model repository's own Python code to run (off by default)")
    parser.addini("misalign_trust_remote_code", "allow remote code (true/false)", type="bool", default=False)
    group.addoption("--misalign-no-cache", dest="misalign_no_cache", action="store_true", default=None,
                    help="score everything with the model; neither read nor write the result cache "
                         "(<cache dir>/results.sqlite)")
    parser.addini("misalign_no_cache", "disable the result cache (true/false)", type="bool", default=False)
    group.addoption("--misalign-strict", dest="misalign_strict", action="store_true", default=None,
                    help="release-gate mode: a missing --misalign-model, a skipped task, an inconclusive "
                         "verdict or a degenerate check (e.g. a constant answer) fails the run")
    parser.addini("misalign_strict", "release-gate mode (true/false)", type="bool", default=False)
    parser.addini("misalign_data_roots", "folders (one a line, relative to the ini file) besides the rootdir and "
                  "--misalign-data-dir where suites may read data files", type="paths", default=[])
