"""Sample definitions shared by the statechart tests."""

LOAN_V1 = {
    "id": "loan",
    "initial": "submitted",
    "states": {
        "submitted": {"on": {"SUBMIT_INFO": "under_review"}},
        "under_review": {"on": {"PAY_FEE": "awaiting_docs", "WAIVE_FEE": "awaiting_docs"}},
        "awaiting_docs": {"on": {"APPROVE": "approved", "REJECT": "rejected"}},
        "approved": {"type": "final"},
        "rejected": {"type": "final"},
    },
}

LOAN_V2 = {
    "id": "loan",
    "initial": "submitted",
    "states": {
        "submitted": {"on": {"SUBMIT_INFO": "under_review"}},
        "under_review": {"on": {"PAY_FEE": "income_verify", "WAIVE_FEE": "awaiting_docs"}},
        "income_verify": {"on": {"VERIFY_INCOME": "awaiting_docs"}},
        "awaiting_docs": {"on": {"APPROVE": "approved", "REJECT": "rejected"}},
        "approved": {"type": "final"},
        "rejected": {"type": "final"},
    },
}

# Every feature at once: parallel regions, deep and shallow history, eventless
# transitions, delayed transitions, wildcards, guard combinators, #id and
# .child targets, reenter, targetless transitions, onDone, entry/exit actions.
KITCHEN_SINK = {
    "id": "sink",
    "context": {"n": 0},
    "initial": "idle",
    "entry": "rootEntry",
    "states": {
        "idle": {
            "entry": [{"type": "notify", "params": {"to": "ops"}}],
            "on": {"START": {"target": "work", "actions": "started"}, "order.*": {"actions": "orderSeen"}},
            "after": {"100": {"target": "work", "guard": "autoStart"}},
        },
        "work": {
            "type": "parallel",
            "exit": "leaveWork",
            "states": {
                "fetch": {
                    "initial": "pending",
                    "states": {
                        "pending": {
                            "on": {
                                "OK": [
                                    {"target": "done", "guard": {"type": "and", "guards": ["valid", {"type": "not", "guards": ["blocked"]}]}},
                                    {"target": "retry"},
                                ]
                            },
                            "after": {"50": "retry", "20": {"actions": "tick"}},
                        },
                        "retry": {"always": {"target": "pending", "guard": {"type": "or", "guards": ["again", "force"]}}, "on": {"OK": "done"}},
                        "done": {"type": "final"},
                    },
                },
                "ui": {
                    "initial": "shown",
                    "states": {
                        "shown": {
                            "initial": "a",
                            "states": {"a": {"on": {"NEXT": "b"}}, "b": {"on": {"NEXT": "a"}}, "hist": {"type": "history", "history": "deep"}},
                            "on": {"HIDE": "hidden"},
                        },
                        "hidden": {"on": {"SHOW": "shown.hist", "*": {"actions": "ignored"}}},
                    },
                },
            },
            "onDone": {"target": "review"},
            "on": {"CANCEL": "#sink.idle", "RESET": {"target": ".fetch", "reenter": True}},
        },
        "review": {
            "initial": "check",
            "states": {
                "check": {
                    "always": [
                        {"target": "ok", "guard": {"type": "stateIn", "stateValue": "#sink.review"}},
                    ]
                },
                "ok": {"on": {"FINISH": "#sink.end", "AGAIN": {"target": "check", "reenter": True}}},
                "back": {"type": "history"},
            },
        },
        "end": {"type": "final"},
    },
    "output": {"result": "finished"},
}

EVENTS = ["START", "OK", "NEXT", "HIDE", "SHOW", "CANCEL", "RESET", "FINISH", "AGAIN", "order.created",
          "order", "UNKNOWN", "xstate.after.100.sink.idle", "xstate.after.50.sink.work.fetch.pending",
          "xstate.after.20.sink.work.fetch.pending", "SUBMIT_INFO", "PAY_FEE", "WAIVE_FEE", "APPROVE"]
GUARDS = ["valid", "blocked", "again", "force", "autoStart"]

ALL = {"loan_v1": LOAN_V1, "loan_v2": LOAN_V2, "kitchen_sink": KITCHEN_SINK}
