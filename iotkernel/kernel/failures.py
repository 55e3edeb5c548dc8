"""A cell that failed: its error shown once, and the cell stopped.

Owns `CellFailed` (control flow: a step failed and its error message was
sent) and what the cell shows for what ended its board code: the board's
traceback with the cell's (or the host file's) line numbers, a link that
failed (the next cell reconnects by identity), or a board that ignored the
stop button (reset through its best means and reconnected).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..device import INTERRUPT_ANSWER_TIMEOUT, Device
from ..errors import DeviceException, DeviceUnresponsiveError, IotKernelError, TransportError
from ..hardreset import reset_stuck_board
from .output import board_text

if TYPE_CHECKING:
    from .kernel import IotKernel


class CellFailed(Exception):
    """A step of the cell failed and its error message was sent; stop the cell."""

    def __init__(self, ename: str, evalue: str, tb: list[str]) -> None:
        super().__init__(ename)
        self.ename, self.evalue, self.tb = ename, evalue, tb


def cell_failure(
    kernel: IotKernel, device: Device, exc: IotKernelError, file_name: str | None = None
) -> CellFailed:
    """The cell's error for what ended its code on the board."""
    if isinstance(exc, DeviceException):
        return device_error(kernel, exc, file_name)
    if isinstance(exc, DeviceUnresponsiveError):
        return _recover_stuck_board(kernel, device, exc)
    if isinstance(exc, TransportError):
        kernel.board.lost = True  # the next cell reconnects by identity
    return kernel._send_error(type(exc).__name__, str(exc), [str(exc)])


def _recover_stuck_board(
    kernel: IotKernel, device: Device, exc: DeviceUnresponsiveError
) -> CellFailed:
    """The board ignored the stop button: reset it through the best means
    it has and reconnect, saying so in the cell, which ends as stopped."""
    from .magics.board import hard_reset_command

    kernel.print(
        f"{kernel.board.name} did not stop within "
        f"{INTERRUPT_ANSWER_TIMEOUT:.0f} s of Ctrl-C: resetting it\n",
        "stderr",
    )
    try:
        how = reset_stuck_board(device, hard_reset_command(kernel))
    except IotKernelError as failed:
        kernel.board.lost = True  # the next cell tries to reconnect
        message = f"{exc}; the reset failed: {failed}"
        return kernel._send_error(type(failed).__name__, message, [message])
    message = (
        f"{kernel.board.name} was reset through {how} and is connected again: "
        "its variables are gone"
    )
    kernel.print(message + "\n", "stderr")
    return kernel._send_error("KeyboardInterrupt", message, ["KeyboardInterrupt: " + message])


def device_error(
    kernel: IotKernel, exc: DeviceException, file_name: str | None = None
) -> CellFailed:
    traceback = exc.traceback.replace("\r\n", "\n")
    if file_name is not None:  # the code came from a host file: name it
        traceback = traceback.replace('File "<stdin>"', f'File "{file_name}"')
    lines = [board_text(line) for line in traceback.splitlines()]
    return kernel._send_error(exc.exc_type, exc.message, lines or [str(exc)])
