"""Code from the host without copying: %run, %mount and %umount.

%run sends a file's bytes as a cell's code goes (raw paste, output streamed,
■ stops it); %mount lets the board's own `import` and `open` reach a host
folder through the mount service (`iotkernel/mount.py`). Nothing is written
to the board's filesystem.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ...device import Device
from ...errors import UsageError
from ...files import FileError
from ...mount import MountServer
from ..cells import normalise_newlines
from .files import host_path, read_host_file
from .registry import KernelServices, argument, line_magic

# %run's largest file: source for a board, which holds far less.
MAX_RUN_SOURCE = 1024 * 1024


@line_magic(
    "run",
    summary="Run a host file on the microcontroller without copying it",
    epilog=(
        "The file runs as a cell does: output streams, the stop button stops it, and a\n"
        "traceback names the file and its lines. ARGS become sys.argv[1:] on the board.\n"
        "With -n the file is started and the cell ends at once (as mpremote run\n"
        "--no-follow); the board's next use stops it and shows what it printed.\n"
        "FILE is a regular file of UTF-8 source, at most 1 MB (a FIFO, a device or a\n"
        "directory is refused at once).\n"
        "examples:\n"
        "  %run blink.py                 run and wait for the end\n"
        "  %run -n server.py --port 80   start it and go on\n"
    ),
)
@argument("-n", "--no-follow", action="store_true", help="start the file and return at once")
@argument("file", help="host file")
@argument("args", nargs=argparse.REMAINDER, help="the program's arguments (sys.argv[1:])")
def run(kernel: KernelServices, args: argparse.Namespace) -> None:
    path = host_path(args.file)
    try:
        source = normalise_newlines(read_host_file(path, MAX_RUN_SOURCE).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FileError(f"cannot read {path} on the host: {exc}") from None
    device = kernel.require_device()
    # sys.argv set in a step of its own: a line put before the file's
    # would shift the line numbers its tracebacks show.
    device.helpers.set_argv([path.name, *args.args])
    if args.no_follow:
        kernel.start_on_board(source)
        kernel.print(f"{path.name} started on the board (%run -n): it runs until the next cell\n")
    else:
        kernel.run_on_board(source, str(path))


@line_magic(
    "mount",
    summary="Make a host folder a filesystem of the board, without copying",
    epilog=(
        "The folder appears at /remote (cwd there, first on sys.path): `import mod` runs\n"
        "the host's current mod.py, open() reads and writes host files (a write lands\n"
        "when the file is closed, whole). Paths cannot leave the folder; symlinks that\n"
        "point out of it are refused unless -l. Survives %softreset. %umount ends it.\n"
        "examples:\n"
        "  %mount                        the kernel's working directory\n"
        "  %mount src                    another folder\n"
        "  %mount -l --at /host .        follow symlinks, mounted at /host\n"
    ),
)
@argument("-l", "--follow-links", action="store_true", help="follow symlinks out of the folder")
@argument("--at", default="/remote", help="where the board sees it (default /remote)")
@argument("folder", nargs="?", default=".", help="host folder (default: working directory)")
def mount(kernel: KernelServices, args: argparse.Namespace) -> None:
    at = "/" + args.at.strip("/")
    if at == "/" or "/" in at[1:]:
        raise UsageError(f"--at takes a top-level name such as /remote, not {args.at!r}")
    server = MountServer(host_path(args.folder), at=at, follow_links=args.follow_links)
    device = kernel.require_device()
    _unmount(kernel, device)
    server.attach(device)
    kernel.board.mount = server
    kernel.print(f"{server.root} mounted at {at} (cwd, and first on sys.path)\n")


@line_magic(
    "umount",
    summary="End %mount: the board's cwd goes back to /",
    epilog="Files the board still has open for writing are dropped (their targets kept).\n"
    "examples:\n  %umount",
)
def umount(kernel: KernelServices, args: argparse.Namespace) -> None:
    device = kernel.require_device()
    if kernel.board.mount is None:
        raise UsageError("nothing is mounted (see %mount -h)")
    at = kernel.board.mount.at
    _unmount(kernel, device)
    kernel.print(f"{at} unmounted\n")


def _unmount(kernel: KernelServices, device: Device) -> None:
    server, kernel.board.mount = kernel.board.mount, None
    if server is not None:
        server.detach(device)


def mount_summary(server: MountServer | None) -> str | None:
    """What %info says of the mount."""
    if server is None:
        return None
    links = ", symlinks followed" if server.follow_links else ""
    return f"{Path(server.root)} at {server.at}{links} ({server.requests} requests served)"


MAGICS = (run, mount, umount)
