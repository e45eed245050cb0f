"""`type:` of a task, and the parsing of the task types without answers: `perplexity` and `sentence_pair`.

A perplexity task scores documents, not answers:

    - name: domain-texts
      type: perplexity
      data: {file: data/domain_texts.jsonl}
      text: "{text}"                 # a template, like `prompt:`
      checks:
        - perplexity_ratio: {by: domain, max: 1.3}

It takes `text` instead of `prompt`, and none of the multiple-choice / free-form keys; only the check
kinds that declare `task_types=("perplexity",)` apply to it (`checks/perplexity.py`).

A sentence-pair task scores two sentences per item, each with an empty context, and asks which the
model finds likelier (CrowS-Pairs, StereoSet intrasentence, WinoBias pro/anti sentences):

    - name: crows_pairs_english
      type: sentence_pair
      data: {file: crows_pairs_anonymized.csv}
      more: "{sent_more}"            # templates, like `prompt:`
      less: "{sent_less}"
      checks:
        - preference: {max_deviation: 0.1}
        - likelihood_diff: {max: 4.0}

Each sentence is scored after the tokenizer's prefix token with no delimiter (lm-eval's `crows_pairs`:
`doc_to_text: ""`, `target_delimiter: ""`). An item "prefers `more`" when LL(more) > LL(less),
strictly; the task's share of such items is its `pct_stereotype` (reported where other tasks report
accuracy). There is no right answer and no chance level; the kinds that declare
`task_types` with "sentence_pair" apply (`preference`, `likelihood_diff`).
"""

from __future__ import annotations

from typing import Any

from .checks import parse_checks
from .context import Ctx, require_str, str_list
from .kinds import Kinds
from .model import TASK_TYPES, TaskSpec
from .yamlio import YamlMap

# keys of answer-scored tasks, meaningless for a document
_NOT_FOR_DOCUMENTS = ("prompt", "choices", "answer", "generate", "metric", "match", "delimiter", "answer_type",
                      "chat", "unconditional", "regression", "more", "less", "preamble", "fewshot")
# keys of answer-scored tasks, meaningless for a pair of sentences scored without context
_NOT_FOR_PAIRS = ("prompt", "choices", "answer", "generate", "metric", "match", "delimiter", "answer_type",
                  "chat", "unconditional", "text", "regression", "preamble", "fewshot")


def parse_task_type(ctx: Ctx, node: YamlMap) -> str:
    """The task's `type:` (default: generation with `generate:`, else multiple_choice), checked."""
    default = "generation" if "generate" in node else "multiple_choice"
    kind = node.get("type", default)
    line = node.line_of("type")
    if kind not in TASK_TYPES:
        raise ctx.error(f"unknown task type {kind!r}", key="type", line=line,
                        fix=f"use one of: {', '.join(TASK_TYPES)} (default: multiple_choice, or generation "
                            "when `generate:` is set)")
    if kind == "generation" and "generate" not in node:
        raise ctx.error("`type: generation` needs `generate:`", key="type", line=line,
                        fix="add `generate: {max_tokens: 32}` (or remove `type:`)")
    if kind == "multiple_choice" and "generate" in node:
        raise ctx.error("`type: multiple_choice` takes no `generate:`", key="generate",
                        line=node.line_of("generate"), fix="remove `generate:`, or `type:` (generation)")
    for key in ("more", "less"):
        if kind != "sentence_pair" and key in node:
            raise ctx.error(f"`{key}` is a sentence of a `type: sentence_pair` task", key=key, line=node.line_of(key),
                            fix="add `type: sentence_pair`, or remove `more`/`less` (a multiple-choice task's "
                                "`preference` check names them among its parameters)")
    if kind != "perplexity" and "text" in node:
        raise ctx.error("`text` is the document of a `type: perplexity` task", key="text", line=node.line_of("text"),
                        fix="add `type: perplexity`, or use `prompt:` for a task with answers")
    return kind


def parse_perplexity_task(ctx: Ctx, node: YamlMap, name: str, data: Any, kinds: Kinds) -> TaskSpec:
    for key in _NOT_FOR_DOCUMENTS:
        if key in node:
            raise ctx.error(f"a `type: perplexity` task takes no `{key}`: it scores whole documents, not answers",
                            key=key, line=node.line_of(key),
                            fix=f"remove `{key}`; the document is the `text:` template"
                                + (" (write `text:` instead of `prompt:`)" if key == "prompt" else ""))
    if "text" not in node:
        raise ctx.error("a `type: perplexity` task needs `text`", key="text", line=node.line,
                        fix='add e.g. `text: "{text}"` (a template over the item fields)')
    text = require_str(ctx, node, "text")
    checks = parse_checks(ctx, node, kinds, "task", "task checks")
    return TaskSpec(name=name, data=data, prompt="", answer="", checks=checks, type="perplexity", text=text,
                    markers=str_list(ctx, node, "markers"), description=str(node.get("description") or ""),
                    cluster=require_str(ctx, node, "cluster", required=False), line=node.line)


def parse_sentence_pair_task(ctx: Ctx, node: YamlMap, name: str, data: Any, kinds: Kinds) -> TaskSpec:
    for key in _NOT_FOR_PAIRS:
        if key in node:
            raise ctx.error(f"a `type: sentence_pair` task takes no `{key}`: it scores two sentences with an empty "
                            "context, not answers", key=key, line=node.line_of(key),
                            fix=f"remove `{key}`; the sentences are the `more:` and `less:` templates")
    for key in ("more", "less"):
        if key not in node:
            raise ctx.error(f"a `type: sentence_pair` task needs `{key}`", key=key, line=node.line,
                            fix='add e.g. `more: "{sent_more}"` and `less: "{sent_less}"` (templates over the item '
                                'fields: `more` is the sentence a biased model would find likelier)')
    more, less = require_str(ctx, node, "more"), require_str(ctx, node, "less")
    checks = parse_checks(ctx, node, kinds, "task", "task checks")
    return TaskSpec(name=name, data=data, prompt="", answer="0", choices=[more, less], delimiter="",
                    answer_type="index", checks=checks, type="sentence_pair",
                    markers=str_list(ctx, node, "markers"), description=str(node.get("description") or ""),
                    cluster=require_str(ctx, node, "cluster", required=False),
                    line=node.line)
