"""What a file operation raises, and a board's error turned into one."""

from __future__ import annotations

from .. import mp_errno
from ..errors import DeviceException, DeviceOSError, IotKernelError

EROFS = 30  # MicroPython's and CircuitPython's errno for a read-only filesystem


class FileError(IotKernelError):
    """A file operation failed; the message names the file and the reason."""


class UnsafePathError(FileError):
    """A path that would land somewhere else than meant: a board path that
    escapes the destination on the host, or a name a write must not use."""


class ReadOnlyFilesystemError(FileError):
    """The board's filesystem is read-only to code on the board (EROFS)."""


class ForeignDriveError(FileError):
    """A drive names this board's uid but the board cannot read what the host
    wrote there: another board's drive (a board claiming another's uid) or a
    copy of one. Nothing was written to it."""


class TransferVerificationError(FileError):
    """The board's copy did not match what was sent; the old file is intact."""


class FileTooLargeError(FileError):
    """A file is larger than the operation takes (into host memory)."""


def explain(exc: DeviceException, action: str, path: str) -> FileError:
    """The file error a board's exception means for `action` on `path`."""
    if isinstance(exc, DeviceOSError) and exc.device_errno is not None:
        reason = mp_errno.reason(exc.device_errno, exc.message)
        error = ReadOnlyFilesystemError if exc.device_errno == EROFS else FileError
        return error(f"cannot {action} {path}: {reason}")
    return FileError(f"cannot {action} {path}: {exc}")


def write_failure(exc: DeviceException, path: str) -> FileError:
    """The file error of a write the board refused or could not verify."""
    if exc.exc_type == "ValueError" and "hash mismatch" in exc.message:
        return TransferVerificationError(
            f"cannot write {path}: the board's copy did not verify; the old file is intact"
        )
    return explain(exc, "write", path)
