"""The routing pass: ns per actor for the C kernel and its Python twin.

Builds one shard's resident fingerprint columns for N actors with histories
of 3-20 events (half of them starting with the routed path) and times one
pass for a path of length 2, in the same run for the C kernel and the pure
Python reference.

    python bench/route.py [--actors 50000 1000000] [--no-record]

Target (issue 5): at most 5 ns per actor at 1,000,000 actors.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import record  # noqa: E402

from skruntime._native_loader import native_status  # noqa: E402
from skruntime._routing import MATCH, TOO_SHORT, Resident, route, route_pure  # noqa: E402

PATH = ["SUBMIT_INFO", "PAY_FEE"]
OTHER_TYPES = ["WAIVE_FEE", "APPROVE", "REJECT", "UPLOAD", "VERIFY", "NOTE"]


def build(n: int, seed: int = 1) -> Resident:
    rnd = random.Random(seed)
    resident = Resident(32)
    for i in range(n):
        length = rnd.randint(3, 20)
        history = (PATH if i % 2 == 0 else ["SUBMIT_INFO", "WAIVE_FEE"]) + [rnd.choice(OTHER_TYPES) for _ in range(length - 2)]
        resident.update(f"a{i}", 1, [(t,) for t in history], length, False)
    return resident


def time_pass(resident: Resident, fn, repeat: int) -> float:
    from skruntime._routing import prefix_hashes

    prefix = prefix_hashes(PATH)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        out = fn(resident.columns, resident.lengths, resident.versions, 1, len(PATH), prefix)
        best = min(best, time.perf_counter_ns() - t0)
    assert sum(1 for v in out if v in (MATCH, TOO_SHORT)) == (len(resident) + 1) // 2
    return best / len(resident)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    lines = [f"Kernel: {native_status()}.", "", "| actors | C pass ns/actor | Python twin ns/actor | speed-up |", "|---|---|---|---|"]
    for n in args.actors:
        resident = build(n)
        native = time_pass(resident, route, 20) if route is not route_pure else float("nan")
        pure = time_pass(resident, route_pure, 1 if n > 100_000 else 3)
        lines.append(f"| {n:,} | {native:.2f} | {pure:.1f} | {pure / native:,.0f}x |")
    lines.append("")
    lines.append("Target: <= 5 ns per actor at 1,000,000 actors. Layout: one contiguous uint64 column per history depth.")
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("route (bench/route.py)", text)


if __name__ == "__main__":
    main()
