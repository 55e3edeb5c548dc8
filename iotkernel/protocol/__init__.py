"""The MicroPython REPL protocol, sans-IO: no I/O, no clock, no logging here.

`engine.py` is the host side as a state machine, `states.py` its table of
states, `events.py` what it reports, `wire.py` the protocol's bytes.
"""

from .engine import ExecMode, ReplEngine
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
from .states import ALWAYS_ALLOWED, STATES, StateRule
from .wire import CLASSIC_LIMIT, RAW_BANNER

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
