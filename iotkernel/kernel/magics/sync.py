"""%rdiff and %rsync: the configured host folders against the board, by content."""

from __future__ import annotations

import argparse

from ...config import load_configuration
from ...errors import UsageError
from ...fs import FileService
from ...sync import Change, Plan, apply_plan, make_plan
from .files import Progress
from .registry import KernelServices, argument, line_magic

COLORS = {"ADD": "\x1b[32m", "UPDATE": "\x1b[34m", "DELETE": "\x1b[31m"}
RESET = "\x1b[0m"


def _plan(
    kernel: KernelServices, upload_only: bool, compile_all: bool = False
) -> tuple[FileService, Plan]:
    device = kernel.require_device()
    config = load_configuration()
    entry = config.for_board(kernel.board.name, device.identity().uid, kernel.board.url)
    if entry is None:
        raise UsageError(
            f"no configuration for this board (name {kernel.board.name}, uid "
            f"{device.identity().uid}): add it to a YAML file in the devices folder "
            "(see the README, 'Device configuration')"
        )
    if not entry.resources:
        raise UsageError(f"{entry.source}: device {entry.name!r} lists no resources")
    service = FileService(device)
    plan = make_plan(service, entry, upload_only=upload_only, compile_all=compile_all)
    return service, plan


def _line(change: Change) -> str:
    source = f" (compiled from {change.local.name})" if change.compiled and change.local else ""
    return f"{COLORS[change.action]}{change.action:6}{RESET} {change.board_path}{source}\n"


MPY_HELP = "compile .py to .mpy on the host (mpy-cross), as 'mpy: true' does per resource"


@line_magic("rdiff", summary="Show differences between microcontroller and host directories")
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
        progress=Progress(kernel, "rsync") if plan.bytes_to_send() else None,
        on_change=lambda change: kernel.print(_line(change)),
    )


MAGICS = (rdiff, rsync)
