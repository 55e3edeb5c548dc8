"""Transports: moving bytes to and from boards. They know no protocol byte."""

from .base import (
    Interruptible,
    Killable,
    Reopenable,
    ResetLine,
    Restartable,
    Transport,
    interruptible,
    killable,
    reopenable,
    reset_line,
    restartable,
)
from .urls import known_schemes, open_transport, register_scheme

__all__ = [
    "Interruptible",
    "Killable",
    "Reopenable",
    "ResetLine",
    "Restartable",
    "Transport",
    "interruptible",
    "killable",
    "known_schemes",
    "open_transport",
    "register_scheme",
    "reopenable",
    "reset_line",
    "restartable",
]
