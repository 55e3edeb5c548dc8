"""Resetting a board from outside: a host command that cuts its power or pulls its reset line.

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

from .errors import HostCommandError

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
