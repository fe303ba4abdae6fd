"""The README's quick start works: its command-line and Python blocks run
against ``skruntime serve`` in a child process."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.client.conftest import ADMIN_KEY, process_server  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block(kind: str) -> str:
    match = re.search(rf"<!-- quickstart:{kind} -->\s*```\w+\n(.*?)```", README, re.S)
    assert match, f"README has no quickstart:{kind} block"
    return match.group(1)


def test_the_command_line_quick_start(process_server):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    outputs = []
    for line in block("sh").splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        if command.startswith("export "):
            name, _, value = command.removeprefix("export ").partition("=")
            env[name] = {"SKRUNTIME_API_KEY": ADMIN_KEY, "SKRUNTIME_URL": process_server}.get(name, value)
            continue
        command = command.replace(".venv/bin/skruntime", f"{sys.executable} -m skruntime.cli")
        done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        outputs.append(done.stdout)
    assert "income_verify" in outputs[-2] and "history-match" in outputs[-1]


def test_the_python_quick_start(process_server):
    env = {**os.environ, "SKRUNTIME_URL": process_server, "SKRUNTIME_API_KEY": ADMIN_KEY}
    subprocess.run([sys.executable, "-m", "skruntime.cli", "deploy", "examples/loan/loan-v1.json"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    done = subprocess.run([sys.executable, "-c", block("python")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["awaiting_docs 2", "bob accepts ['APPROVE', 'REJECT']"]
