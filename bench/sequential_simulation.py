"""The sequential gate (`--misalign-gate=sequential`) by seeded simulation: its type-I error under
continuous monitoring for every check kind, and its power and items saved against the fixed-n
`confident` gate across effect sizes.

    python bench/sequential_simulation.py [--runs 2000] [--power-runs 400] [--jobs 2] [--out FILE]
    python bench/sequential_simulation.py --kinds likelihood_diff --skip-power --out FILE  # one kind

(a) Type-I: each check kind on a synthetic task whose truth sits exactly at the check's threshold
(tests/sim_sequential.py `KINDS`), `--n` items, the default chunk, looked at after every chunk; the
rate of confident verdicts (pass or fail -- both wrong there) with its 95 % Wilson upper bound.
(b) Power: `accuracy: {min: 0.6}` at N = 200 and 1000 for true accuracies 0.5 ... 0.95, and a
2-group `gap: {max: 0.1}` at true gaps 0 ... 0.3: P(pass), P(fail) of the sequential gate and of
the fixed-n gate (Wilson / Newcombe at 0.95 on all items, the same outcomes), and the mean share of
items the sequential gate scored. Writes markdown to `--out` (bench/results/sequential_simulation.md).
Runs that raise are counted (and where) instead of stopping the bench.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import sim_sequential as sim  # noqa: E402  (tests/sim_sequential.py)

from pytest_misalign.stats import wilson_interval  # noqa: E402

ACCURACIES = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 0.95)
GAPS = (0.0, 0.05, 0.1, 0.2, 0.3)
POWER_SIZES = (200, 1000)
BLOCK = 10  # runs per job

_CASES: dict[tuple, sim.Case] = {}


def build(spec: tuple) -> sim.Case:
    """("kind", name, n) | ("accuracy", n, p) | ("gap", n, gap), cached per process ("shift", n is not a
    task case: `work` runs sim.tally_shift for it)."""
    if spec not in _CASES:
        what, *args = spec
        _CASES[spec] = (sim.KINDS[args[0]](args[1]) if what == "kind" else
                        sim.accuracy_case(args[0], args[1]) if what == "accuracy" else sim.gap_case(args[0], args[1]))
    return _CASES[spec]


def work(job: tuple) -> tuple[tuple, sim.Tally, float]:
    spec, start, runs, fixed = job
    t0 = time.process_time()
    if spec[0] == "shift":
        return spec, sim.tally_shift(spec[1], runs, start=start), time.process_time() - t0
    out = sim.tally(build(spec), runs, start=start, fixed=fixed, tolerate=True)
    return spec, out, time.process_time() - t0


def run_all(specs: list[tuple], runs: int, fixed: bool, jobs: int) -> tuple[dict[tuple, sim.Tally], dict]:
    """Every spec for `runs` runs, in blocks over `jobs` processes: tallies and CPU seconds by spec."""
    todo = [(spec, start, min(BLOCK, runs - start), fixed) for spec in specs for start in range(0, runs, BLOCK)]
    tallies = {spec: sim.Tally() for spec in specs}
    seconds = {spec: 0.0 for spec in specs}
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for done, (spec, out, secs) in enumerate(pool.imap_unordered(work, todo), start=1):
            tallies[spec], seconds[spec] = tallies[spec].merge(out), seconds[spec] + secs
            print(f"\r{done}/{len(todo)} blocks", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return tallies, seconds


def run_fair(specs: list[tuple], runs: int, budget_s: float, jobs: int) -> tuple[dict[tuple, sim.Tally], dict]:
    """Up to `runs` runs of every spec within about `budget_s` seconds of wall time: the next block
    always goes to the spec with the least CPU time spent or committed (runs issued times its cost
    per run so far), so every spec gets about the same CPU time and the cheap ones many more runs.
    Runs are numbered 0, 1, ... per spec (seeded), so a longer budget only adds runs."""
    tallies = {spec: sim.Tally() for spec in specs}
    seconds = {spec: 0.0 for spec in specs}
    issued = {spec: 0 for spec in specs}
    deadline = time.perf_counter() + budget_s

    def committed(spec: tuple) -> float:
        done = tallies[spec].runs + tallies[spec].crashed
        return issued[spec] * seconds[spec] / done if done else 0.0

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        pending: list = []

        def submit() -> None:
            open_specs = [s for s in specs if issued[s] < runs]
            if not open_specs or time.perf_counter() > deadline:
                return
            spec = min(open_specs, key=lambda s: (committed(s), issued[s], specs.index(s)))
            block = min(BLOCK, runs - issued[spec])
            pending.append(pool.apply_async(work, ((spec, issued[spec], block, False),)))
            issued[spec] += block

        for _ in range(2 * jobs):
            submit()
        while pending:
            spec, out, secs = pending.pop(0).get()
            tallies[spec], seconds[spec] = tallies[spec].merge(out), seconds[spec] + secs
            submit()
    return tallies, seconds


def upper95(k: int, n: int) -> float:
    return wilson_interval(k, n, 0.95)[1] if n else 1.0


def type1_table(runs: int, n: int, jobs: int, budget_s: float, kinds: list[str] | None = None) -> list[str]:
    specs = [("kind", name, n) for name in (kinds or sim.KINDS) if name != "shift"]
    specs += [("shift", n)] if not kinds or "shift" in kinds else []
    tallies, seconds = run_fair(specs, runs, budget_s, jobs)
    lines = [f"### Type-I error at the threshold ({n} items, default chunk, up to {runs} runs per kind "
             f"within ~{budget_s:.0f} s, CPU time shared equally between kinds)", "",
             "| kind | check | truth | runs | confident (pass + fail) | rate | 95 % Wilson upper | "
             "pass | fail | by the sequence | items scored | crashed | CPU s/run |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for spec in specs:
        t = tallies[spec]
        rate = t.confident / t.runs if t.runs else float("nan")
        scored = t.scored / t.runs if t.runs else float("nan")
        if spec[0] == "shift":
            name, check, truth = sim.SHIFT_NAME, "shift", sim.SHIFT_TRUTH
        else:
            case = build(spec)
            names = case.task.spec.check_names()  # none for regression: it is a test of its own (case.extra)
            name, check, truth = case.name, names[0] if names else "regression", case.truth
        lines.append(f"| {name} | `{check}` | {truth} | {t.runs} | {t.confident} | {rate:.4f} | "
                     f"{upper95(t.confident, t.runs):.4f} | {t.passed} | {t.failed} | {t.by_sequence} | {scored:.0%} | "
                     f"{t.crashed} | {seconds[spec] / max(1, t.runs + t.crashed):.3f} |")
    total, seq = sum(t.runs for t in tallies.values()), sum(t.by_sequence for t in tallies.values())
    lines += ["", f"All kinds: {seq} of {total} runs got a confident verdict from a sequence (rate {seq / total:.4f}, "
                  f"95 % Wilson upper {upper95(seq, total):.4f}); the rest came from the final fixed-n test."]
    return lines + [""] + crash_notes(tallies)


def crash_notes(tallies: dict[tuple, sim.Tally]) -> list[str]:
    notes = [f"- `{spec}`: {count} runs raised at `{where}`"
             for spec, t in tallies.items() for where, count in sorted(t.errors.items())]
    return (["Runs that raised (excluded from the rates above):", ""] + notes + [""]) if notes else []


def power_rows(specs: list[tuple], tallies: dict, label) -> list[str]:
    rows = []
    for spec in specs:
        t = tallies[spec]
        r = max(t.runs, 1)
        rows.append(f"| {spec[1]} | {label(spec)} | {t.runs} | {t.passed / r:.3f} | {t.failed / r:.3f} | "
                    f"{t.fixed_passed / r:.3f} | {t.fixed_failed / r:.3f} | {t.scored / r:.0%} | "
                    f"{1 - t.scored / r:.0%} | {t.crashed} |")
    return rows


POWER_HEADER = ["| N | {truth} | runs | sequential P(pass) | sequential P(fail) | fixed-n P(pass) | fixed-n P(fail) "
                "| items scored (sequential, mean) | items saved | crashed |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]


def power_tables(runs: int, jobs: int) -> list[str]:
    acc = [("accuracy", n, p) for n in POWER_SIZES for p in ACCURACIES]
    gap = [("gap", n, g) for n in POWER_SIZES for g in GAPS]
    tallies, _ = run_all(acc + gap, runs, True, jobs)
    head = [POWER_HEADER[0].format(truth="true accuracy"), POWER_HEADER[1]]
    lines = [f"### Power and items saved: `accuracy: {{min: 0.6}}` ({runs} runs per row)", "", *head]
    lines += power_rows(acc, tallies, lambda s: f"{s[2]:g}")
    head = [POWER_HEADER[0].format(truth="true gap"), POWER_HEADER[1]]
    lines += ["", f"### Power and items saved: `gap: {{by: g, max: 0.1}}`, 2 equal groups at 0.6 ∓ gap/2 "
                  f"({runs} runs per row)", "", *head]
    lines += power_rows(gap, tallies, lambda s: f"{s[2]:g}")
    return lines + [""] + crash_notes(tallies)


def write(out: Path, lines: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000, help="most type-I runs per check kind (default 2000)")
    ap.add_argument("--seconds", type=float, default=420, help="wall-time budget of the type-I table (default 420)")
    ap.add_argument("--power-runs", type=int, default=100, help="runs per power-table row (default 100)")
    ap.add_argument("--n", type=int, default=300, help="items per task in the type-I table (default 300)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--kinds", nargs="*", help="type-I table for these check kinds only (tests/sim_sequential.py "
                                               "KINDS, and shift; default: all)")
    ap.add_argument("--skip-type1", action="store_true")
    ap.add_argument("--skip-power", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sequential_simulation.md")
    args = ap.parse_args(argv)
    lines = ["# Sequential gate by simulation (bench/sequential_simulation.py)", "",
             "Confidence 0.95 (α = 0.05) for every check; seeds fixed (run r: outcomes from "
             "`default_rng([0, r])`, plan seed r). The fixed-n gate is `confident` on the same outcomes.", ""]
    t0 = time.perf_counter()
    if not args.skip_type1:
        lines += type1_table(args.runs, args.n, args.jobs, args.seconds, args.kinds)
        lines.append(f"Type-I table: {time.perf_counter() - t0:.0f} s wall with {args.jobs} processes.\n")
        write(args.out, lines)  # kept should the power tables be interrupted
        print(lines[-1], file=sys.stderr)
    t1 = time.perf_counter()
    if not args.skip_power:
        lines += power_tables(args.power_runs, args.jobs)
        lines.append(f"Power tables: {time.perf_counter() - t1:.0f} s wall with {args.jobs} processes.")
        print(lines[-1], file=sys.stderr)
    write(args.out, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
