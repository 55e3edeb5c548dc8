"""Resetting a board from outside: a host command that cuts its power or pulls its reset line.

Also the reset of a board whose code does not stop (firmware that ignores
Ctrl-C while code runs): through the best means the board has, then a
reconnect.

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
from collections.abc import Sequence

from .device import BOOT_MARK, Device
from .errors import HostCommandError, NoResetMeansError, ResetFailedError
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


def reset_by_firmware(device: Device) -> bytes:
    """The firmware's reset call on the board, then a reconnect; what it
    printed while booting. A board whose reset raised (no such function, a
    port that refuses) is a ResetFailedError naming the error, not a reset."""
    shown, call = device.helpers.reset_call()
    device.start(call, timeout=3.0, mode=ExecMode.CLASSIC)
    boot = reconnect_after_reset(device)
    if (reason := refusal(boot)) is not None:
        raise ResetFailedError(f"{device.url}: {shown} failed on the board: {reason}")
    return boot


def reset_stuck_board(device: Device, command: Sequence[str] = ()) -> str:
    """Reset a board whose code ignores Ctrl-C, and reconnect; how it was reset.

    In order: the board's `hard-reset` command (a power switch or reset
    line), a new process for the unix port, an RTS pulse where the port has
    DTR/RTS lines. Raises `NoResetMeansError` when there is none, and the
    reset's and the reconnect's own errors.
    """
    if command:
        run_reset_command(command)
        how = f"its hard-reset command ({shlex.join(command)})"
    elif (process := restartable(device.transport)) is not None:
        process.restart()
        how = "a new process"
    elif (line := reset_line(device.transport)) is not None:
        line.hard_reset()
        how = "an RTS pulse on its serial port"
    else:
        raise NoResetMeansError(
            f"{device.url} does not stop and there is no way to reset it from here: "
            "press its reset button (or give it a `hard-reset:` command in its device "
            "entry), then %connect again"
        )
    reconnect_after_reset(device)
    return how
