"""The operator commands that talk to a server, through the real entry point
(``python -m skruntime.cli``), against ``skruntime serve`` in a child process."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests import serverproc
from tests.client.conftest import ADMIN_KEY, LOAN, process_server  # noqa: F401 - fixture

PAID = "SUBMIT_INFO,PAY_FEE"
LOAN_V2 = {**LOAN, "states": {**LOAN["states"], "under_review": {"on": {"PAY_FEE": "income_verify", "WAIVE_FEE": "awaiting_docs"}},
                              "income_verify": {"on": {"VERIFY_INCOME": "awaiting_docs"}}}}


@pytest.fixture(scope="module")
def cli(process_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")

    def run(*args, key=ADMIN_KEY, url=process_server, check=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKRUNTIME_")}
        env["HOME"] = str(home)
        if url is not None:
            env["SKRUNTIME_URL"] = url
        if key is not None:
            env["SKRUNTIME_API_KEY"] = key
        done = subprocess.run([sys.executable, "-m", "skruntime.cli", *args], capture_output=True, text=True, env=env, timeout=60)
        if check is not None:
            assert done.returncode == check, done.stderr + done.stdout
        return done

    run.home = home
    return run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("defs")
    (root / "loan-v1.json").write_text(json.dumps({"id": "loan-v1", "definition": LOAN}))
    (root / "loan-v2.yaml").write_text(yaml.safe_dump(LOAN_V2))
    (root / "broken.json").write_text(json.dumps({"id": "m", "initial": "a", "states": {"a": {"on": {"E": "nowhere"}}}}))
    (root / "garbage.json").write_text("{not json")
    return root


def test_the_loan_story_from_the_command_line(cli, files):
    assert "deployed" in cli("deploy", str(files / "loan-v1.json"), check=0).stdout
    spawned = json.loads(cli("spawn", "loan-v1", "--actor-id", "alice", "--context", '{"name": "alice"}', "--json", check=0).stdout)
    assert spawned["stateValue"] == "submitted"
    cli("spawn", "loan-v1", "--actor-id", "bob", check=0)
    for who, events in (("alice", ["SUBMIT_INFO", "PAY_FEE"]), ("bob", ["SUBMIT_INFO", "WAIVE_FEE"])):
        for event_type in events:
            cli("send", who, event_type, check=0)
    shown = cli("preview", str(files / "loan-v2.yaml"), "--id", "loan-v2", "--parent", "loan-v1", "--path", PAID, check=0).stdout
    assert "history-match" in shown and "income_verify" in shown and "alice" in shown and "preview token" in shown
    preview = json.loads(cli("preview", str(files / "loan-v2.yaml"), "--id", "loan-v2", "--parent", "loan-v1", "--path", PAID, "--json", check=0).stdout)
    deployed = json.loads(cli("deploy", str(files / "loan-v2.yaml"), "--id", "loan-v2", "--parent", "loan-v1", "--path", PAID,
                              "--expect-token", preview["previewToken"], "--json", check=0).stdout)
    assert deployed["created"] and deployed["deployment"]["migrated"] == 1
    assert json.loads(cli("get", "alice", "--json", check=0).stdout)["stateValue"] == "income_verify"
    decisions = json.loads(cli("decisions", "bob", "--json", check=0).stdout)
    assert [d["reason"] for d in decisions] == ["history-mismatch"]
    assert "history-mismatch" in cli("decisions", "bob", check=0).stdout
    deployment = json.loads(cli("deployment", deployed["deployment"]["deploymentId"], "--json", check=0).stdout)
    assert deployment["status"] == "complete"
    sent = json.loads(cli("send", "alice", "VERIFY_INCOME", "--guard", "ok=true", "--payload", '{"n": 1}', "--json", check=0).stdout)
    assert sent["seq"] == 3


def test_exit_codes(cli, files):
    cli("deploy", str(files / "loan-v1.json"), check=0)
    rejected = cli("send", "nobody", "X", check=1)
    assert "404 not-found" in rejected.stderr
    cli("spawn", "loan-v1", "--actor-id", "carol", check=0)
    unhandled = cli("send", "carol", "APPROVE", check=1)
    assert "accepted events: SUBMIT_INFO" in unhandled.stderr
    invalid = cli("deploy", str(files / "broken.json"), "--id", "bad", check=1)
    assert "/definition/states/a/on/E" in invalid.stderr
    problem = json.loads(cli("get", "nobody", "--json", check=1).stderr)
    assert problem["status"] == 404
    cli("deploy", str(files / "garbage.json"), "--id", "x", check=2)
    cli("deploy", str(files / "missing.json"), "--id", "x", check=2)
    cli("send", "carol", "SUBMIT_INFO", "--guard", "nonsense", check=2)
    cli("get", "carol", key="sk_" + "z" * 43, check=1)
    unreachable = cli("get", "carol", url=f"http://127.0.0.1:{serverproc.free_port()}", check=3)
    assert "cannot reach" in unreachable.stderr


def test_url_and_key_from_the_config_file(cli, process_server):
    config = cli.home / ".config" / "skruntime"
    config.mkdir(parents=True, exist_ok=True)
    (config / "cli.toml").write_text(f'url = "{process_server}"\nkey = "{ADMIN_KEY}"\n')
    try:
        cli("deploy", "/dev/null", "--id", "x", url=None, key=None, check=2)  # reached the input check
        listed = cli("get", "nobody", url=None, key=None, check=1)  # reached the server, with the key
        assert "404" in listed.stderr
        flags = cli("get", "nobody", "--url", f"http://127.0.0.1:{serverproc.free_port()}", url=None, key=None, check=3)
        assert "cannot reach" in flags.stderr  # a flag beats the file
    finally:
        (config / "cli.toml").unlink()
