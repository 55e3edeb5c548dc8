"""The MicroPython REPL protocol, sans-IO: no I/O, no clock, no logging here."""

from .engine import (
    ALWAYS_ALLOWED,
    CLASSIC_LIMIT,
    RAW_BANNER,
    STATES,
    ExecMode,
    ReplEngine,
    StateRule,
)
from .events import (
    NEED_DATA,
    Event,
    ExecutionFinished,
    ExecutionStarted,
    FriendlyReplEntered,
    NeedData,
    OutputReceived,
    RawPasteRefused,
    RawReplEntered,
    SoftResetCompleted,
    State,
    Stream,
    UnsolicitedOutput,
)

__all__ = [
    "ALWAYS_ALLOWED",
    "CLASSIC_LIMIT",
    "NEED_DATA",
    "RAW_BANNER",
    "STATES",
    "Event",
    "ExecMode",
    "ExecutionFinished",
    "ExecutionStarted",
    "FriendlyReplEntered",
    "NeedData",
    "OutputReceived",
    "RawPasteRefused",
    "RawReplEntered",
    "ReplEngine",
    "SoftResetCompleted",
    "State",
    "StateRule",
    "Stream",
    "UnsolicitedOutput",
]
