"""Parse a task's `preamble:` and `fewshot:` (multiple-choice and free-form tasks).

    preamble: "The following are multiple choice questions (with answers) about anatomy.\\n\\n"
    fewshot:
      n: 5                     # how many shots (default 0; --misalign-num-fewshot overrides it)
      data:                    # where they come from: the task's own `data:` with these keys over it
        hf: {split: dev, local: mmlu/data/dev/anatomy_dev.csv}
      separator: "\\n\\n"        # between shots, and before the item's prompt (lm-eval's default)

`fewshot.data` is the task's `data:` with the keys given replacing the task's; inside `hf:` key by key,
so `hf: {split: dev}` is lm-eval's `fewshot_split: dev`. The task's `local:` files (and their `sha256`)
hold the task's split: they are not inherited when `path`, `name` or `split` change (give the shots'
own `local:`). A different source (`file:`, `items:`) replaces the task's. `limit`, `seed` and `where` are never inherited: the shots are the first `n` rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .context import Ctx, check_keys, require_map
from .data import parse_data
from .model import DATA_SOURCES, FEWSHOT_KEYS, FewshotSpec
from .yamlio import YamlMap

NOT_INHERITED = {"limit", "seed", "where", *DATA_SOURCES}
EXAMPLE = "e.g. `fewshot: {n: 5, data: {hf: {split: dev}}}` (the task's hub dataset, its dev split)"


def parse_preamble(ctx: Ctx, node: YamlMap) -> str:
    value = node.get("preamble", "")
    if not isinstance(value, str):
        raise ctx.error(f"must be a string, got {value!r}", key="preamble", line=node.line_of("preamble"),
                        fix='e.g. `preamble: "The following are multiple choice questions (with answers).\\n\\n"`')
    return value


def parse_fewshot(ctx: Ctx, node: YamlMap, base_dir: Path, roots: tuple[Path, ...] | None) -> FewshotSpec | None:
    if "fewshot" not in node:
        return None
    fs = require_map(ctx, node["fewshot"], "fewshot", node.line_of("fewshot"))
    check_keys(ctx, fs, FEWSHOT_KEYS, "fewshot")
    n = fs.get("n", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ctx.error(f"must be a whole number of shots (0 or more), got {n!r}", key="fewshot.n",
                        line=fs.line_of("n"), fix=EXAMPLE)
    separator = fs.get("separator", "\n\n")
    if not isinstance(separator, str):
        raise ctx.error(f"must be a string, got {separator!r}", key="fewshot.separator",
                        line=fs.line_of("separator"), fix='the default is "\\n\\n" (a blank line)')
    if "data" not in fs:
        raise ctx.error("missing required key 'data' (where the shots come from)", key="fewshot.data",
                        line=fs.line, fix=EXAMPLE)
    given = require_map(ctx, fs["data"], "fewshot.data", fs.line_of("data"))
    merged = _over(node.get("data"), given)
    return FewshotSpec(data=parse_data(Ctx(ctx.path, ctx.task, within="fewshot"), merged, fs.line_of("data"), base_dir, roots), n=n,
                       separator=separator)


def _over(task_data: Any, given: YamlMap) -> YamlMap:
    """The task's `data:` mapping with `given` over it (see the module doc)."""
    base = dict(task_data) if isinstance(task_data, dict) else {}
    if isinstance(base.get("hf"), str):  # `hf: owner/name`
        base["hf"] = {"path": base["hf"]}
    merged = YamlMap({k: v for k, v in base.items() if k not in NOT_INHERITED})
    merged.line = given.line
    merged.key_lines = {**getattr(task_data, "key_lines", {}), **getattr(given, "key_lines", {})}
    own = [k for k in DATA_SOURCES if k in given]
    if not own and "hf" in base:
        given = YamlMap({**given, "hf": {}})
    for key, value in given.items():
        both_hf = key == "hf" and isinstance(value, dict) and isinstance(base.get("hf"), dict)
        merged[key] = _merge_hf(base["hf"], value) if both_hf else value
    return merged


def _merge_hf(task_hf: dict, given: dict) -> YamlMap:
    """The task's `hf:` with `given` over it, key by key; the task's files and checksums stay behind
    when they cannot be the shots' (another split, config or dataset; another `local:`)."""
    hf = YamlMap({**task_hf, **given})
    if "local" not in given and any(k in given for k in ("path", "name", "split")):
        for k in ("local", "sha256", "partial"):  # the task's files hold the task's split, not this one
            hf.pop(k, None)
    if "local" in given and "sha256" not in given:
        hf.pop("sha256", None)  # the task's checksums are of the task's files
    hf.line = getattr(given, "line", None) or getattr(task_hf, "line", None)
    hf.key_lines = {**getattr(task_hf, "key_lines", {}), **getattr(given, "key_lines", {})}
    return hf
