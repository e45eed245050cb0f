"""Command line: `pytest-misalign compare OLD.json NEW.json` (also `python -m pytest_misalign ...`)."""

from __future__ import annotations

import argparse
import json
import sys


def _drop(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (an accuracy difference), got {value:g}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytest-misalign", description="pytest-misalign tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cmp = sub.add_parser(
        "compare", help="compare two --misalign-json results files",
        description="Per task and group: accuracy old/new on the shared items, the paired difference with "
                    "Newcombe's 95% interval and McNemar's exact p, flipped items, changed check verdicts, "
                    "tasks and items in only one run. Items are compared when they have the same index and "
                    "the same prompt, choices and answer; changed items are dropped and counted. Exit 0, 1 "
                    "when an accuracy dropped by more than --max-drop and the paired 95% interval confirms it "
                    "(--rule point: any point drop beyond it; or, with --strict, a task shares no item), 2 for "
                    "unusable input files.")
    cmp.add_argument("old", metavar="OLD.json")
    cmp.add_argument("new", metavar="NEW.json")
    cmp.add_argument("--max-drop", type=_drop, default=0.02,
                     help="largest tolerated accuracy drop (old - new) per task and group (default 0.02)")
    cmp.add_argument("--rule", choices=("confident", "point"), default="confident",
                     help="confident (default): a drop beyond --max-drop is a regression when the paired interval "
                          "confirms it; point: whenever the point estimate shows it")
    cmp.add_argument("--strict", action="store_true",
                     help="exit 1 also when a task shares no item with the old run (nothing to compare)")
    out = cmp.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="GitHub markdown instead of terminal tables")
    out.add_argument("--json", action="store_true", help="the comparison as JSON")
    cmp.add_argument("--items", type=int, default=20, metavar="N",
                     help="flipped items listed per task and direction in text output (default 20)")
    return parser


def compare_command(args: argparse.Namespace) -> int:
    from .report.compare import CompareError, compare_runs
    from .report.compare_render import render

    try:
        result = compare_runs(args.old, args.new, args.max_drop, strict=args.strict, rule=args.rule)
    except CompareError as exc:
        print(f"pytest-misalign compare: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(result, markdown=args.markdown, limit=max(0, args.items)))
    return result["exit_code"]


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (exit 2) and --help (0) as a return code, like the commands
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "compare":
        return compare_command(args)
    return 2  # pragma: no cover (argparse rejects unknown commands)


if __name__ == "__main__":
    sys.exit(main())
