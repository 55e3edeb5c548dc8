"""Board magics: %name, %uid, %info, %softreset, %hardreset, %gettime, %synctime."""

from __future__ import annotations

import argparse
import datetime

from ... import replies
from ...config import load_configuration
from ...device import Device
from ...errors import (
    DeviceException,
    MalformedReplyError,
    UsageError,
)
from ...hardreset import ResetStrategy, command_means
from ...transport import reset_line
from .registry import KernelServices, argument, line_magic
from .running import mount_summary

SOFTRESET_BANNER = (
    "\n"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    "!!!!!   softreset ...     !!!!!\n"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    "\n"
)


@line_magic("name", summary="Print the name of the currently connected device")
def name(kernel: KernelServices, args: argparse.Namespace) -> None:
    kernel.require_device()
    kernel.print(f"{kernel.board.name}\n")


@line_magic("uid", summary="Print the uid of the currently connected device")
def uid(kernel: KernelServices, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    kernel.print(f"{device.identity().uid}\n")


@line_magic("info", summary="Summary about connected device")
def info(kernel: KernelServices, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    ident = device.identity()
    rows = [
        ("name", kernel.board.name),
        ("url", kernel.board.url),
        ("uid", ident.uid),
        ("platform", ident.platform),
        ("implementation", f"{ident.implementation} {ident.version}"),
        ("machine", ident.machine),
    ]
    if ident.board:
        rows.append(("board", ident.board))
    if ident.circuitpython:
        rows.append(("auto-reload", _autoreload(device)))
    if (mounted := mount_summary(kernel.board.mount)) is not None:
        rows.append(("mount", mounted))
    kernel.print("".join(f"{key:15} {value}\n" for key, value in rows))


def _autoreload(device: Device) -> str:
    """CircuitPython's auto-reload (`supervisor.runtime.autoreload`: a
    change on its drive restarts the program), as %info shows it."""
    try:
        value = device.helpers.autoreload()
    except DeviceException as exc:
        return f"unknown ({exc.exc_type})"
    if type(value) is not bool:
        raise MalformedReplyError("read auto-reload", "True or False", value)
    if not value:
        return "off"
    return "on (a file saved on its drive restarts the program; off: set it False)"


@line_magic(
    "softreset",
    summary="Reset microcontroller.",
    description="Reset the board's interpreter (variables are freed; main.py is not run).",
)
@argument("-q", "--quiet", action="store_true", help="do not print the banner")
def softreset(kernel: KernelServices, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    device.soft_reset()
    device.take_unsolicited()
    if not args.quiet:
        kernel.print(SOFTRESET_BANNER)


def _board_clock(device: Device) -> tuple[list[int], str]:
    """(y, m, d, h, mi, s) from the board and where it came from."""
    try:
        value = _clock_fields(device.helpers.rtc_datetime(), 7)
        return [value[0], value[1], value[2], value[4], value[5], value[6]], "machine.RTC"
    except DeviceException:
        value = _clock_fields(device.helpers.localtime(), 6)
        return value[:6], "time.localtime (no machine.RTC)"


def _clock_fields(value: object, count: int) -> list[int]:
    """A board's date-time tuple, checked: at least `count` integers."""
    fields = replies.items(value, "read the clock", "a date-time tuple")
    if len(fields) < count:
        raise MalformedReplyError("read the clock", f"{count} date-time fields", value)
    return [replies.integer(f, "read the clock", "date-time field", minimum=-1) for f in fields]


@line_magic("gettime", summary="Query microcontroller time")
def gettime(kernel: KernelServices, args: argparse.Namespace) -> None:
    stamp, source = _board_clock(kernel.require_device())
    y, m, d, hh, mm, ss = stamp
    kernel.print(f"{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}  ({source})\n")


@line_magic("synctime", summary="Synchronize microcontroller time to host")
@argument("--local", action="store_true", help="the host's local time instead of UTC")
def synctime(kernel: KernelServices, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    now = datetime.datetime.now(datetime.timezone.utc if not args.local else None)
    fields = (now.year, now.month, now.day, now.weekday(), now.hour, now.minute, now.second, 0)
    try:
        device.helpers.set_rtc_datetime(fields)
    except DeviceException as exc:
        raise UsageError(
            f"this board has no settable clock (machine.RTC): {exc.exc_type}: {exc.message}"
        ) from None
    kernel.print(f"Board clock set to {now:%Y-%m-%d %H:%M:%S} {'local' if args.local else 'UTC'}\n")


@line_magic(
    "hardreset",
    summary="Reset microcontroller by calling 'machine.reset()'. ",
    description=(
        "Reset the board and reconnect. Uses the board's `hard-reset` command from its "
        "device entry when there is one (a power switch, a reset line, a labgrid place), "
        "else machine.reset(); a board that does not answer gets an RTS pulse where the "
        "port has the lines."
    ),
)
@argument("-q", "--quiet", action="store_true", help="do not echo the boot output")
@argument(
    "--rts",
    action="store_true",
    help="pulse RTS (with DTR released), for boards with an ESP32-style auto-reset circuit",
)
def hardreset(kernel: KernelServices, args: argparse.Namespace) -> None:
    """Reset the board, echo its boot output until quiet, and reconnect.

    In order: the `hard-reset` command of the board's device entry (a power
    switch or reset line: works even when the firmware hangs); a fresh
    process for the unix port; `machine.reset()`; and, when the board does
    not answer, an RTS pulse where the port has the lines. `--rts` asks for
    the pulse directly. RTS is never the first choice: many ports have the
    lines with nothing on them (a Pico's native USB), and nothing would happen.
    """
    device = kernel.require_device()
    command = hard_reset_command(kernel)
    if args.rts and reset_line(device.transport) is None:
        raise UsageError(f"{kernel.board.url} has no DTR/RTS lines to pulse")
    strategy = ResetStrategy(
        device,
        external=command_means(command) if command else None,
        rts_only=args.rts,
        say=lambda text: kernel.print(text, "stderr"),
    )
    _how, boot = strategy.reset()
    if boot and not args.quiet:
        kernel.print(boot.decode("utf-8", "replace").replace("\r\n", "\n"))
    kernel.print(f"Reset {kernel.board.name}\n")


def hard_reset_command(kernel: KernelServices) -> tuple[str, ...]:
    """The `hard-reset` command of the current board's device entry, if any."""
    board = kernel.board
    entry = load_configuration().for_board(board.name, board.uid, board.url)
    return entry.hard_reset if entry is not None else ()


MAGICS = (name, uid, info, softreset, gettime, synctime, hardreset)
