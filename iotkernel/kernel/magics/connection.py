"""Connection magics: %connect, %name, %uid, %info, %softreset."""

from __future__ import annotations

import argparse
from typing import Any

from .registry import MagicParser, MagicRegistry

SOFTRESET_BANNER = (
    "\n"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    "!!!!!   softreset ...     !!!!!\n"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    "\n"
)


def connect(kernel: Any, args: argparse.Namespace) -> None:
    kernel.board.connect(args.target)
    kernel.print(f"Connected to {kernel.board.name} @ {kernel.board.url}\n")


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


def _connect_args(parser: MagicParser) -> None:
    parser.add_argument("target", help="device URL, or `sim` for the built-in virtual board")


def register(registry: MagicRegistry) -> None:
    registry.add(
        "connect",
        "line",
        "Connect to device by name, uid, or url",
        connect,
        configure=_connect_args,
        epilog=(
            "examples:\n"
            "  %connect sim                         the built-in virtual board\n"
            "  %connect serial:///dev/ttyACM0       a board on USB\n"
            "  %connect ws://192.168.4.1:8266       a board over WebREPL\n"
        ),
    )
    registry.add("name", "line", "Print the name of the currently connected device", name)
    registry.add("uid", "line", "Print the uid of the currently connected device", uid)
    registry.add("info", "line", "Summary about connected device", info)
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
