"""A CircuitPython board's USB drive: finding it on the host and writing through it.

Owns finding the folder where the host has mounted a board's CIRCUITPY drive
(the first of the candidate folders (the usual mount points, the settings'
`circuitpy-drives`, `$IOT_CIRCUITPY_DRIVES`) whose `boot_out.txt`, written by the
board at boot, names the board's uid on its `UID:` line), proving a candidate is
this board's (`PROOF_PREFIX`: a token the host writes and the board must read
back, because `boot_out.txt` is only what a board claims), and the file
changes made there: atomic writes (a temporary beside the target, flushed
to the device, renamed over it, the folder flushed), directories, removal
and renames, every board path checked before it becomes a host path.

Why: while a computer has the drive mounted, CircuitPython keeps the
filesystem read-only to code on the board (`OSError: [Errno 30]`), so the
raw REPL cannot write it; the drive can. The file service falls back to
this module on that error, and verifies each write by reading it back
through the board.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import IotKernelError
from .util import atomic_write, open_regular_file

# Where desktops mount a drive labelled CIRCUITPY (Linux, macOS), and
# where a user may mount it by hand; the settings' `circuitpy-drives` adds more.
DEFAULT_DRIVE_GLOBS = (
    "/media/*/CIRCUITPY*",
    "/run/media/*/CIRCUITPY*",
    "/media/CIRCUITPY*",
    "/mnt/CIRCUITPY*",
    "/Volumes/CIRCUITPY*",
)
DRIVES_VARIABLE = "IOT_CIRCUITPY_DRIVES"  # more globs, os.pathsep-separated
BOOT_OUT = "boot_out.txt"
_MAX_BOOT_OUT = 4096  # a few lines; a larger file is not the supervisor's
# The name of the token file that proves a drive is the board's: written by
# the host at the drive's root, read back by the board, always removed.
PROOF_PREFIX = ".iotkernel-proof-"


class DriveError(IotKernelError):
    """A change through a board's USB drive failed; the message says which and why."""


def drive_uid(folder: Path) -> str | None:
    """The uid (lower-case hex) a drive's `boot_out.txt` names, if any."""
    try:
        with open(folder / BOOT_OUT, "rb") as stream:
            text = stream.read(_MAX_BOOT_OUT).decode("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("UID:"):
            uid = line[4:].strip().lower()
            if uid and all(c in "0123456789abcdef" for c in uid):
                return uid
    return None


def find_drives(uid: str | None, extra_globs: Iterable[str] = ()) -> list[Path]:
    """Every folder whose `boot_out.txt` names this board's uid, in search order.

    Only candidates: `boot_out.txt` is what a board claims (a board can claim
    another's uid, and a backup copy of a drive names its board too), so the
    file service proves a candidate by a token before it writes there.
    A board without a uid is never matched: two boards' drives could not be
    told apart."""
    if not uid:
        return []
    found: list[Path] = []
    for pattern in (*extra_globs, *DEFAULT_DRIVE_GLOBS):
        for match in sorted(glob.glob(os.path.expanduser(pattern))):
            folder = Path(match)
            if folder not in found and folder.is_dir() and drive_uid(folder) == uid.lower():
                found.append(folder)
    return found


def find_drive(uid: str | None, extra_globs: Iterable[str] = ()) -> Path | None:
    """The first candidate drive of this board (see `find_drives`), or None."""
    drives = find_drives(uid, extra_globs)
    return drives[0] if drives else None


def configured_globs(settings_globs: Iterable[str]) -> list[str]:
    """The settings' `circuitpy-drives`, then `$IOT_CIRCUITPY_DRIVES`."""
    from_env = os.environ.get(DRIVES_VARIABLE, "")
    return [*settings_globs, *(g for g in from_env.split(os.pathsep) if g)]


def searched_places(extra_globs: Iterable[str] = ()) -> str:
    """The candidate folders, for an error message."""
    return ", ".join((*extra_globs, *DEFAULT_DRIVE_GLOBS))


class HostDrive:
    """A board's files through its drive mounted at `root` on the host."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, board_path: str) -> Path:
        """The host path of an absolute board path, never outside the drive."""
        relative = board_path.strip("/")
        if (
            not board_path.startswith("/")
            or "\x00" in board_path
            or "\\" in board_path
            or any(part in ("", ".", "..") for part in relative.split("/") if relative)
        ):
            raise DriveError(f"refusing the board path {board_path!r} on the drive")
        root = self.root.resolve()
        target = (root / relative).resolve() if relative else root
        if target != root and root not in target.parents:
            raise DriveError(f"refusing {board_path!r}: it resolves outside the drive {root}")
        return target

    def _flush_folder(self, folder: Path) -> None:
        """Push the folder's entries (a rename, a new file) to the device."""
        with contextlib.suppress(OSError):
            handle = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)

    def _change(self, what: str, board_path: str, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as exc:
            raise DriveError(
                f"cannot {what} {board_path} on the drive {self.root}: {exc.strerror or exc}"
            ) from None

    def write(self, board_path: str, data: bytes) -> None:
        target = self.path(board_path)
        if not target.parent.is_dir():
            raise DriveError(f"cannot write {board_path}: its folder does not exist on the board")
        self._change("write", board_path, lambda: atomic_write(target, data))
        self._flush_folder(target.parent)

    def regular_file_content(self, board_path: str) -> bytes | None:
        """What the drive holds at `board_path` if it is a regular file (so a
        failed write can put it back), else None."""
        target = self.path(board_path)
        try:
            with os.fdopen(open_regular_file(target), "rb") as stream:
                return stream.read()  # a CIRCUITPY drive holds a few MB at most
        except OSError:
            return None

    def touch(self, board_path: str) -> None:
        target = self.path(board_path)
        self._change("touch", board_path, lambda: target.open("ab").close())
        self._flush_folder(target.parent)

    def mkdirs(self, board_path: str) -> None:
        target = self.path(board_path)
        self._change(
            "create directory", board_path, lambda: target.mkdir(parents=True, exist_ok=True)
        )
        self._flush_folder(target.parent)

    def rmdir(self, board_path: str) -> None:
        target = self.path(board_path)
        self._change("remove directory", board_path, target.rmdir)
        self._flush_folder(target.parent)

    def remove(self, board_path: str, *, recursive: bool, missing_ok: bool) -> None:
        target = self.path(board_path)
        if target == self.root.resolve():
            raise DriveError("refusing to remove the drive's root")
        if not target.exists() and not target.is_symlink():
            if missing_ok:
                return
            raise DriveError(f"cannot remove {board_path}: no such file or directory")
        if target.is_dir() and not target.is_symlink():
            if not recursive:
                raise DriveError(f"cannot remove {board_path}: it is a directory")
            self._change("remove", board_path, lambda: shutil.rmtree(target))
        else:
            self._change("remove", board_path, target.unlink)
        self._flush_folder(target.parent)

    def rename(self, old: str, new: str) -> None:
        source, target = self.path(old), self.path(new)
        self._change("rename", f"{old} to {new}", lambda: os.replace(source, target))
        self._flush_folder(source.parent)
        self._flush_folder(target.parent)
