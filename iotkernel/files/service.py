"""The file service: files on a board, built only on `Device`.

Owns the public `FileService`: listing a tree (sizes, dates, and content
hashes on request) in one round trip, stat, reading files of any size in
chunks (raw bytes on the board's stdout where it can, JSON replies
elsewhere; every reply checked, never more than the board announced),
writing them verified and atomically (`writes.py`), mkdirs, recursive
remove, rename, and trees downloaded to the host (`paths.py` keeps them
where they belong). A board whose code may not write its own files (a
CircuitPython board whose drive this host has mounted) is written through
that drive (`drive.py`).

One `FileService` per board session: it holds the board's transfer profile
(`profile.py`), learned once. Every transport gets all this for free: it
never touches one.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import replies
from ..device import Device
from ..errors import DeviceException, DeviceOSError, IotKernelError, MalformedReplyError
from ..util import Progress
from .drive import DriveFallback
from .errors import FileError, FileTooLargeError, TransferVerificationError, explain
from .framing import unescape
from .paths import (
    check_writable_path,
    digest_matches,
    host_file_holds,
    names_a_temporary,
    safe_local_path,
    write_host_file,
)
from .profile import DEFAULT_CHUNK, BoardFiles, TransferProfile
from .writes import write_on_board

# A read keeps the whole file in host memory: past this it is refused (the
# largest flash of a MicroPython board is a few tens of MB; SD cards may
# hold more, and FileService(max_read=...) raises it).
MAX_READ = 256 * 1024 * 1024


@dataclass(frozen=True)
class RemoteEntry:
    """A file or directory on the board."""

    path: str
    is_dir: bool
    size: int
    mtime: int
    hash: str | None = None


@dataclass(frozen=True)
class FilesystemUsage:
    """One filesystem of a board, in bytes."""

    mount: str
    size: int
    used: int
    free: int


class FileService:
    """Files on one board, for one board session."""

    def __init__(
        self,
        device: Device,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        max_read: int = MAX_READ,
        raw_transfers: bool = True,
        compress: bool = True,
    ) -> None:
        self.device = device
        self.helpers = device.helpers
        self.max_read = max_read
        self.profile = TransferProfile(
            max_chunk=chunk_size, raw_allowed=raw_transfers, compress=compress
        )
        self.board = BoardFiles(device, self.profile)
        self.drive = DriveFallback(self)
        self._batch_depth = 0
        self._batch_on_board = False  # the board was told a batch is under way

    # -- queries

    def stat(self, path: str) -> RemoteEntry | None:
        """The entry at `path`, or None if there is none."""
        info = self.board.ask("stat", path, self.helpers.stat, path)
        if info is None:
            return None
        operation = f"stat {path}"
        is_dir, size, mtime = replies.items(info, operation, "an entry", 3)
        return RemoteEntry(
            path,
            bool(is_dir),
            replies.size(size, operation),
            replies.integer(mtime, operation, "modification time"),
        )

    def tree(self, root: str = "/", *, hashes: bool = False) -> list[RemoteEntry]:
        """Every file and directory under `root`, in one round trip."""
        return self.trees([root], hashes=hashes)

    def trees(
        self, roots: list[str], *, hashes: bool = False, times: bool = True
    ) -> list[RemoteEntry]:
        """Every file and directory under each root (missing roots are empty),
        in one round trip, with content hashes computed on the board on request.
        Without `times`, mtime is 0 and the board skips a stat per file."""
        where = ", ".join(roots)
        try:
            rows = self.helpers.trees(roots, hashes, times)
        except DeviceException as exc:
            raise explain(exc, "list", where) from None
        operation = f"list {where}"
        entries = []
        for row in replies.items(rows, operation, "the entries"):
            path, is_dir, size, mtime, digest = replies.items(row, operation, "an entry", 5)
            path = replies.board_path(path, operation)
            if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots):
                raise MalformedReplyError(operation, f"paths under {where}", path)
            if names_a_temporary(path):
                continue  # a transfer's temporary (or their directory), not a user file
            entries.append(
                RemoteEntry(
                    path,
                    bool(is_dir),
                    replies.size(size, operation),
                    replies.integer(mtime, operation, "modification time"),
                    replies.optional_text(digest, operation, "a content hash", limit=80),
                )
            )
        return sorted(entries, key=lambda e: e.path)

    def usage(self) -> list[FilesystemUsage]:
        """Size, used and free bytes of the root filesystem and of each
        top-level directory mounted as a filesystem of its own, in one round
        trip (`os.statvfs`; a directory reporting the root's figures is taken
        to be on the root's filesystem)."""
        rows = self.board.ask("measure", "the filesystems", self.helpers.statvfs_all)
        operation = "measure the filesystems"
        found: list[FilesystemUsage] = []
        root_figures: list[int] | None = None
        for row in replies.items(rows, operation, "the filesystems"):
            path, figures = replies.items(row, operation, "a filesystem", 2)
            path = replies.board_path(path, operation)
            numbers = [
                replies.integer(n, operation, "a statvfs figure", minimum=0)
                for n in replies.items(figures, operation, "statvfs figures")[:5]
            ]
            if len(numbers) < 5:
                raise MalformedReplyError(operation, "five statvfs figures", figures)
            if path == "/":
                root_figures = numbers
            elif numbers == root_figures or numbers[2] == 0:
                continue  # a plain directory of the root's filesystem
            block_size, _, blocks, free_blocks, available = numbers
            found.append(
                FilesystemUsage(
                    path,
                    size=block_size * blocks,
                    used=block_size * (blocks - free_blocks),
                    free=block_size * available,
                )
            )
        return found

    def touch(self, path: str) -> None:
        """Create an empty file at `path`, or leave an existing one as it is."""
        check_writable_path(path)
        self.drive.changing(
            lambda: self.board.ask("touch", path, self.helpers.touch, path),
            lambda drive: drive.touch(path),
        )

    def rmdir(self, path: str) -> None:
        """Remove the empty directory `path`."""
        self.drive.changing(
            lambda: self.board.ask("remove directory", path, self.helpers.rmdir, path),
            lambda drive: drive.rmdir(path),
        )

    def sha256(self, path: str) -> str:
        """The SHA-256 of a board file, hex: computed on the board, or on the
        host from the file's content where the board has no hashlib."""
        digest = self.hash(path)
        if digest.startswith("sha256:"):
            return replies.text(digest[7:], f"hash {path}", "a SHA-256", limit=64)
        return hashlib.sha256(self.read(path)).hexdigest()

    def hash_kind(self) -> str:
        """`sha256`, or `crc32` on a board without hashlib."""
        return str(self.board.ask("hash", "/", self.helpers.hash_kind))

    def hash(self, path: str) -> str:
        return str(self.board.ask("hash", path, self.helpers.hash_file, path))

    # -- changes

    def mkdirs(self, path: str) -> None:
        self.drive.changing(
            lambda: self.board.ask("create directory", path, self.helpers.mkdirs, path),
            lambda drive: drive.mkdirs(path),
        )

    def remove(self, path: str, *, recursive: bool = False, missing_ok: bool = False) -> None:
        self.drive.changing(
            lambda: self._remove_on_board(path, recursive, missing_ok),
            lambda drive: drive.remove(path, recursive=recursive, missing_ok=missing_ok),
        )

    def _remove_on_board(self, path: str, recursive: bool, missing_ok: bool) -> None:
        try:
            self.helpers.remove(path, recursive)
        except DeviceOSError as exc:
            if missing_ok and exc.errno == errno.ENOENT:
                return
            raise explain(exc, "remove", path) from None
        except DeviceException as exc:
            raise explain(exc, "remove", path) from None

    def rename(self, old: str, new: str) -> None:
        self.drive.changing(
            lambda: self.board.ask("rename", f"{old} to {new}", self.helpers.rename, old, new),
            lambda drive: drive.rename(old, new),
        )

    # -- transfers

    def read(self, path: str, progress: Progress | None = None) -> bytes:
        """The content of a file on the board."""
        entry = self.stat(path)
        if entry is None:
            raise FileError(f"cannot read {path}: no such file or directory")
        if entry.is_dir:
            raise FileError(f"cannot read {path}: it is a directory")
        if entry.size > self.max_read:
            raise FileTooLargeError(
                f"cannot read {path}: the board says it holds {entry.size} bytes, "
                f"more than the {self.max_read} a read takes into host memory"
            )
        data = bytearray()
        raw = self.board.raw_downloads()
        while len(data) < entry.size:
            asked = self.board.chunk()
            try:
                if raw:
                    chunk: object = self._read_raw_chunk(path, len(data), asked)
                else:
                    chunk = self.helpers.read_chunk(path, len(data), asked)
            except DeviceException as exc:
                self.board.shrink_chunk(exc, "read", path)
                continue
            # Never more than asked for, nor past the size announced: a board
            # that lies about a file cannot grow host memory without bound.
            if not isinstance(chunk, bytes) or not chunk or len(chunk) > asked:
                raise FileError(f"cannot read {path}: it changed while being read")
            if len(data) + len(chunk) > entry.size:
                raise FileError(f"cannot read {path}: it grew while being read")
            self.board.grow_chunk()
            data += chunk
            if progress is not None:
                progress(len(data), entry.size)
        return bytes(data)

    def write(self, path: str, data: bytes, progress: Progress | None = None) -> str:
        """Write `data` to `path` on the board, verified, atomically.

        Returns the board's hash of the new file. On any failure the old file
        (if any) is left as it was.
        """
        check_writable_path(path)
        return self.drive.changing(
            lambda: self._write_on_board(path, data, progress),
            lambda drive: self.drive.write(drive, path, data, progress),
        )

    def _write_on_board(self, path: str, data: bytes, progress: Progress | None) -> str:
        if self._batch_depth and not self._batch_on_board:
            self.helpers.write_batch(True)
            self._batch_on_board = True
        return write_on_board(self.board, path, data, progress)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many writes in a row (a sync, a tree, a package): the board keeps
        the directories of their temporaries (`.iotk-tmp`, one beside each
        directory written) until the batch ends, instead of making and
        removing one per file. On littlefs a file renamed out of a nearly
        empty directory costs a fraction of one renamed within a full one
        (board/files.py), so this is what makes a 50-file sync cheap.
        Nothing is asked of the board until the first write in it."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if not self._batch_depth and self._batch_on_board:
                self._batch_on_board = False
                # Best effort: a link gone meanwhile leaves empty, hidden
                # directories, which the next write there removes.
                with contextlib.suppress(IotKernelError):
                    self.helpers.write_batch(False)

    def _read_raw_chunk(self, path: str, offset: int, size: int) -> bytes:
        """One chunk of a raw download, checked against its length and CRC-32."""
        printed: list[bytes] = []
        reply = self.helpers.send_raw_chunk(path, offset, size, printed.append)
        out = b"".join(printed)
        operation = f"read {path}"
        length, crc = replies.items(reply, operation, "a length and a CRC-32", 2)
        data = unescape(out[: out.rfind(b"\x1e")])
        if len(data) != replies.size(length, operation) or zlib.crc32(data) != crc:
            raise TransferVerificationError(
                f"cannot read {path}: a chunk was corrupted on the link"
            )
        return data

    # -- trees between host and board

    def holds(self, remote: str, data: bytes, digest: str | None = None) -> bool:
        """Whether the board file `remote` (whose hash is `digest`, if known)
        holds exactly `data`: compared by the hash the board computes."""
        return digest_matches(data, self.hash(remote) if digest is None else digest)

    def download_tree(
        self, remote_root: str, destination: Path, *, skip_unchanged: bool = False
    ) -> list[Path]:
        """Copy a directory of the board into `destination` (checked paths
        only); with `skip_unchanged`, host files already holding a board
        file's content (by hash, computed on the board) are not read again."""
        written: list[Path] = []
        prefix = remote_root.rstrip("/") + "/"
        for entry in self.tree(remote_root, hashes=skip_unchanged):
            relative = entry.path[len(prefix) :] if entry.path.startswith(prefix) else ""
            target = safe_local_path(destination, relative)
            if entry.is_dir:
                try:
                    target.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise FileError(f"cannot create {target} on the host: {exc.strerror}") from None
                continue
            if skip_unchanged and entry.hash and host_file_holds(target, entry.hash):
                continue
            write_host_file(target, self.read(entry.path))
            written.append(target)
        return written
