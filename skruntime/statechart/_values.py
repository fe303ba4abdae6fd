"""State values: XState's shape of "where an actor is", and matching on it."""

from __future__ import annotations

from typing import Any

__all__ = ["matches_state", "to_state_value"]


def to_state_value(value: Any) -> Any:
    """A dotted string as a nested state value (``"a.b"`` -> ``{"a": "b"}``)."""
    if not isinstance(value, str) or "." not in value:
        return value
    segments = value.split(".")
    out: Any = segments[-1]
    for segment in reversed(segments[:-1]):
        out = {segment: out}
    return out


def matches_state(pattern: Any, value: Any) -> bool:
    """XState's ``matchesState(pattern, value)``: is ``pattern`` (a state
    value or dotted string) part of the state value ``value``?"""
    pattern = to_state_value(pattern)
    value = to_state_value(value)
    if isinstance(value, str):
        return isinstance(pattern, str) and pattern == value
    if isinstance(pattern, str):
        return pattern in value
    return all(key in value and matches_state(sub, value[key]) for key, sub in pattern.items())
