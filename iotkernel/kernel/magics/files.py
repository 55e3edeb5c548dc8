"""File magics: %cp %cat %rlist %rm %mkdirs %%writefile (and %rdiff %rsync in sync.py).

Board paths are written with a leading `:` where host and board paths meet
(`%cp`); elsewhere the `:` is optional. Errors name the file and the reason.
"""

from __future__ import annotations

import argparse
import html
import os
import posixpath
import time
from pathlib import Path

from ... import replies
from ...errors import UsageError
from ...files import FileError, FileService, write_host_file
from ...util import human_size, open_regular_file
from .registry import KernelServices, argument, cell_magic, line_magic


def board_path(text: str) -> str:
    """`:lib/x.py` or `/lib/x.py` → `/lib/x.py` (board paths are absolute)."""
    path = text[1:] if text.startswith(":") else text
    return posixpath.normpath("/" + path.lstrip("/")) if path not in ("", "/") else "/"


def host_path(text: str) -> Path:
    """A host path typed in a magic (`~` expanded); one with a NUL, which no
    host filesystem takes, is a UsageError."""
    if "\x00" in text:
        raise UsageError(f"a host path cannot hold a NUL: {text!r}")
    return Path(text).expanduser()


def files(kernel: KernelServices) -> FileService:
    return kernel.require_files()


