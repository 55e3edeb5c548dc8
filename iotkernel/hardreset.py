"""Resetting a board: one strategy for every reset, then a reconnect.

`ResetStrategy` (labgrid's Strategy idea) knows the means a board has and
tries them best first: `%hardreset`, the recovery of a board whose code
ignores Ctrl-C, and hil/ use it. The means, in order: a host command or
rig control that cuts the power or pulls the reset line; a new process for
the unix port; the firmware's own reset call (only for a board that
answers); an RTS pulse where the port has the lines (many ports have them
with nothing on them, as a Pico's native USB: never the first choice).

A board in a rig often has a power switch or a reset line the host can drive
(a PDU, a relay, `uhubctl` on a switchable hub, a labgrid place's `power
cycle`): the one reset that works even when the firmware hangs. Its command
comes from the board's device entry (`hard-reset:`, for `%hardreset`) or from
hil/'s `--hard-reset`. This module runs such a command: without a shell,
bounded in time, its failure one `HostCommandError` naming the command and
its last line of output.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .device import BOOT_MARK, Device
from .errors import (
    DeviceProtocolError,
    DeviceTimeoutError,
    HostCommandError,
    NoResetMeansError,
    ResetFailedError,
)
from .protocol import ExecMode
from .transport import reopenable, reset_line, restartable

RESET_COMMAND_TIMEOUT = 60.0  # a PDU's off time plus a slow network


def run_reset_command(command: Sequence[str], *, timeout: float = RESET_COMMAND_TIMEOUT) -> None:
    """Run `command` (argv) and return when it succeeded."""
    shown = shlex.join(command)
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise HostCommandError(f"hard-reset command not found: {shown}") from None
    except subprocess.TimeoutExpired:
        raise HostCommandError(
            f"hard-reset command did not finish within {timeout:.0f} s: {shown}"
        ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise HostCommandError(
            f"hard-reset command failed (exit {done.returncode}): {shown}"
            + (f": {said[-1]}" if said else "")
        )


def reconnect_after_reset(device: Device, *, quiet: float = 0.5, limit: float = 10.0) -> bytes:
    """Wait for a reset board to fall quiet, then open the link again and
    resync; what it printed while booting."""
    boot = device.wait_quiet(quiet=quiet, limit=limit)
    if reopenable(device.transport) is not None:
        device.reopen()  # a native-USB board re-enumerates: open the port again
    else:
        device.connect()
    device.take_unsolicited()
    return boot


def refusal(answer: bytes) -> str | None:
    """The error a board answered a reset (or bootloader) call with, if it
    did: the raw REPL's error frame (\\x04 then the traceback) and no boot
    banner. None when the board went on to boot (a traceback of code it runs
    at boot has no such frame before it)."""
    if BOOT_MARK in answer or b"\x04Traceback" not in answer:
        return None
    text = answer.decode("utf-8", "replace").replace("\x04", "\n")
    lines = [line.strip(" >\r") for line in text.splitlines() if line.strip(" >\r")]
    return lines[-1] if lines else "an error"


@dataclass(frozen=True)
class ResetMeans:
    """One way to reset a board: `how` completes "reset through ..."."""

    how: str
    reset: Callable[[], bytes | None]  # the boot output when it reconnected itself


def command_means(command: Sequence[str]) -> ResetMeans:
    """A board's `hard-reset` command (a power switch, a reset line)."""
    return ResetMeans(
        f"its hard-reset command ({shlex.join(command)})",
        lambda: run_reset_command(command),
    )


class ResetStrategy:
    """The means of resetting one board, tried best first, then a reconnect.

    `external`: a power switch or reset line the host drives (a command, a
    labgrid place, an emulator's reset). `firmware`: whether the board's own
    reset call may be tried (not for a board whose code ignores Ctrl-C: it
    would not run). `rts_only`: the RTS pulse and nothing else (`--rts`).
    `say` is told when a means fails and the next is tried.
    """

    def __init__(
        self,
        device: Device,
        *,
        external: ResetMeans | None = None,
        firmware: bool = True,
        rts_only: bool = False,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self._device = device
        self._external = external
        self._firmware = firmware
        self._rts_only = rts_only
        self._say = say

    def means(self) -> list[ResetMeans]:
        """The means this board has, best first."""
        device = self._device
        line = reset_line(device.transport)
        rts = (
            [ResetMeans("an RTS pulse on its serial port", lambda: line.hard_reset())]
            if line is not None
            else []
        )
        if self._rts_only:
            return rts
        if self._external is not None:
            return [self._external]
        if (process := restartable(device.transport)) is not None:
            return [ResetMeans("a new process", lambda: process.restart())]
        firmware = [ResetMeans("its firmware's reset call", self._reset_by_firmware)]
        return (firmware if self._firmware else []) + rts

    def reset(self) -> tuple[str, bytes]:
        """Reset the board and reconnect: (how it was reset, what it printed
        while booting). `NoResetMeansError` when it has no means; the last
        means' error when none worked."""
        means = self.means()
        if not means:
            raise NoResetMeansError(
                f"{self._device.url} cannot be reset from here: press its reset button "
                "(or give it a `hard-reset:` command in its device entry), then %connect again"
            )
        for index, each in enumerate(means):
            try:
                boot = each.reset()
            except (DeviceTimeoutError, DeviceProtocolError):
                if index + 1 == len(means):
                    raise
                if self._say is not None:
                    self._say(f"The board does not answer: trying {means[index + 1].how}\n")
                continue
            if boot is None:
                boot = reconnect_after_reset(self._device)
            return each.how, boot
        raise AssertionError("unreachable: the last means returns or raises")  # pragma: no cover

    def _reset_by_firmware(self) -> bytes:
        """The firmware's reset call on the board, then a reconnect; what it
        printed while booting. A board whose reset raised (no such function,
        a port that refuses) is a ResetFailedError naming the error."""
        device = self._device
        shown, call = device.helpers.reset_call()
        device.start(call, timeout=3.0, mode=ExecMode.CLASSIC)
        boot = reconnect_after_reset(device)
        if (reason := refusal(boot)) is not None:
            raise ResetFailedError(f"{device.url}: {shown} failed on the board: {reason}")
        return boot


def reset_stuck_board(device: Device, command: Sequence[str] = ()) -> str:
    """Reset a board whose code ignores Ctrl-C, and reconnect; how it was
    reset. Its firmware's own reset is not tried: its code would not run."""
    external = command_means(command) if command else None
    how, _boot = ResetStrategy(device, external=external, firmware=False).reset()
    return how
