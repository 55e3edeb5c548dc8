"""%rdiff, %rsync and %autosync: the configured host folders against the board, by content.

`%autosync on` installs an `AutoSync` among the kernel's steps before board
code (`KernelServices.before_board_code`): the kernel calls it before the
first board code of every cell, on each board the cell runs code on: one
hashed listing when nothing changed, the changes shown when something did.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import ClassVar

from ...config import load_configuration
from ...errors import ReplyTooLargeError, UsageError
from ...files import FileService
from ...sync import Change, Plan, apply_plan, make_plan
from .files import ProgressBar
from .registry import KernelServices, argument, line_magic


class NoConfigurationError(UsageError):
    """The current board has no entry in the devices folder (or no resources)."""


COLORS = {"ADD": "\x1b[32m", "UPDATE": "\x1b[34m", "DELETE": "\x1b[31m"}
RESET = "\x1b[0m"


def _plan(
    kernel: KernelServices, upload_only: bool, compile_all: bool = False
) -> tuple[FileService, Plan]:
    device = kernel.require_device()
    config = load_configuration()
    entry = config.for_board(kernel.board.name, device.identity().uid, kernel.board.url)
    if entry is None:
        raise NoConfigurationError(
            f"no configuration for this board (name {kernel.board.name}, uid "
            f"{device.identity().uid}): add it to a YAML file in the devices folder "
            "(see the README, 'Device configuration')"
        )
    if not entry.resources:
        raise NoConfigurationError(f"{entry.source}: device {entry.name!r} lists no resources")
    service = kernel.require_files()
    plan = make_plan(service, entry, upload_only=upload_only, compile_all=compile_all)
    return service, plan


def _line(change: Change) -> str:
    source = f" (compiled from {change.local.name})" if change.compiled and change.local else ""
    return f"{COLORS[change.action]}{change.action:6}{RESET} {change.board_path}{source}\n"


MPY_HELP = "compile .py to .mpy on the host (mpy-cross), as 'mpy: true' does per resource"


@line_magic(
    "rdiff",
    summary="Show differences between microcontroller and host directories",
    epilog="Shows what %rsync would do: ADD, UPDATE, DELETE lines, or 'Directories match'.\n"
    "With --mpy, foo.py is compared, compiled, with the board's foo.mpy.\n"
    "examples:\n  %rdiff\n  %rdiff --mpy -u",
)
@argument("-u", "--upload-only", action="store_true", help="only add and update, never delete")
@argument("--mpy", action="store_true", help=MPY_HELP)
def rdiff(kernel: KernelServices, args: argparse.Namespace) -> None:
    _, plan = _plan(kernel, args.upload_only, args.mpy)
    if plan.empty:
        kernel.print("Directories match\n")
    for change in plan.changes:
        kernel.print(_line(change))


@line_magic(
    "rsync",
    summary="Synchronize microcontroller to host directories",
    epilog=(
        "Compares by content hash (computed on the board), uploads verified and\n"
        "atomically, deletes only inside the directories the configuration manages.\n"
        "With --mpy (or 'mpy: true' on a resource) foo.py goes up as foo.mpy, compiled\n"
        "for the board's bytecode version; main.py and boot.py stay source.\n"
        "Example: %rsync --mpy -n"
    ),
)
@argument("-u", "--upload-only", action="store_true", help="only add and update, never delete")
@argument("-n", "--dry-run", action="store_true", help="show, change nothing")
@argument("--mpy", action="store_true", help=MPY_HELP)
def rsync(kernel: KernelServices, args: argparse.Namespace) -> None:
    service, plan = _plan(kernel, args.upload_only, args.mpy)
    if plan.empty:
        kernel.print("Directories match\n")
        return
    if args.dry_run:
        for change in plan.changes:
            kernel.print(_line(change))
        return
    apply_plan(
        service,
        plan,
        progress=ProgressBar(kernel, "rsync") if plan.bytes_to_send() else None,
        on_change=lambda change: kernel.print(_line(change)),
    )


AUTOSYNC = "autosync"  # its name among the kernel's steps before board code


@dataclass
class AutoSync:
    """What `%autosync on` asked for, and what it has done since; the kernel
    calls it before each cell's first code on a board (`BeforeBoardCode`)."""

    failure_hint: ClassVar[str] = "%autosync off runs cells without syncing"

    compile_all: bool = False
    upload_only: bool = False
    checks: int = 0  # cells it looked before
    files_sent: int = 0
    last: str = "nothing yet"
    unconfigured: set[str] = field(default_factory=set)  # boards told once

    def __call__(self, kernel: KernelServices) -> None:
        sync_before_cell(kernel, self)

    def describe(self) -> str:
        how = [
            w for w, on in (("compiled", self.compile_all), ("upload only", self.upload_only)) if on
        ]
        flags = f" ({', '.join(how)})" if how else ""
        return (
            f"autosync is on{flags}: before each cell that runs code on a board, the "
            f"board's configured resources are synced.\n{self.checks} checks, "
            f"{self.files_sent} files changed; last: {self.last}\n"
        )


