"""mpremote's file commands: %df %tree %sha256sum %touch %rmdir.

All through the file service: replies are checked there, names the board
sends are shown with control characters escaped.
"""

from __future__ import annotations

import argparse
import posixpath
from collections.abc import Callable

from ... import replies
from ...errors import UsageError
from ...files import FileService, RemoteEntry
from ...util import human_size
from .files import board_path, files
from .registry import KernelServices, argument, line_magic


@line_magic(
    "df",
    summary="Size, used and free space of each filesystem on the microcontroller",
    epilog="examples:\n  %df            the root and every mounted filesystem (e.g. /sd)\n",
)
@argument("-H", "--human", action="store_true", help="sizes as 1.5K, 2.0M")
def df(kernel: KernelServices, args: argparse.Namespace) -> None:
    show = human_size if args.human else str
    rows = [("mount", "size", "used", "free", "use%")]
    for usage in files(kernel).usage():
        percent = 0 if usage.size == 0 else round(usage.used * 100 / usage.size)
        rows.append(
            (
                replies.shown(usage.mount),
                show(usage.size),
                show(usage.used),
                show(usage.free),
                f"{percent}%",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for mount, *figures in rows:
        numbers = "".join(f"  {cell:>{w}}" for cell, w in zip(figures, widths[1:], strict=True))
        lines.append(mount.ljust(widths[0]) + numbers)
    kernel.print("\n".join(lines) + "\n")


@line_magic(
    "tree",
    summary="Show a directory of the microcontroller as a tree",
    epilog=(
        "examples:\n"
        "  %tree            the whole board\n"
        "  %tree -s :lib    sizes in bytes\n"
        "  %tree -H :lib    sizes as 1.5K (-h is help, as in every magic)\n"
    ),
)
@argument("-s", "--size", action="store_true", help="show each file's size in bytes")
@argument("-H", "--human", action="store_true", help="show sizes as 1.5K, 2.0M")
@argument("path", nargs="?", default="/", help="board directory")
def tree(kernel: KernelServices, args: argparse.Namespace) -> None:
    root = board_path(args.path)
    service = files(kernel)
    entry = service.stat(root)
    if entry is None or not entry.is_dir:
        raise UsageError(f"no such directory on the board: {root}")
    size: Callable[[int], str] | None = human_size if args.human else (str if args.size else None)
    lines = [":" + replies.shown(root)]
    lines += tree_lines(service.tree(root), root, size)
    kernel.print("\n".join(lines) + "\n")


def tree_lines(
    entries: list[RemoteEntry], root: str, size: Callable[[int], str] | None
) -> list[str]:
    """Box-drawing lines of a sorted listing, as the `tree` command draws them."""
    children: dict[str, list[RemoteEntry]] = {}
    for entry in entries:
        children.setdefault(posixpath.dirname(entry.path) or "/", []).append(entry)
    lines: list[str] = []

    def walk(directory: str, prefix: str) -> None:
        below = children.get(directory, [])
        for index, entry in enumerate(below):
            last = index == len(below) - 1
            name = replies.shown(posixpath.basename(entry.path))
            shown_size = "" if size is None or entry.is_dir else f"[{size(entry.size):>6}]  "
            lines.append(f"{prefix}{'└── ' if last else '├── '}{shown_size}{name}")
            if entry.is_dir:
                walk(entry.path, prefix + ("    " if last else "│   "))

    walk(root if root == "/" else root.rstrip("/"), "")
    return lines


@line_magic(
    "sha256sum",
    summary="SHA-256 of files on the microcontroller",
    epilog="Computed on the board (on the host from the file's bytes where it has no hashlib).\n"
    "examples:\n  %sha256sum /main.py /lib/sensor.py",
)
@argument("paths", nargs="+", help="board files")
def sha256sum(kernel: KernelServices, args: argparse.Namespace) -> None:
    service = files(kernel)
    for path in args.paths:
        remote = board_path(path)
        kernel.print(f"{service.sha256(remote)}  :{replies.shown(remote)}\n")


@line_magic(
    "touch",
    summary="Create an empty file on the microcontroller (kept if it exists)",
    epilog="examples:\n  %touch /data/log.csv",
)
@argument("paths", nargs="+", help="board files")
def touch(kernel: KernelServices, args: argparse.Namespace) -> None:
    service = files(kernel)
    for path in args.paths:
        service.touch(board_path(path))


@line_magic(
    "rmdir",
    summary="Remove empty directories on the microcontroller",
    epilog="A directory that is not empty stays (%rm -r removes it with its files).\n"
    "examples:\n  %rmdir /old",
)
@argument("paths", nargs="+", help="board directories")
def rmdir(kernel: KernelServices, args: argparse.Namespace) -> None:
    service: FileService = files(kernel)
    for path in args.paths:
        service.rmdir(board_path(path))


MAGICS = (df, tree, sha256sum, touch, rmdir)
