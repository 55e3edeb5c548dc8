"""The file layer: files on a board, built only on `Device`.

`service.py` is the public `FileService` (one per board session);
`profile.py` the board's transfer profile (chunk policy, capabilities);
`writes.py` the write strategies and their fallback order; `framing.py` the
raw frames and the pump that feeds them; `drive.py` a CircuitPython board's
USB drive; `paths.py` host-side paths and hashes; `errors.py` what fails.
"""

from ..util import Progress
from .drive import DRIVES_VARIABLE, PROOF_PREFIX, HostDrive, find_drive, find_drives
from .errors import (
    FileError,
    FileTooLargeError,
    ForeignDriveError,
    ReadOnlyFilesystemError,
    TransferVerificationError,
    UnsafePathError,
)
from .framing import escape_frame
from .paths import check_writable_path, host_hash, safe_local_path, write_host_file
from .profile import DEFAULT_CHUNK, MIN_CHUNK, TransferProfile
from .service import MAX_READ, FileService, FilesystemUsage, RemoteEntry

__all__ = [
    "DEFAULT_CHUNK",
    "DRIVES_VARIABLE",
    "MAX_READ",
    "MIN_CHUNK",
    "PROOF_PREFIX",
    "FileError",
    "FileService",
    "FileTooLargeError",
    "FilesystemUsage",
    "ForeignDriveError",
    "HostDrive",
    "Progress",
    "ReadOnlyFilesystemError",
    "RemoteEntry",
    "TransferProfile",
    "TransferVerificationError",
    "UnsafePathError",
    "check_writable_path",
    "escape_frame",
    "find_drive",
    "find_drives",
    "host_hash",
    "safe_local_path",
    "write_host_file",
]