def _sync(kernel: KernelServices, state: AutoSync) -> None:
    service, plan = _plan(kernel, state.upload_only, state.compile_all)
    state.checks += 1
    if plan.empty:
        state.last = f"{kernel.board.name}: nothing changed"
        return
    apply_plan(
        service,
        plan,
        progress=ProgressBar(kernel, "autosync") if plan.bytes_to_send() > 4096 else None,
        on_change=lambda change: kernel.print(f"autosync: {_line(change)}"),
    )
    state.files_sent += len(plan.changes)
    state.last = f"{kernel.board.name}: {len(plan.changes)} changes"


def sync_before_cell(kernel: KernelServices, state: AutoSync) -> None:
    """Bring the current board up to date with its configured folders before
    a cell's code runs on it. A board with no configuration is left alone
    (said once); any other failure raises, so stale code never runs."""
    try:
        _sync(kernel, state)
    except ReplyTooLargeError as exc:
        # The board's listing passed a bound: nothing was changed on it, and
        # the cell runs as it would without %autosync.
        kernel.print(f"autosync: skipped: {exc}\n", "stderr")
    except NoConfigurationError as exc:
        name = kernel.board.name or kernel.board.url or "?"
        if name not in state.unconfigured:
            state.unconfigured.add(name)
            kernel.print(f"autosync: {name} not synced: {exc}\n", "stderr")


@line_magic(
    "autosync",
    summary="Sync the configured folders to the board before each cell",
    epilog=(
        "on: syncs now, then before every cell that runs code on a board (a cell\n"
        "with board code, %run, each board of %%connect), as %rsync does, showing\n"
        "what it sent; when nothing changed it costs one round trip. A failed sync\n"
        "fails the cell, so stale code never runs (a board whose listing passes the\n"
        "host's bounds, 20,000 entries or 8 MB, is skipped, said, and the cell runs).\n"
        "Off by default.\n"
        "examples:\n"
        "  %autosync on --mpy     compile .py to .mpy as they go up\n"
        "  %autosync status\n"
        "  %autosync off"
    ),
)
@argument("state", choices=("on", "off", "status"), help="turn on, off, or show what it did")
@argument("-u", "--upload-only", action="store_true", help="only add and update, never delete")
@argument("--mpy", action="store_true", help=MPY_HELP)
def autosync(kernel: KernelServices, args: argparse.Namespace) -> None:
    current = kernel.before_board_code.get(AUTOSYNC)
    if args.state == "status":
        kernel.print(current.describe() if isinstance(current, AutoSync) else "autosync is off\n")
        return
    if args.state == "off":
        kernel.before_board_code.pop(AUTOSYNC, None)
        kernel.print("autosync is off\n")
        return
    state = AutoSync(compile_all=args.mpy, upload_only=args.upload_only)
    kernel.require_device()
    _sync(kernel, state)  # now: a wrong configuration shows here, not in the next cell
    kernel.before_board_code[AUTOSYNC] = state
    kernel.print(f"autosync is on for {kernel.board.name}; {state.last}\n")


MAGICS = (rdiff, rsync, autosync)
