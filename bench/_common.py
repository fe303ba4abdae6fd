"""Helpers shared by the benchmarks: machine description and RESULTS.md."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_info() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def node_version() -> str | None:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def record(section: str, body: str) -> None:
    """Append a dated section to bench/RESULTS.md (created if missing)."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    text = text.rstrip() + f"\n\n## {section} ({stamp})\n\nMachine: {machine_info()}\n\n{body.rstrip()}\n"
    RESULTS.write_text(text)
