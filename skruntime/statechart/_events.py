"""Event types the engine makes itself, and event-descriptor matching.

Done and delayed events use XState's names so that definitions written for
XState (``on: {"xstate.done.state.loan.review": ...}``, wildcards) behave the
same here.  Callers may not send event types in the reserved ``xstate.``
namespace; the runtime delivers delayed events itself.
"""

from __future__ import annotations

__all__ = [
    "RESERVED_PREFIX",
    "WILDCARD",
    "after_event_type",
    "done_event_type",
    "is_wildcard",
    "matches_descriptor",
]

RESERVED_PREFIX = "xstate."
WILDCARD = "*"


def done_event_type(node_id: str) -> str:
    """The event raised when the compound or parallel state ``node_id`` completes."""
    return f"xstate.done.state.{node_id}"


def after_event_type(delay: int, node_id: str) -> str:
    """The event a delayed (``after``) transition of ``node_id`` fires with."""
    return f"xstate.after.{delay}.{node_id}"


def is_wildcard(descriptor: str) -> bool:
    """True for ``*`` and partial wildcards such as ``order.*``."""
    return descriptor == WILDCARD or descriptor.endswith(".*")


def matches_descriptor(event_type: str, descriptor: str) -> bool:
    """Whether ``descriptor`` (an ``on`` key) matches ``event_type``.

    ``*`` matches everything (done and delayed events included).  A partial
    wildcard ``a.b.*`` matches when the event's dot-separated tokens start with
    ``a``, ``b``; as in XState it also matches the bare ``a.b``.  A ``*`` token
    anywhere but last makes the descriptor match nothing.
    """
    if descriptor == event_type or descriptor == WILDCARD:
        return True
    if not descriptor.endswith(".*"):
        return False
    pattern = descriptor.split(".")
    tokens = event_type.split(".")
    for i, token in enumerate(pattern):
        if token == WILDCARD:
            return i == len(pattern) - 1
        if i >= len(tokens) or tokens[i] != token:
            return False
    return True
