"""Machines and event cycles shared by the engine benchmark and its node twin.

Written to bench/out/machines.json for the node side, so both run exactly the
same definitions and events.
"""

LOAN = {
    "id": "loan",
    "initial": "submitted",
    "states": {
        "submitted": {"on": {"SUBMIT_INFO": "under_review"}},
        "under_review": {"on": {"PAY_FEE": "awaiting_docs", "WAIVE_FEE": "awaiting_docs"}},
        "awaiting_docs": {"on": {"APPROVE": "approved", "REJECT": "rejected"}},
        "approved": {"on": {"REOPEN": "submitted"}},
        "rejected": {"on": {"REOPEN": "submitted"}},
    },
}
LOAN_CYCLE = ["SUBMIT_INFO", "PAY_FEE", "APPROVE", "REOPEN", "SUBMIT_INFO", "WAIVE_FEE", "REJECT", "REOPEN"]


def _region(name: str, depth: int) -> dict:
    # a chain of nested compound states, each level toggling between a/b
    node: dict = {"initial": "a", "states": {"a": {"on": {f"{name}.NEXT": "b"}, "entry": f"{name}_in"}, "b": {"on": {f"{name}.NEXT": "a"}, "exit": f"{name}_out"}}}
    for level in range(depth):
        node = {"initial": "inner", "states": {"inner": node, "side": {"on": {f"{name}.BACK": "inner"}}},
                "on": {f"{name}.SIDE{level}": ".side"}}
    return node


DEEP = {
    "id": "deep",
    "type": "parallel",
    "states": {name: _region(name, 4) for name in ("left", "mid", "right")},
    "on": {"PING": {"actions": "pong"}},
}
DEEP_CYCLE = ["left.NEXT", "mid.NEXT", "right.NEXT", "PING", "left.SIDE0", "left.BACK", "mid.SIDE3", "mid.BACK", "right.NEXT", "left.NEXT", "mid.NEXT"]

MACHINES = {"loan": (LOAN, LOAN_CYCLE), "deep": (DEEP, DEEP_CYCLE)}
