"""A CircuitPython board's USB drive: finding it on the host, proving it, writing through it.

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
this module on that error (`DriveFallback`), and verifies each write by
reading it back through the board.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..config import load_settings
from ..errors import IotKernelError
from ..util import Progress, atomic_write, open_regular_file
from .errors import FileError, ForeignDriveError, ReadOnlyFilesystemError, TransferVerificationError
from .paths import host_hash

if TYPE_CHECKING:
    from .service import FileService

log = logging.getLogger(__name__)
_Result = TypeVar("_Result")

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
# How long a write through a drive may take to show on the board (the host
# flushed it; the board's own cache of the filesystem catches up).
DRIVE_SETTLE = 3.0


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


class DriveFallback:
    """Changes to a board's files made through its drive where the board's
    code may not write: the drive is found, proven the board's, and kept
    for the board session until it is ejected or the link reopens (another
    board may be behind it then)."""

    def __init__(self, files: FileService) -> None:
        self._files = files
        self._root: Path | None = None
        self._link_generation = files.device.link_generation

    @property
    def root(self) -> Path | None:
        """The drive bound to this board, if one is."""
        if self._link_generation != self._files.device.link_generation:
            self._root, self._link_generation = None, self._files.device.link_generation
        if self._root is not None and not self._root.is_dir():  # ejected: the board writes again
            self._root = None
        return self._root

    @root.setter
    def root(self, folder: Path | None) -> None:
        """Bind `folder` as this board's drive (proven by the caller), or none."""
        self._root = folder

    def changing(
        self,
        on_board: Callable[[], _Result],
        on_drive: Callable[[HostDrive], _Result],
    ) -> _Result:
        """A change made by the board's code, or through its drive where a
        computer (this one) has it mounted and the board's code cannot write."""
        root = self.root
        if root is None:
            try:
                return on_board()
            except ReadOnlyFilesystemError as exc:
                drive = self._drive_for(exc)
        else:
            drive = HostDrive(root)
        try:
            return on_drive(drive)
        except DriveError as exc:  # a file error as the board's own would be
            raise FileError(str(exc)) from None

    def _drive_for(self, refused: ReadOnlyFilesystemError) -> HostDrive:
        """The drive of a board whose code may not write, proven the board's,
        or the error saying what to do."""
        device = self._files.device
        identity = device.identity()
        if not identity.circuitpython:
            raise refused
        extra = configured_globs(load_settings().circuitpy_drives)
        candidates = find_drives(identity.uid, extra)
        if not candidates:
            raise ReadOnlyFilesystemError(
                f"{refused}. This CircuitPython board keeps its files read-only to its own "
                "code while a computer has its CIRCUITPY drive mounted, and no drive of "
                f"this board (uid {identity.uid}) is mounted here (looked for a boot_out.txt "
                f"naming it in {searched_places(extra)}). Mount the drive on this computer "
                "(or add its folder to `circuitpy-drives` in the settings), or let the "
                "board write: `import storage; storage.remount('/', readonly=False)` in "
                "its boot.py (then the computer may not write the drive)"
            ) from None
        for root in candidates:
            if self._board_reads_token_from(HostDrive(root)):
                log.info("%s: writing through its drive at %s", device.url, root)
                self._root = root
                return HostDrive(root)
        folders = ", ".join(str(root) for root in candidates)
        names = "names" if len(candidates) == 1 else "name"
        raise ForeignDriveError(
            f"{refused}, and no drive here is this board's: {folders} {names}"
            f" its uid {identity.uid} in boot_out.txt, but the board cannot read a token "
            "written there, so it is another board's drive (a board claiming another's "
            "uid?) or a copy of one. Nothing was written to it"
        )

    def _board_reads_token_from(self, drive: HostDrive) -> bool:
        """Whether the board reads back, through its own filesystem, a random
        token the host wrote at the drive's root. The token file is removed
        from the drive whatever the outcome."""
        token = secrets.token_hex(16)
        name = f"/{PROOF_PREFIX}{token[:12]}"
        try:
            drive.write(name, token.encode())
        except DriveError as exc:
            log.info("%s: cannot prove the drive %s: %s", self._files.device.url, drive.root, exc)
            return False
        try:
            deadline = time.monotonic() + DRIVE_SETTLE
            while True:
                entry = self._files.stat(name)
                if entry is not None and entry.size == len(token):
                    return secrets.compare_digest(self._files.read(name), token.encode())
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.1)
        finally:
            with contextlib.suppress(DriveError):
                drive.remove(name, recursive=False, missing_ok=True)

    def write(self, drive: HostDrive, path: str, data: bytes, progress: Progress | None) -> str:
        """Write on the drive, then check what the board reads back; when it
        does not match, the drive gets back what it held before."""
        before = drive.regular_file_content(path)
        drive.write(path, data)
        want = host_hash(data, self._files.board.hash_kind())
        deadline = time.monotonic() + DRIVE_SETTLE
        while True:
            got = self._files.hash(path) if self._files.stat(path) is not None else None
            if got == want:
                if progress is not None:
                    progress(len(data), len(data))
                return got
            if time.monotonic() >= deadline:
                with contextlib.suppress(DriveError):
                    if before is None:
                        drive.remove(path, recursive=False, missing_ok=True)
                    else:
                        drive.write(path, before)
                raise TransferVerificationError(
                    f"cannot write {path}: it was written to the drive {drive.root}, but the "
                    "board reads other content back; the drive's file is as it was"
                )
            time.sleep(0.1)
