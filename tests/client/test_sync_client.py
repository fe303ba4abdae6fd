"""The sync SDK against ``skruntime serve`` running as a real process."""

import pytest

from skruntime.client import Client, EventNotHandledError, NotFoundError, ValidationError

from .conftest import ADMIN_KEY, LOAN


@pytest.fixture(scope="module")
def sk(process_server):
    with Client(process_server, api_key=ADMIN_KEY) as client:
        client.deploy("loan-v1", LOAN)
        yield client


def test_spawn_send_get_history(sk):
    sk.spawn("loan-v1", actor_id="s1", context={"k": 1})
    assert sk.send("s1", "SUBMIT_INFO", payload={"doc": 7}).state_value == "under_review"
    actor = sk.get("s1")
    assert (actor.seq, actor.context) == (1, {"k": 1})
    assert [e.payload for e in sk.history("s1")] == [{"doc": 7}]
    assert "s1" in [a.actor_id for a in sk.list_actors(version_id="loan-v1")]


def test_errors(sk):
    sk.spawn("loan-v1", actor_id="s2")
    with pytest.raises(EventNotHandledError) as info:
        sk.send("s2", "APPROVE")
    assert info.value.accepted == ["SUBMIT_INFO"]
    with pytest.raises(NotFoundError):
        sk.send("ghost", "X")
    with pytest.raises(ValidationError):
        sk.spawn("loan-v1", actor_id="bad id with spaces")


def test_idempotent_send(sk):
    sk.spawn("loan-v1", actor_id="s3")
    first = sk.send("s3", "SUBMIT_INFO", idempotency_key="once")
    again = sk.send("s3", "SUBMIT_INFO", idempotency_key="once")
    assert first == again and sk.get("s3").seq == 1


def test_preview_and_deploy(sk):
    sk.spawn("loan-v1", actor_id="s4")
    v2 = {**LOAN, "states": {**LOAN["states"], "submitted": {"on": {"SUBMIT_INFO": "under_review", "WITHDRAW": "rejected"}}}}
    preview = sk.preview("loan-v2", v2, parent_id="loan-v1")
    result = sk.deploy("loan-v2", v2, parent_id="loan-v1", expect_token=preview.preview_token)
    assert result.deployment.evaluated == preview.counts["evaluated"]
    assert sk.get("s4").version_id == "loan-v2"
    assert [d.reason for d in sk.decisions("s4")] == ["no-history-path"]


def test_every_remaining_call(sk, process_server):
    import threading

    from skruntime.client import AuthError, SendResult

    sk.spawn("loan-v1", actor_id="s5")
    results = sk.send_batch([{"actorId": "s5", "type": "SUBMIT_INFO"}, {"actorId": "s5", "type": "NOPE"}])
    assert isinstance(results[0], SendResult) and isinstance(results[1], EventNotHandledError)
    assert [v.id for v in sk.versions()][0] == "loan-v1"
    assert sk.version("loan-v1").actors["total"] >= 1
    v3 = {**LOAN, "states": {**LOAN["states"], "approved": {"type": "final", "description": "v3"}}}
    deployed = sk.deploy("loan-v3", v3, parent_id="loan-v1", history_path=["SUBMIT_INFO"])
    deployment = sk.deployment(deployed.deployment.deployment_id)
    assert deployment.evaluated == deployed.deployment.evaluated
    assert len(list(sk.deployment_decisions(deployment.deployment_id, page_size=2))) == deployment.evaluated
    key = sk.create_key("write", "sync test")
    assert key.id in {k.id for k in sk.list_keys()}
    sk.revoke_key(key.id)
    with Client(process_server, api_key=key.key) as revoked:
        with pytest.raises(AuthError):
            revoked.get("s5")
    # watch: frames arrive while another thread sends
    frames = []

    def send_later():
        with Client(process_server, api_key=ADMIN_KEY) as other:
            other.send("s5", "PAY_FEE")

    sender = threading.Timer(0.3, send_later)
    sender.start()
    for frame in sk.watch(actor_id="s5", from_seq=0):
        frames.append((frame["seq"], frame["versionId"], frame["stateValue"], frame["event"]))
        if len(frames) == 3:
            break
    sender.join()
    # the replay tells the migration to loan-v3 too, after the event it followed
    assert frames == [
        (1, "loan-v1", "under_review", "SUBMIT_INFO"),
        (1, "loan-v3", "under_review", None),
        (2, "loan-v3", "awaiting_docs", "PAY_FEE"),
    ]