class ProgressBar:
    """A progress bar updated in place in the notebook: HTML (a <progress>
    element) where the frontend renders it, the text bar otherwise."""

    def __init__(self, kernel: KernelServices, label: str, unit: str = "bytes") -> None:
        self._kernel = kernel
        self._label = label
        self._unit = unit
        self._id = f"iotk-progress-{id(self)}-{time.monotonic_ns()}"
        self._shown = False
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return  # at most ten updates a second
        self._last = now
        percent = 100 if total == 0 else int(done * 100 / total)
        bar = "#" * (percent // 5) + "." * (20 - percent // 5)
        figures = f"{percent:3d}% {done}/{total} {self._unit}"
        page = (
            f'<div><progress value="{percent}" max="100" style="width:20em"></progress> '
            f"<code>{html.escape(self._label)}</code> {html.escape(figures)}</div>"
        )
        self._kernel.display(
            {"text/plain": f"{self._label} [{bar}] {figures}", "text/html": page},
            self._id,
            update=self._shown,
        )
        self._shown = True


@line_magic(
    "cp",
    summary="Copy files between host and microcontroller",
    epilog=(
        "Board paths start with ':'. Writes are verified on the board and atomic.\n"
        "A file whose copy already holds the same bytes (by SHA-256, computed on\n"
        "the board) is not sent again: -f copies it anyway.\n"
        "examples:\n"
        "  %cp main.py :                 upload to the board's root\n"
        "  %cp a.py b.py :lib/           several files into a directory\n"
        "  %cp -r project :apps          a whole directory\n"
        "  %cp :data.csv .               download\n"
        "  %cp -f main.py :              upload even if unchanged\n"
    ),
)
@argument("-r", "--recursive", action="store_true", help="copy directories")
@argument("-f", "--force", action="store_true", help="copy files even when unchanged")
@argument("paths", nargs="+", help="sources, then the destination")
def cp(kernel: KernelServices, args: argparse.Namespace) -> None:
    *sources, destination = args.paths
    if not sources:
        raise UsageError("%cp needs a source and a destination (see %cp -h)")
    upload = destination.startswith(":")
    if any(s.startswith(":") == upload for s in sources):
        raise UsageError(
            "board paths start with ':': either copy host files to a ':destination', "
            "or ':board' files to a host destination"
        )
    many = len(sources) > 1 or args.recursive
    copy = _Copy(kernel, files(kernel), many=many, recursive=args.recursive, force=args.force)
    for source in sources:
        if upload:
            copy.upload(source, destination)
        else:
            copy.download(source, host_path(destination))


class _Copy:
    """One %cp: its options, and what it says of each file."""

    def __init__(
        self,
        kernel: KernelServices,
        service: FileService,
        *,
        many: bool,
        recursive: bool,
        force: bool,
    ) -> None:
        self.kernel, self.service = kernel, service
        self.many, self.recursive, self.force = many, recursive, force

    def upload(self, source: str, destination: str) -> None:
        target = board_path(destination)
        local = host_path(source)
        if local.is_dir():
            if not self.recursive:
                raise UsageError(f"{source} is a directory: use %cp -r")
            self._upload_tree(local, posixpath.join(target, local.name))
            return
        if not local.exists():
            raise UsageError(f"no such file on the host: {source}")
        many_or_dir = self.many or destination.endswith("/")
        remote = posixpath.join(target, local.name) if many_or_dir else target
        entry = self.service.stat(remote)
        if entry is not None and entry.is_dir:
            remote = posixpath.join(remote, local.name)
            entry = self.service.stat(remote)
        data = read_host_file(local)
        if not self.force and entry is not None and self.service.holds(remote, data):
            self.kernel.print(f"{source} = :{remote} (unchanged)\n")
            return
        self._send(remote, data)
        self.kernel.print(f"{source} -> :{remote}\n")

    def _send(self, remote: str, data: bytes) -> None:
        parent = posixpath.dirname(remote)
        if parent != "/":
            self.service.mkdirs(parent)
        self.service.write(remote, data, ProgressBar(self.kernel, remote))

    def _upload_tree(self, local: Path, remote_root: str) -> None:
        # One listing with hashes: unchanged files cost no round trip each.
        on_board = (
            {}
            if self.force
            else {e.path: e.hash for e in self.service.tree(remote_root, hashes=True) if e.hash}
        )
        with self.service.batch():
            for item in sorted(p for p in local.rglob("*") if p.is_file()):
                remote = posixpath.join(remote_root, item.relative_to(local).as_posix())
                data = read_host_file(item)
                known = on_board.get(remote)
                if known is not None and self.service.holds(remote, data, known):
                    continue
                self._send(remote, data)
                self.kernel.print(f"{item} -> :{remote}\n")

    def download(self, source: str, target_dir: Path) -> None:
        remote = board_path(source)
        entry = self.service.stat(remote)
        if entry is None:
            raise UsageError(f"no such file on the board: {remote}")
        if entry.is_dir:
            if not self.recursive:
                raise UsageError(f"{remote} is a directory: use %cp -r")
            root = target_dir / posixpath.basename(remote.rstrip("/"))
            copied = self.service.download_tree(remote, root, skip_unchanged=not self.force)
            for written in copied:
                self.kernel.print(f":{remote} -> {written}\n")
            return
        into_dir = self.many or target_dir.is_dir()
        local = target_dir / posixpath.basename(remote) if into_dir else target_dir
        if not self.force and local.is_file() and self.service.holds(remote, read_host_file(local)):
            self.kernel.print(f":{remote} = {local} (unchanged)\n")
            return
        write_host_file(local, self.service.read(remote, ProgressBar(self.kernel, remote)))
        self.kernel.print(f":{remote} -> {local}\n")


# The largest host file a magic reads whole (%cp up, %run): far more than a
# board holds, far less than a host's memory.
MAX_HOST_FILE = 64 * 1024 * 1024


def read_host_file(path: Path, limit: int = MAX_HOST_FILE) -> bytes:
    """A regular host file's bytes, at most `limit` of them. Anything else
    (a directory, a FIFO or device, a bigger file, an OSError) is a FileError
    naming the file, at once: nothing is opened that could block."""
    try:
        descriptor = open_regular_file(path)
    except OSError as exc:
        raise FileError(f"cannot read {path} on the host: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileError(f"cannot read {path} on the host: larger than {human_size(limit)}B")
    return data


@line_magic("cat", summary="Output contents of file stored on microcontroller")
@argument("path", help="board path, e.g. :main.py")
def cat(kernel: KernelServices, args: argparse.Namespace) -> None:
    data = files(kernel).read(board_path(args.path))
    kernel.print(data.decode("utf-8", "replace"))


@line_magic("rlist", summary="List files on microcontroller")
@argument("path", nargs="?", default="/", help="board directory")
def rlist(kernel: KernelServices, args: argparse.Namespace) -> None:
    service = files(kernel)
    root = board_path(args.path)
    epoch = _board_epoch(kernel)
    lines = []
    for entry in service.tree(root):
        depth = entry.path.count("/") - (0 if root == "/" else root.rstrip("/").count("/"))
        indent = "  " * (depth - 1)
        # Names are the board's: shown with control characters escaped.
        name = replies.shown(posixpath.basename(entry.path)) + ("/" if entry.is_dir else "")
        if entry.is_dir:
            lines.append(f"{'':>10}  {'':19}  {indent}{name}")
        else:
            lines.append(f"{entry.size:>10}  {_stamp(entry.mtime + epoch)}  {indent}{name}")
    kernel.print("\n".join(lines) + ("\n" if lines else f"{root} is empty\n"))


def _stamp(seconds: int) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return f"{'(time unknown)':19}"  # a board clock far outside what the host can show


def _board_epoch(kernel: KernelServices) -> int:
    """Seconds between 1970 and the board's epoch (2000 on most bare-metal ports)."""
    try:
        year = kernel.require_device().helpers.epoch_year()
    except Exception:
        year = 2000
    return 946684800 if year == 2000 else 0


@line_magic("rm", summary="Remove files on microcontroller")
@argument("-r", "--recursive", action="store_true", help="remove directories")
@argument("-f", "--force", action="store_true", help="no error for missing files")
@argument("paths", nargs="+", help="board paths")
def rm(kernel: KernelServices, args: argparse.Namespace) -> None:
    service = files(kernel)
    for path in args.paths:
        service.remove(board_path(path), recursive=args.recursive, missing_ok=args.force)


@line_magic(
    "mkdirs",
    summary="Create all directories on the microcontroller, as needed (similar to Linux mkdir -p)",
)
@argument("path", help="board path, e.g. :lib/drivers")
def mkdirs(kernel: KernelServices, args: argparse.Namespace) -> None:
    files(kernel).mkdirs(board_path(args.path))


@cell_magic("writefile", summary="Write cell contents to file")
@argument("-a", "--append", action="store_true", help="append instead of replacing")
@argument("path", help="host file")
def writefile(kernel: KernelServices, args: argparse.Namespace, body: str) -> None:
    path = host_path(args.path)
    text = body if body.endswith("\n") or not body else body + "\n"
    if args.append:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise FileError(f"cannot append to {path}: {exc.strerror or exc}") from None
    else:
        write_host_file(path, text.encode())
    kernel.print(f"{'Appended to' if args.append else 'Wrote'} {path}\n")


MAGICS = (cp, cat, rlist, rm, mkdirs, writefile)
