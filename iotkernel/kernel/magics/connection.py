"""Connection magics: %connect, %name, %uid, %info, %softreset."""

from __future__ import annotations

import argparse
from typing import Any

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


def register(registry: MagicRegistry) -> None:
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
