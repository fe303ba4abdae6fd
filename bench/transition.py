"""Engine throughput: skruntime's statechart core against XState, same run.

Runs the loan machine and a deep nested/parallel machine through
``Machine.transition`` (one core, pure Python) and, when node is present,
through xstate's own ``transition()`` and ``actor.send()`` with the same
definitions and event cycles.  Also times the fingerprint step.

    python bench/transition.py [--seconds 1.5] [--no-record]

Target (issue 2): >= 500,000 events/s on the loan machine, i.e. faster than
XState's actor.send.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import node_version, record  # noqa: E402
from machines import MACHINES  # noqa: E402

from skruntime._fingerprint import FNV_OFFSET, extend, extend_pure  # noqa: E402
from skruntime.statechart import Machine  # noqa: E402


def per_call_ns(fn, seconds: float) -> float:
    n = 1000
    while True:
        t0 = time.perf_counter_ns()
        fn(n)
        dt = time.perf_counter_ns() - t0
        if dt > seconds * 1e8 or n > 1e8:
            break
        n *= 4
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter_ns()
        fn(n)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def bench_engine(seconds: float) -> dict[str, float]:
    out = {}
    for name, (definition, cycle) in MACHINES.items():
        machine = Machine(definition)
        start = machine.initial_transition().snapshot

        def run(n: int, machine=machine, cycle=cycle, start=start) -> None:
            snapshot = start
            transition = machine.transition
            m = len(cycle)
            for i in range(n):
                snapshot = transition(snapshot, cycle[i % m]).snapshot

        out[name] = per_call_ns(run, seconds)
    return out


def bench_xstate(seconds: float) -> dict | None:
    if node_version() is None or not (HERE.parent / "tests/conformance/node_modules/xstate").exists():
        return None
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    spec = out_dir / "machines.json"
    spec.write_text(json.dumps(MACHINES))
    result = subprocess.run(["node", str(HERE / "xstate_bench.mjs"), str(spec), str(seconds)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def bench_fingerprint(seconds: float) -> dict[str, float]:
    types = ["SUBMIT_INFO", "PAY_FEE", "APPROVE", "REOPEN"]

    def memo(n: int) -> None:
        h = FNV_OFFSET
        for i in range(n):
            h = extend(FNV_OFFSET if i % 4 == 0 else h, types[i % 4])

    def pure(n: int) -> None:
        h = FNV_OFFSET
        for i in range(n):
            h = extend_pure(FNV_OFFSET if i % 4 == 0 else h, types[i % 4])

    return {"memoised": per_call_ns(memo, seconds), "byteWisePure": per_call_ns(pure, seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    engine = bench_engine(args.seconds)
    xstate = bench_xstate(args.seconds)
    fingerprint = bench_fingerprint(args.seconds)
    lines = ["| machine | skruntime ns/event | events/s | xstate transition() ns | xstate actor.send ns | ratio vs actor.send |", "|---|---|---|---|---|---|"]
    for name, ns in engine.items():
        xs = (xstate or {}).get(name)
        if xs:
            lines.append(f"| {name} | {ns:.0f} | {1e9 / ns:,.0f} | {xs['pureTransitionNs']:.0f} | {xs['actorSendNs']:.0f} | {xs['actorSendNs'] / ns:.2f}x faster |")
        else:
            lines.append(f"| {name} | {ns:.0f} | {1e9 / ns:,.0f} | n/a | n/a | n/a |")
    lines.append("")
    lines.append(f"Fingerprint step: memoised {fingerprint['memoised']:.0f} ns, byte-wise pure FNV {fingerprint['byteWisePure']:.0f} ns.")
    if xstate:
        lines.append(f"XState {next(iter(xstate.values()))['xstate']} on node {node_version()}.")
    lines.append("Target: >= 500,000 events/s on the loan machine (faster than XState's actor.send).")
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("transition (bench/transition.py)", text)


if __name__ == "__main__":
    main()
