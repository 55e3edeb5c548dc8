"""Events the REPL engine reports, and its states.

Events are frozen dataclasses named as past-tense nouns: each says what the
device has done. Pure data: no I/O, no time, no logging.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stream(enum.Enum):
    """Which output stream of the device a chunk belongs to."""

    STDOUT = "stdout"
    STDERR = "stderr"


class State(enum.Enum):
    """Where the host-side conversation with the device stands."""

    UNSYNCED = "unsynced"  # not known: a program may run, boot output may flow
    ENTERING_RAW = "entering-raw"  # sent Ctrl-A, waiting for the raw banner
    RAW_IDLE = "raw-idle"  # at the raw prompt '>'
    PASTE_NEGOTIATING = "paste-negotiating"  # sent Ctrl-E 'A' Ctrl-A, waiting for R\x01/R\x00/ra
    PASTE_SENDING = "paste-sending"  # sending source inside the flow-control window
    PASTE_AWAITING_ACK = "paste-awaiting-ack"  # sent end of data, waiting for the device's \x04
    CLASSIC_AWAITING_OK = "classic-awaiting-ok"  # sent source + Ctrl-D, waiting for 'OK'
    STDOUT = "stdout"  # code runs; its stdout streams until \x04
    STDERR = "stderr"  # code ended; its traceback (if any) streams until \x04
    AWAITING_PROMPT = "awaiting-prompt"  # waiting for the raw prompt '>' after a run
    SOFT_RESETTING = "soft-resetting"  # sent Ctrl-D on an empty raw buffer
    LEAVING_RAW = "leaving-raw"  # sent Ctrl-B, waiting for the friendly prompt
    FRIENDLY = "friendly"  # at the friendly REPL '>>> '


@dataclass(frozen=True)
class OutputReceived:
    """Output of code the host ran, on one stream."""

    data: bytes
    stream: Stream


@dataclass(frozen=True)
class UnsolicitedOutput:
    """Bytes the device sent without a running command of ours: a program's
    prints, boot messages, a prompt, the soft-reboot banner."""

    data: bytes


@dataclass(frozen=True)
class RawReplEntered:
    """The device is at the raw REPL prompt."""


@dataclass(frozen=True)
class RawPasteRefused:
    """The device does not support raw-paste; `answer` is what it replied.

    The engine has already fallen back to classic raw execution.
    """

    answer: bytes


@dataclass(frozen=True)
class ExecutionStarted:
    """The device accepted the source and is running it."""

    raw_paste: bool


@dataclass(frozen=True)
class ExecutionFinished:
    """The code ended (normally or by an exception) and the device is back at the raw prompt.

    `soft_reset`: the code ended by SystemExit (`sys.exit()`, or a test's
    `raise SystemExit`), which firmware answers with a soft reset: the
    device is back at the raw prompt with a fresh interpreter.
    """

    soft_reset: bool = False


@dataclass(frozen=True)
class SoftResetCompleted:
    """The device's interpreter was reset and it is back at the raw prompt."""


@dataclass(frozen=True)
class FriendlyReplEntered:
    """The device is at the friendly REPL prompt '>>> '."""


class NeedData:
    """Sentinel type: the engine needs more bytes before it can report an event."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()

Event = (
    OutputReceived
    | UnsolicitedOutput
    | RawReplEntered
    | RawPasteRefused
    | ExecutionStarted
    | ExecutionFinished
    | SoftResetCompleted
    | FriendlyReplEntered
)
