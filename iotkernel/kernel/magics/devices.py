"""Device magics: %discover, %register, %unregister, %connect, %%connect."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from ...config import load_configuration
from ...discovery import all_ports, load_settings, probe
from ...errors import IotKernelError, UsageError
from ...registry import NoSuchDeviceError
from ...secrets import without_credentials
from ...util import Deadline
from ..failures import CellFailed
from ..session import SIM, BoardSession, sim_url
from .registry import MagicParser, MagicRegistry, seconds


def discover(kernel: Any, args: argparse.Namespace) -> None:
    settings = load_settings()
    if args.all:
        rows = [
            (
                p.device,
                f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else "-",
                p.serial_number or "-",
                p.manufacturer or p.description or "-",
            )
            for p in all_ports(settings)
        ]
        kernel.print(_table(rows) if rows else "no serial ports\n")
        return
    records = kernel.registry.discover(settings)
    if not records:
        kernel.print("no boards found (%discover -a lists every serial port)\n")
    rows = []
    for record in records:
        urls = [sim_url() if u == SIM else u for u in record.urls]
        row = [record.label, "  ".join(urls)]
        if args.verbose:
            row.append(f"[{record.uid}]")
        rows.append(tuple(row))
    kernel.print(_table(rows))
    if args.verbose:
        for failure in kernel.registry.failures:
            kernel.print(f"{failure.url}: {failure.error}\n", "stderr")


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


def register_url(kernel: Any, args: argparse.Namespace) -> None:
    found = probe(args.url, timeout=5)
    if found.identity is None:
        shown = without_credentials(args.url)
        raise IotKernelError(f"cannot register {shown}: {found.error}")
    kernel.registry.register(args.url)
    kernel.print(f"Registered {args.url} (uid {found.identity.uid})\n")


def unregister(kernel: Any, args: argparse.Namespace) -> None:
    for url in kernel.registry.unregister(args.target):
        kernel.print(f"Unregistered {url}\n")


def resolve(kernel: Any, target: str, schemes: list[str], wait: float) -> tuple[str, str | None]:
    """(url, configured name) for a name, uid or URL; discovers if needed."""
    if "://" in target:
        return target, None
    deadline = Deadline.after(wait)
    settings = load_settings()
    while True:
        try:
            urls = kernel.registry.resolve(target, schemes)
            break
        except NoSuchDeviceError:
            kernel.registry.discover(settings)
            try:
                urls = kernel.registry.resolve(target, schemes)
                break
            except NoSuchDeviceError:
                if deadline.expired():
                    raise
                time.sleep(0.5)
    record = next(r for r in kernel.registry.known() if urls[0] in r.urls)
    return urls[0], record.name or record.uid


def connect(kernel: Any, args: argparse.Namespace) -> None:
    url, name = resolve(kernel, args.target, args.schemes, args.wait)
    kernel.board.connect(url, name=name, remember=args.target, schemes=args.schemes)
    kernel.print(f"Connected to {kernel.board.name} @ {kernel.board.url}\n")


def connect_cell(kernel: Any, args: argparse.Namespace, body: str) -> None:
    """Run the body on each device in turn (and the host first with --host)."""
    if not args.all and not args.targets:
        raise UsageError("%%connect needs device names, or --all (see %%connect -h)")
    if args.host:
        kernel.print("----- HOST\n")
        kernel.shell.run_cell(body, store_history=False)
        # The host's prints go through ipykernel's buffered streams: sent now,
        # under their header, not after the boards' output.
        sys.stdout.flush()
        sys.stderr.flush()
    targets = list(args.targets)
    if args.all:
        kernel.registry.discover(load_settings())
        targets = [r.name or r.uid or r.urls[0] for r in kernel.registry.records]
        config = load_configuration()
        targets = [t for t in targets if t] or [d for d in config.devices]
    current = kernel.board
    failures = 0
    try:
        for target in targets:
            kernel.board = BoardSession(remember=False)
            try:
                url, name = resolve(kernel, target, [], 0)
                kernel.board.connect(url, name=name)
                kernel.print(f"----- {kernel.board.name}\n")
                if not args.quiet:
                    kernel.print(f"Connected to {kernel.board.name} @ {kernel.board.url}\n")
                kernel.run_steps(kernel.parse_steps(body))
            except CellFailed:
                failures += 1  # the error is shown; the other devices still run
            except IotKernelError as exc:
                failures += 1
                kernel.print(f"----- {target}\n{type(exc).__name__}: {exc}\n", "stderr")
            finally:
                kernel.board.close()
    finally:
        kernel.board = current
    if failures:
        raise IotKernelError(f"{failures} of {len(targets)} devices failed")


def register(registry: MagicRegistry) -> None:
    def discover_args(p: MagicParser) -> None:
        p.add_argument(
            "-a", "--all", action="store_true", help="list all devices connected to USB ports"
        )
        p.add_argument("-v", "--verbose", action="store_true", help="show uid")

    registry.add(
        "discover", "line", "Discover available devices", discover, configure=discover_args
    )
    registry.add(
        "register",
        "line",
        "Register device",
        register_url,
        configure=lambda p: p.add_argument("url", help="device URL, e.g. serial:///dev/serial0"),
        epilog="For boards discovery cannot see, e.g. on a Raspberry Pi's UART.",
    )
    registry.add(
        "unregister",
        "line",
        "Unregister device",
        unregister,
        configure=lambda p: p.add_argument("target", help="name, uid or url"),
    )

    def connect_args(p: MagicParser) -> None:
        p.add_argument("target", help="device name, uid or url; `sim` for the virtual board")
        p.add_argument("schemes", nargs="*", help="transport order, e.g. ws serial")
        p.add_argument(
            "--wait",
            type=seconds,
            default=0,
            metavar="S",
            help="wait up to S seconds for the board",
        )

    registry.add(
        "connect",
        "line",
        "Connect to device by name, uid, or url",
        connect,
        configure=connect_args,
        epilog=(
            "examples:\n"
            "  %connect sim                         the built-in virtual board\n"
            "  %connect test-esp32                  a configured board, by name\n"
            "  %connect test-esp32 ws               ... over WebREPL rather than USB\n"
            "  %connect serial:///dev/ttyACM0       a board on USB\n"
            "  %connect pico --wait 10              wait for a board to be plugged in\n"
        ),
    )

    def cell_args(p: MagicParser) -> None:
        p.add_argument("targets", nargs="*", help="device names, uids or urls")
        p.add_argument("--all", action="store_true", help="every device %%discover finds")
        p.add_argument("--host", action="store_true", help="run on the host first")
        p.add_argument("-q", "--quiet", action="store_true", help="no connection messages")

    registry.add(
        "connect",
        "cell",
        "Generalization of %connect to run code on several devices sequentially",
        connect_cell,
        configure=cell_args,
    )
