"""The SPEC's loan story, end to end, through the Python SDK.

    python examples/loan/walkthrough.py --url http://127.0.0.1:8640 --key sk_...

1. deploy loan-v1;
2. spawn a few hundred applicants; some pay the fee, some have it waived,
   some have only submitted, some are already approved (Alice pays, Bob is
   waived);
3. preview loan-v2 (parent loan-v1, historyPath SUBMIT_INFO, PAY_FEE): only
   those who paid get the new income verification step;
4. deploy exactly what the preview showed (its token);
5. show where Alice and Bob are, and why.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

from skruntime.client import Client

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SKRUNTIME_URL", "http://127.0.0.1:8640"))
    parser.add_argument("--key", default=os.environ.get("SKRUNTIME_API_KEY"))
    parser.add_argument("--applicants", type=int, default=300)
    parser.add_argument("--suffix", default="", help="appended to version and actor ids, to run the story twice")
    args = parser.parse_args()
    v1_body = json.loads((HERE / "loan-v1.json").read_text())
    v2_body = json.loads((HERE / "loan-v2.json").read_text())
    v1, v2 = v1_body["id"] + args.suffix, v2_body["id"] + args.suffix

    with Client(args.url, api_key=args.key) as sk:
        sk.deploy(v1, v1_body["definition"])
        print(f"deployed {v1}")

        rnd = random.Random(7)
        stories = {"alice": ["SUBMIT_INFO", "PAY_FEE"], "bob": ["SUBMIT_INFO", "WAIVE_FEE"]}
        kinds = [["SUBMIT_INFO", "PAY_FEE"], ["SUBMIT_INFO", "WAIVE_FEE"], ["SUBMIT_INFO"], ["SUBMIT_INFO", "PAY_FEE", "APPROVE"]]
        for i in range(args.applicants):
            stories[f"applicant-{i:04d}"] = rnd.choice(kinds)
        for name in stories:
            sk.spawn(v1, actor_id=name + args.suffix, context={"applicant": name})
        events = [{"actorId": name + args.suffix, "type": t} for name, kind in stories.items() for t in kind]
        for start in range(0, len(events), 1000):
            for result in sk.send_batch(events[start : start + 1000]):
                if isinstance(result, Exception):
                    raise result
        print(f"spawned {len(stories)} applicants and sent {len(events)} events")

        preview = sk.preview(v2, v2_body["definition"], parent_id=v1, history_path=v2_body["historyPath"])
        counts = preview.counts
        print(f"preview {v2}: {counts['migrated']} would migrate, {counts['stayed']} would stay {counts['byReason']}")
        landings: dict[str, int] = {}
        for item in preview.would_migrate:
            landings[json.dumps(item["to"])] = landings.get(json.dumps(item["to"]), 0) + 1
        print(f"  landing states: {landings}")

        result = sk.deploy(v2, v2_body["definition"], parent_id=v1, history_path=v2_body["historyPath"],
                           expect_token=preview.preview_token)
        assert result.deployment is not None
        print(f"deployed {v2} as {result.deployment.deployment_id}: {result.deployment.migrated} migrated, "
              f"{result.deployment.stayed} stayed")

        for name in ("alice", "bob"):
            actor = sk.get(name + args.suffix)
            [decision] = sk.decisions(name + args.suffix)
            print(f"{name}: {actor.version_id} {json.dumps(actor.state_value)} ({decision.decision}: {decision.reason})")
        sk.send("alice" + args.suffix, "VERIFY_INCOME")
        print(f"alice verified her income: {json.dumps(sk.get('alice' + args.suffix).state_value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
