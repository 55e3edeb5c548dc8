"""The device layer: one board reached through one transport.

`Device` (core.py) runs operations on the board; `Exchange` (exchange.py) is
the loop and its timers under them; `BoardHelpers` (client.py) calls the
board-side helpers, one typed method each; `calls.py` says, without a board,
what a helper call is and how its reply is checked.
"""

from .calls import DeviceIdentity, board_literal
from .client import BOOT_MARK, BoardHelpers
from .core import Device
from .exchange import (
    INTERRUPT_ANSWER_TIMEOUT,
    DeviceHooks,
    OutputCallback,
    SideChannel,
)

__all__ = [
    "BOOT_MARK",
    "INTERRUPT_ANSWER_TIMEOUT",
    "BoardHelpers",
    "Device",
    "DeviceHooks",
    "DeviceIdentity",
    "OutputCallback",
    "SideChannel",
    "board_literal",
]
