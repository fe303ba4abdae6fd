"""``make bench``: every benchmark in turn; each appends its figures to
bench/RESULTS.md with the date and machine."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# each records its figures by default, except store.py, which needs --append
BENCHES = [["transition.py"], ["route.py"], ["store.py", "--append"], ["events.py"], ["deploy.py"]]


def main() -> int:
    failed = []
    for name, *args in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / name), *args]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
