"""Connecting magics: %discover, %register, %unregister, %connect, %%connect."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence

from ...config import load_configuration, load_settings
from ...discovery import all_ports, probe
from ...errors import IotKernelError, UsageError
from ...secrets import without_credentials
from ...util import sigint_handler
from ..cells import DeviceChunk, HostLine
from ..failures import CellFailed
from ..output import IncrementalText, board_text
from ..parallel import BoardRun, ParallelRun
from ..session import SIM, BoardSession, sim_url
from .registry import KernelServices, argument, cell_magic, line_magic, seconds


@line_magic("discover", summary="Discover available devices")
@argument("-a", "--all", action="store_true", help="list all devices connected to USB ports")
@argument("-v", "--verbose", action="store_true", help="show uid")
def discover(kernel: KernelServices, args: argparse.Namespace) -> None:
    settings = load_settings()
    rows: list[tuple[str, ...]]
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
        kind = f"({record.implementation})" if record.implementation else ""
        row = [record.label, kind, "  ".join(urls)]
        if args.verbose:
            row.append(f"[{record.uid}]")
        rows.append(tuple(row))
    kernel.print(_table(rows))
    for warning in kernel.registry.warnings:
        kernel.print(warning + "\n", "stderr")
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


@line_magic(
    "register",
    summary="Register device",
    epilog="For boards discovery cannot see, e.g. on a Raspberry Pi's UART.",
)
@argument("url", help="device URL, e.g. serial:///dev/serial0")
def register_url(kernel: KernelServices, args: argparse.Namespace) -> None:
    found = probe(args.url, timeout=5)
    if found.identity is None:
        shown = without_credentials(args.url)
        raise IotKernelError(f"cannot register {shown}: {found.error}")
    kernel.registry.register(args.url)
    kernel.print(f"Registered {args.url} (uid {found.identity.uid})\n")


@line_magic("unregister", summary="Unregister device")
@argument("target", help="name, uid or url")
def unregister(kernel: KernelServices, args: argparse.Namespace) -> None:
    for url in kernel.registry.unregister(args.target):
        kernel.print(f"Unregistered {url}\n")


@line_magic(
    "connect",
    summary="Connect to device by name, uid, or url",
    epilog=(
        "examples:\n"
        "  %connect sim                         the built-in virtual board\n"
        "  %connect test-esp32                  a configured board, by name\n"
        "  %connect test-esp32 ws               ... over WebREPL rather than USB\n"
        "  %connect serial:///dev/ttyACM0       a board on USB\n"
        "  %connect pico --wait 10              wait for a board to be plugged in\n"
        "  %connect esp32 --no-interrupt        watch what its program prints, undisturbed\n"
        "  serial:///dev/ttyUSB0?dtr=0&rts=0    open without pulsing an auto-reset circuit\n"
        "--no-interrupt sends nothing to the board: the cell shows the running program's\n"
        "output until ■ (or --for S), and the program runs on. The next cell that runs\n"
        "code on the board stops the program (Ctrl-C), as it must to use the REPL.\n"
    ),
)
@argument("target", help="device name, uid or url; `sim` for the virtual board")
@argument("schemes", nargs="*", help="transport order, e.g. ws serial")
@argument("--wait", type=seconds, default=0, metavar="S", help="wait up to S seconds for the board")
@argument(
    "--no-interrupt",
    action="store_true",
    help="attach to the running program: follow its output, stop nothing",
)
@argument("--for", dest="follow_for", type=seconds, default=None, metavar="S", help="follow S s")
def connect(kernel: KernelServices, args: argparse.Namespace) -> None:
    if args.follow_for is not None and not args.no_interrupt:
        raise UsageError("--for is how long --no-interrupt follows the program's output")
    found = kernel.registry.find(args.target, args.schemes, args.wait)
    kernel.board.connect_found(
        found,
        kernel.registry,
        remember=args.target,
        schemes=args.schemes,
        interrupt=not args.no_interrupt,
    )
    if found.advertised:
        kernel.print(
            f"{found.url} was known only from an advertisement: trusted from now on as "
            f"the host of {found.name} (uid {found.uid}), in {kernel.registry.known_hosts.path}\n",
            "stderr",
        )
    if not args.no_interrupt:
        kernel.print(f"Connected to {kernel.board.name} @ {kernel.board.url}\n")
        return
    kernel.print(
        f"Attached to {kernel.board.name} @ {kernel.board.url} without interrupting it; "
        "its output follows (■ stops following, the program runs on)\n"
    )
    _follow(kernel, args.follow_for)


def _follow(kernel: KernelServices, seconds_: float | None) -> None:
    """Show what the attached board prints until ■ or `seconds_` pass."""
    device = kernel.board.require_attached()
    stop = threading.Event()
    end = None if seconds_ is None else time.monotonic() + seconds_
    text = IncrementalText()
    with sigint_handler(stop.set):
        device.watch(
            lambda data: kernel.print(board_text(text.feed(data))),
            lambda: stop.is_set() or (end is not None and time.monotonic() >= end),
        )
    kernel.print(board_text(text.flush()))
    kernel.print(
        f"\nstopped following {kernel.board.name}: its program runs on until the next "
        "cell that runs code on it\n"
    )


@cell_magic(
    "connect",
    summary="Generalization of %connect to run code on several devices",
    epilog=(
        "Sequential by default: each board in turn, line magics and all.\n"
        "--parallel runs the cell's board code on every board at once, each on its\n"
        "own connection (and --timeout deadline): output comes under each board's\n"
        "header in board order, then a table of board, status and time. A board that\n"
        "fails or hangs never holds the others; ■ stops them all. Board code only:\n"
        "no line magics or shell lines in a --parallel cell, and no %autosync.\n"
        "examples:\n"
        "  %%connect --all --parallel --timeout 30\n"
        "  %%connect esp32 pico --host\n"
    ),
)
@argument("targets", nargs="*", help="device names, uids or urls")
@argument("--all", action="store_true", help="every device %%discover finds")
@argument("--host", action="store_true", help="run on the host first")
@argument("--parallel", action="store_true", help="on every board at once")
@argument(
    "--timeout", type=seconds, default=None, metavar="S", help="each board's deadline (--parallel)"
)
@argument("-q", "--quiet", action="store_true", help="no connection messages (--parallel)")
def connect_cell(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    """Run the body on each device (and the host first with --host)."""
    if not args.all and not args.targets:
        raise UsageError("%%connect needs device names, or --all (see %%connect -h)")
    if args.timeout is not None and not args.parallel:
        raise UsageError("--timeout is a deadline per board of --parallel")
    steps = kernel.parse_steps(body)
    if args.parallel and any(isinstance(step, HostLine) for step in steps):
        raise UsageError(
            "--parallel runs board code only: line magics and shell lines need one "
            "board at a time (drop --parallel)"
        )
    if args.host:
        kernel.print("----- HOST\n")
        kernel.host_shell().run_cell(body, store_history=False)
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
    if args.parallel:
        chunks = [step for step in steps if isinstance(step, DeviceChunk)]
        failures = _run_parallel(kernel, targets, chunks, args)
    else:
        failures = _run_sequentially(kernel, targets, body, args)
    if failures:
        raise IotKernelError(f"{failures} of {len(targets)} devices failed")


def _run_sequentially(
    kernel: KernelServices, targets: list[str], body: str, args: argparse.Namespace
) -> int:
    current = kernel.board
    failures = 0
    try:
        for target in targets:
            kernel.board = BoardSession(remember=False)
            try:
                kernel.board.connect_found(kernel.registry.find(target, [], 0), kernel.registry)
                # The header names the board: no connection message (the
                # original's transcript shape).
                kernel.print(f"----- {kernel.board.name}\n")
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
    return failures


def _run_parallel(
    kernel: KernelServices, targets: list[str], chunks: list[DeviceChunk], args: argparse.Namespace
) -> int:
    runs = []
    for target in targets:
        try:
            found = kernel.registry.find(target, [], 0)
            runs.append(
                BoardRun(
                    target,
                    found.url,
                    found.name or target,
                    found=found,
                    known_hosts=kernel.registry.known_hosts,
                )
            )
        except IotKernelError as exc:  # no such board: its row says so, the others run
            run = BoardRun(target, "", target, status=type(exc).__name__)
            run.say(f"{type(exc).__name__}: {exc}\n", "stderr")
            runs.append(run)

    def show(run: BoardRun) -> None:
        kernel.print(f"----- {run.name}\n")
        if not args.quiet and run.url:
            kernel.print(f"Connected to {run.name} @ {run.url}\n")
        for stream, text in run.output:
            kernel.print(text, stream)
        if run.value is not None:
            kernel.print(run.value + "\n")

    parallel = ParallelRun(runs, chunks, timeout=args.timeout)
    with sigint_handler(parallel.stop_all):
        parallel.start()
        parallel.in_order(show)
    rows = [("board", "status", "time")] + [
        (run.name, run.status, f"{run.seconds:.2f} s") for run in runs
    ]
    kernel.print("-----\n" + _table(rows))
    return sum(run.failed for run in runs)


MAGICS = (discover, register_url, unregister, connect, connect_cell)
