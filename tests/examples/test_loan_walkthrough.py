"""examples/loan/walkthrough.py runs against a real server and tells the story."""

import subprocess
import sys
from pathlib import Path

from tests.client.conftest import ADMIN_KEY, process_server  # noqa: F401 - fixture

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "loan" / "walkthrough.py"


def test_walkthrough(process_server):
    done = subprocess.run([sys.executable, str(SCRIPT), "--url", process_server, "--key", ADMIN_KEY, "--applicants", "200"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert 'alice: loan-v2 "income_verify" (migrate: history-match)' in out
    assert 'bob: loan-v1 "awaiting_docs" (stay: history-mismatch)' in out
    assert 'alice verified her income: "awaiting_docs"' in out
    assert "history-too-short" in out and "done" in out
