"""Board magics: %name, %uid, %info, %softreset, %hardreset, %gettime, %synctime."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from ...errors import DeviceException, UsageError
from .registry import MagicRegistry

SOFTRESET_BANNER = (
    "\n"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    "!!!!!   softreset ...     !!!!!\n"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    "\n"
)


def name(kernel: Any, args: argparse.Namespace) -> None:
    kernel.require_device()
    kernel.print(f"{kernel.board.name}\n")


def uid(kernel: Any, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    kernel.print(f"{device.identity().uid}\n")


def info(kernel: Any, args: argparse.Namespace) -> None:
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
    kernel.print("".join(f"{key:15} {value}\n" for key, value in rows))


def softreset(kernel: Any, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    device.soft_reset()
    device.take_unsolicited()
    if not args.quiet:
        kernel.print(SOFTRESET_BANNER)


def _board_clock(device: Any) -> tuple[list[int], str]:
    """(y, m, d, h, mi, s) from the board and where it came from."""
    try:
        value = device.eval("__import__('machine').RTC().datetime()")
        return [value[0], value[1], value[2], value[4], value[5], value[6]], "machine.RTC"
    except DeviceException:
        value = device.eval("__import__('time').localtime()")
        return list(value[:6]), "time.localtime (no machine.RTC)"


def gettime(kernel: Any, args: argparse.Namespace) -> None:
    stamp, source = _board_clock(kernel.require_device())
    y, m, d, hh, mm, ss = stamp
    kernel.print(f"{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}  ({source})\n")


def synctime(kernel: Any, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    now = datetime.datetime.now(datetime.timezone.utc if not args.local else None)
    fields = (now.year, now.month, now.day, now.weekday(), now.hour, now.minute, now.second, 0)
    try:
        device.exec(f"__import__('machine').RTC().datetime({fields!r})")
    except DeviceException as exc:
        raise UsageError(
            f"this board has no settable clock (machine.RTC): {exc.exc_type}: {exc.message}"
        ) from None
    kernel.print(f"Board clock set to {now:%Y-%m-%d %H:%M:%S} {'local' if args.local else 'UTC'}\n")


def hardreset(kernel: Any, args: argparse.Namespace) -> None:
    """machine.reset(), or DTR/RTS where the link can; echo boot output; reconnect."""
    device = kernel.require_device()
    if device.transport.supports("restart"):
        device.transport.restart()  # the unix port: power-cycle the process
    elif device.transport.supports("hard_reset"):
        device.transport.hard_reset()
    else:
        device.launch("__import__('machine').reset()")
    boot = device.wait_quiet(quiet=0.5, limit=10.0)
    if boot and not args.quiet:
        kernel.print(boot.decode("utf-8", "replace").replace("\r\n", "\n"))
    if device.transport.supports("reopen"):
        device.reopen()  # a native-USB board re-enumerates: open the port again
    else:
        device.connect()
    device.take_unsolicited()
    kernel.print(f"Reset {kernel.board.name}\n")


def register(registry: MagicRegistry) -> None:
    registry.add("name", "line", "Print the name of the currently connected device", name)
    registry.add("uid", "line", "Print the uid of the currently connected device", uid)
    registry.add("info", "line", "Summary about connected device", info)
    registry.add("gettime", "line", "Query microcontroller time", gettime)
    registry.add(
        "synctime",
        "line",
        "Synchronize microcontroller time to host",
        synctime,
        configure=lambda p: p.add_argument(
            "--local", action="store_true", help="the host's local time instead of UTC"
        ),
    )
    registry.add(
        "hardreset",
        "line",
        "Reset microcontroller by calling 'machine.reset()'. ",
        hardreset,
        configure=lambda p: p.add_argument(
            "-q", "--quiet", action="store_true", help="do not echo the boot output"
        ),
    )
    registry.add(
        "softreset",
        "line",
        "Reset microcontroller.",
        softreset,
        configure=lambda p: p.add_argument(
            "-q", "--quiet", action="store_true", help="do not print the banner"
        ),
        description="Reset the board's interpreter (variables are freed; main.py is not run).",
    )
