"""The MicroPython REPL protocol, sans-IO: no I/O, no clock, no logging here."""

from .engine import CLASSIC_LIMIT, RAW_BANNER, ExecMode, ReplEngine
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
    "CLASSIC_LIMIT",
    "NEED_DATA",
    "RAW_BANNER",
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
    "Stream",
    "UnsolicitedOutput",
]
