"""The file service: files on a board, built only on `Device`.

Owns listing a tree (sizes, dates, and content hashes on request) in one
round trip, reading and writing files of any size in chunks sized by the
board's free heap (raw frames where the board takes them, base64 through the
helpers elsewhere; every request and reply is checked), stat, mkdirs,
recursive remove and rename. A write goes to a temporary file on the
board, is verified by SHA-256 computed on the board (CRC-32 where
`hashlib` is missing) and only then renamed over the target,
so a failed or cut transfer leaves the old file intact. Paths sent to the
board are quoted with `repr()`; paths coming back are checked before
anything is written on the host. Where a CircuitPython board's filesystem is
read-only to its code because a computer mounted its drive, changes go
through that drive on this host (`circuitpy.py`) and each write is verified
by the hash the board computes of what it now reads.

Every transport gets this for free: it never touches one.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import itertools
import logging
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from . import mp_errno, replies
from .circuitpy import (
    PROOF_PREFIX,
    DriveError,
    HostDrive,
    configured_globs,
    find_drives,
    searched_places,
)
from .config import load_settings
from .device import Device
from .errors import (
    DeviceException,
    DeviceOSError,
    IotKernelError,
    MalformedReplyError,
    ProtocolUsageError,
)
from .util import TEMP_SUFFIX, atomic_write

log = logging.getLogger(__name__)

DEFAULT_CHUNK = 4096  # raw bytes per round trip at most: ~5.5 KB of base64 on the wire
# A chunk costs the board about this many times its size in heap at once
# (the base64 literal as the compiler grows it, the bytes object, the decoded
# data): chunks start at free heap / this, and halve on a MemoryError.
_HEAP_PER_CHUNK_BYTE = 12
MIN_CHUNK = 128

Progress = Callable[[int, int], None]  # (bytes done, bytes total)
EROFS = 30  # MicroPython's and CircuitPython's errno for a read-only filesystem
# How long a write through a drive may take to show on the board (the host
# flushed it; the board's own cache of the filesystem catches up).
DRIVE_SETTLE = 3.0
_Result = TypeVar("_Result")


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


# A read keeps the whole file in host memory: past this it is refused (the
# largest flash of a MicroPython board is a few tens of MB; SD cards may
# hold more, and FileService(max_read=...) raises it).
MAX_READ = 256 * 1024 * 1024


def check_writable_path(path: str) -> None:
    """Refuse a board path a write must not use: relative, with a NUL (the
    unix port cuts the name there, so the write would land on another
    file), a backslash, an empty, `.` or `..` component, or our
    temporaries' suffix (it would collide with a write in progress)."""
    parts = path.split("/")[1:]
    problems = (
        (not path.startswith("/"), "board paths are absolute"),
        ("\x00" in path, "a NUL in a board path"),
        ("\\" in path, "a backslash in a board path"),
        (any(part in ("", ".", "..") for part in parts), "an empty, '.' or '..' part"),
        (path.endswith(TEMP_SUFFIX), f"the suffix {TEMP_SUFFIX} is kept for transfers"),
    )
    for found, problem in problems:
        if found:
            raise UnsafePathError(f"refusing to write {path!r}: {problem}")


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


def _explain(exc: DeviceException, action: str, path: str) -> FileError:
    if isinstance(exc, DeviceOSError) and exc.device_errno is not None:
        reason = mp_errno.reason(exc.device_errno, exc.message)
        error = ReadOnlyFilesystemError if exc.device_errno == EROFS else FileError
        return error(f"cannot {action} {path}: {reason}")
    return FileError(f"cannot {action} {path}: {exc}")


def host_hash(data: bytes, kind: str) -> str:
    """The hash the board computes, computed on the host."""
    if kind == "sha256":
        return "sha256:" + hashlib.sha256(data).hexdigest()
    return f"crc32:{zlib.crc32(data) & 0xFFFFFFFF:08x}"


def safe_local_path(destination: Path, relative: str) -> Path:
    """Where a board path (relative to the copied root) lands on the host.

    Refuses absolute names, `..`, NUL and backslashes, and anything that would
    resolve outside `destination` (through symlinks too).
    """
    if (
        not relative
        or relative.startswith("/")
        or "\x00" in relative
        or "\\" in relative
        or any(part in ("..", "") for part in relative.split("/"))
    ):
        raise UnsafePathError(
            f"refusing the board's path {relative!r}: it would escape {destination}"
        )
    root = destination.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UnsafePathError(f"refusing the board's path {relative!r}: it resolves outside {root}")
    return target


# ---------------------------------------------------------------------- the raw data path

# The REPL's control bytes and the escape byte, escaped in raw frames (see
# the board's helpers: `rx`).
_ESCAPED = re.compile(rb"[\x01-\x05\x10]")
# A raw download's escapes (the board's `tx`): 0x10 and the byte + 0x40.
_UNESCAPE = re.compile(rb"\x10(.)", re.DOTALL)
# Bytes of the next frame sent before the board has written the last one:
# they wait in its UART receive buffer (256 bytes on many boards).
UART_PREFETCH = 192
# A raw transfer with no progress for this long (or the idle timeout, if
# longer) has stalled: on a loaded host a slow board must not be taken for it.
MIN_STALL = 5.0


def escape_frame(data: bytes) -> bytes:
    """One raw frame: escaped length (4 hex digits), escaped data, CRC-32."""
    escaped = _ESCAPED.sub(lambda m: b"\x10" + bytes((m.group()[0] + 0x40,)), data)
    return b"%04x" % len(escaped) + escaped + b"%08x" % (zlib.crc32(data) & 0xFFFFFFFF)


class _FramePump:
    """Feeds frames to the board's receiver as its acknowledgements come.

    The frames are one stream of bytes; what may be sent runs ahead of what
    the board has read by `ahead` bytes while it writes a frame (they wait
    in its UART buffer: 192 of 256 bytes), and by a whole frame while it
    reads one. A board with no UART to overrun (the unix port's pty) gets
    `ahead` of several frames and a full pipeline. Runs inside the helper
    call's output callback; a watchdog interrupts the board when it stalls.
    """

    def __init__(
        self,
        device: Device,
        frames: list[bytes],
        sizes: list[int],
        ahead: int,
        progress: Progress | None,
    ) -> None:
        self._device = device
        self._stream = b"".join(frames)
        self._ends = list(itertools.accumulate(len(frame) for frame in frames))
        self._sizes = sizes
        self._ahead = ahead
        self._progress = progress
        self._sent = 0  # bytes of the stream sent
        self._read = 0  # frames the board has read
        self._written = 0  # frames the board has written
        self._ready = False
        self._done_bytes = 0
        self._total = sum(sizes)
        self._tail = b""
        self.unexpected: bytes | None = None
        self.stalled = False
        self._last_ack = time.monotonic()
        self._finished = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, daemon=True)

    @property
    def frames(self) -> int:
        return len(self._sizes)

    def start(self) -> None:
        self._watchdog.start()

    def stop(self) -> None:
        self._finished.set()
        if self._watchdog.is_alive():
            self._watchdog.join(timeout=2)

    def _watch(self) -> None:
        # A frame sent whole, and no 512 more bytes of it read within the
        # device's idle timeout: a byte was lost on the way and the board
        # waits for it (Ctrl-C ends its wait). Writing a frame may take longer
        # (flash erases, littlefs compaction): that wait is bounded by the
        # call's deadline only.
        while not self._finished.wait(0.1):
            if not self._reading():
                continue
            if time.monotonic() - self._last_ack > max(self._device.idle_timeout, MIN_STALL):
                self.stalled = True
                self._device.interrupt()
                return

    def _reading(self) -> bool:
        """The board reads a frame now and waits for nothing else to read
        (every frame before it written, it sent whole)."""
        index = self._read
        return (
            index < len(self._ends) and self._written == index and self._sent >= self._ends[index]
        )

    def feed(self, data: bytes) -> None:
        data = self._tail + data
        self._tail = b""
        index = data.find(b"\x06")
        while index >= 0 and self.unexpected is None:
            if index + 1 >= len(data):
                self._tail = data[index:]
                return
            self._on_ack(data[index + 1 : index + 2])
            index = data.find(b"\x06", index + 2)

    def _on_ack(self, kind: bytes) -> None:
        self._last_ack = time.monotonic()
        if kind == b".":
            return  # another 512 bytes read: the board is not stuck
        if kind == b"R":
            self._ready = True
        elif kind == b"r":
            self._read += 1
        elif kind == b"d":
            self._done_bytes += self._sizes[self._written]
            self._written += 1
            if self._progress is not None:
                self._progress(self._done_bytes, self._total)
        else:
            self.unexpected = kind  # not our receiver speaking: stop sending
            return
        self._send()

    def _send(self) -> None:
        if not self._ready or self._read >= len(self._ends):
            return
        read_upto = self._ends[self._read - 1] if self._read else 0
        limit = read_upto + self._ahead
        if self._written == self._read:  # the board reads now: the frame whole
            limit = max(limit, self._ends[self._read])
        limit = min(limit, len(self._stream))
        while self._sent < limit:
            piece = self._stream[self._sent : min(limit, self._sent + 4096)]
            try:
                self._device.send_input(piece)
            except ProtocolUsageError:
                return  # the receiver has ended (its error is on the way)
            self._sent += len(piece)


class _RawPathFailed(Exception):
    """A raw transfer stalled: the write goes again by the chunked path."""


class _ChunkTooLarge(Exception):
    """A one-round-trip write hit a MemoryError: the chunk was halved, retry."""


def _write_failure(exc: DeviceException, path: str) -> FileError:
    if exc.exc_type == "ValueError" and "hash mismatch" in exc.message:
        return TransferVerificationError(
            f"cannot write {path}: the board's copy did not verify; the old file is intact"
        )
    return _explain(exc, "write", path)


class FileService:
    """Files on one board."""

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
        self.chunk_size = chunk_size
        self.max_read = max_read
        # Writes larger than a chunk as raw bytes on stdin where the board can
        # (False: always base64 chunks in source, the path every board has).
        self.raw_transfers = raw_transfers
        # Raw writes of compressible files go deflated where the board inflates.
        self.compress = compress
        self._hash_kind: str | None = None

    # Chunk sizes start at what the board's free heap suggests and double
    # after each chunk that went through, up to `chunk_size` (ports whose heap
    # grows on demand, as the unix and ESP32 ports, report little free heap);
    # a board-side MemoryError halves them and stops the growth. What was
    # learned stays with the Device, for the next transfer.

    def _chunk(self) -> int:
        """Bytes per round trip now."""
        limits = self.device.transfer_limits
        if "chunk" not in limits:
            fits = self.device.free_memory() // _HEAP_PER_CHUNK_BYTE // 128 * 128
            limits["chunk"] = max(MIN_CHUNK * 4, fits)
        return max(MIN_CHUNK, min(self.chunk_size, limits["chunk"]))

    def _grow_chunk(self) -> None:
        limits = self.device.transfer_limits
        if not limits.get("capped") and limits.get("chunk", 0) < self.chunk_size:
            limits["chunk"] = min(self.chunk_size, limits.get("chunk", MIN_CHUNK) * 2)

    def _shrink_chunk(self, exc: DeviceException, action: str, path: str) -> None:
        """After a board-side MemoryError: halve the chunk, or give up."""
        current = self._chunk()
        if exc.exc_type != "MemoryError" or current <= MIN_CHUNK:
            raise _explain(exc, action, path) from None
        self.device.transfer_limits.update(chunk=current // 2, capped=1)

    def _call(self, call: str, action: str, path: str, timeout: float | None = None) -> object:
        try:
            return self.device.call_helper(call, timeout=timeout)
        except DeviceException as exc:
            raise _explain(exc, action, path) from None

    # -- queries

    def stat(self, path: str) -> RemoteEntry | None:
        """The entry at `path`, or None if there is none."""
        info = self._call(f"stat({path!r})", "stat", path)
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
            rows = self.device.call_helper_rows(
                f"trees({roots!r}, {hashes!r}, {times!r})", timeout=300
            )
        except DeviceException as exc:
            raise _explain(exc, "list", where) from None
        operation = f"list {where}"
        entries = []
        for row in replies.items(rows, operation, "the entries"):
            path, is_dir, size, mtime, digest = replies.items(row, operation, "an entry", 5)
            path = replies.board_path(path, operation)
            if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots):
                raise MalformedReplyError(operation, f"paths under {where}", path)
            if path.endswith(TEMP_SUFFIX):
                continue  # a transfer's temporary, not a user file
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
        expression = (
            "[[d, __import__('os').statvfs(d)] for d in ['/'] + "
            "['/' + e[0] for e in __import__('os').ilistdir('/') if e[1] & 0x4000]]"
        )
        rows = self._call(expression, "measure", "the filesystems", timeout=30)
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
        self._changing(
            lambda: self._call(f"open({path!r}, 'ab').close()", "touch", path),
            lambda drive: drive.touch(path),
        )

    def rmdir(self, path: str) -> None:
        """Remove the empty directory `path`."""
        self._changing(
            lambda: self._call(f"__import__('os').rmdir({path!r})", "remove directory", path),
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
        return str(self._call("hashkind()", "hash", "/"))

    def hash(self, path: str) -> str:
        return str(self._call(f"hashfile({path!r})", "hash", path, timeout=120))

    # -- changes

    def mkdirs(self, path: str) -> None:
        self._changing(
            lambda: self._call(f"mkdirs({path!r})", "create directory", path),
            lambda drive: drive.mkdirs(path),
        )

    def remove(self, path: str, *, recursive: bool = False, missing_ok: bool = False) -> None:
        self._changing(
            lambda: self._remove_on_board(path, recursive, missing_ok),
            lambda drive: drive.remove(path, recursive=recursive, missing_ok=missing_ok),
        )

    def _remove_on_board(self, path: str, recursive: bool, missing_ok: bool) -> None:
        try:
            self.device.call_helper(f"rm({path!r}, {recursive!r})", timeout=120)
        except DeviceOSError as exc:
            if missing_ok and exc.errno == errno.ENOENT:
                return
            raise _explain(exc, "remove", path) from None
        except DeviceException as exc:
            raise _explain(exc, "remove", path) from None

    def rename(self, old: str, new: str) -> None:
        self._changing(
            lambda: self._call(f"rename({old!r}, {new!r})", "rename", f"{old} to {new}"),
            lambda drive: drive.rename(old, new),
        )

    # -- through a CircuitPython board's drive

    def _changing(
        self,
        on_board: Callable[[], _Result],
        on_drive: Callable[[HostDrive], _Result],
    ) -> _Result:
        """A change made by the board's code, or through its drive where a
        computer (this one) has it mounted and the board's code cannot write."""
        drive = self._known_drive()
        if drive is None:
            try:
                return on_board()
            except ReadOnlyFilesystemError as exc:
                drive = self._drive_for(exc)
        try:
            return on_drive(drive)
        except DriveError as exc:  # a file error as the board's own would be
            raise FileError(str(exc)) from None

    def _known_drive(self) -> HostDrive | None:
        root = self.device.host_drive
        if root is not None and not root.is_dir():  # ejected: the board may write again
            self.device.host_drive = root = None
        return HostDrive(root) if root is not None else None

    def _drive_for(self, refused: ReadOnlyFilesystemError) -> HostDrive:
        """The drive of a board whose code may not write, proven the board's,
        or the error saying what to do."""
        identity = self.device.identity()
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
                # Bound until the link closes or reopens (Device.reopen).
                log.info("%s: writing through its drive at %s", self.device.url, root)
                self.device.host_drive = root
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
            log.info("%s: cannot prove the drive %s: %s", self.device.url, drive.root, exc)
            return False
        try:
            deadline = time.monotonic() + DRIVE_SETTLE
            while True:
                entry = self.stat(name)
                if entry is not None and entry.size == len(token):
                    return secrets.compare_digest(self.read(name), token.encode())
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.1)
        finally:
            with contextlib.suppress(DriveError):
                drive.remove(name, recursive=False, missing_ok=True)

    def _write_through_drive(
        self, drive: HostDrive, path: str, data: bytes, progress: Progress | None
    ) -> str:
        """Write on the drive, then check what the board reads back; when it
        does not match, the drive gets back what it held before."""
        before = drive.regular_file_content(path)
        drive.write(path, data)
        want = host_hash(data, self._known_hash_kind())
        deadline = time.monotonic() + DRIVE_SETTLE
        while True:
            got = self.hash(path) if self.stat(path) is not None else None
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
        raw = self._raw_downloads()
        while len(data) < entry.size:
            asked = self._chunk()
            try:
                if raw:
                    chunk: object = self._read_raw_chunk(path, len(data), asked)
                else:
                    chunk = self.device.call_helper(
                        f"rchunk({path!r}, {len(data)}, {asked})", timeout=None
                    )
            except DeviceException as exc:
                self._shrink_chunk(exc, "read", path)
                continue
            # Never more than asked for, nor past the size announced: a board
            # that lies about a file cannot grow host memory without bound.
            if not isinstance(chunk, bytes) or not chunk or len(chunk) > asked:
                raise FileError(f"cannot read {path}: it changed while being read")
            if len(data) + len(chunk) > entry.size:
                raise FileError(f"cannot read {path}: it grew while being read")
            self._grow_chunk()
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
        return self._changing(
            lambda: self._write_on_board(path, data, progress),
            lambda drive: self._write_through_drive(drive, path, data, progress),
        )

    def _write_on_board(self, path: str, data: bytes, progress: Progress | None) -> str:
        if len(data) <= self._chunk():
            try:
                digest = self._write_in_one(path, data)
            except _ChunkTooLarge:
                pass  # the board could not take it at once: in smaller chunks
            else:
                if progress is not None:
                    progress(len(data), len(data))
                return digest
        if self._raw_path():
            try:
                return self._write_raw(path, data, progress, pack=self.compress)
            except _RawPathFailed:
                pass  # the link or the board let the raw path down: base64 chunks
        return self._write_chunks(path, data, progress)

    def _write_chunks(self, path: str, data: bytes, progress: Progress | None) -> str:
        """Base64 chunks in source, one round trip each: the path every board has."""
        kind = str(self._call(f"wbegin({path!r})", "write", path))
        sent = 0
        try:
            view = memoryview(data)
            while sent < len(data) or sent == 0:
                chunk = bytes(view[sent : sent + self._chunk()])
                try:
                    written = self.device.call_with_payload(
                        "wput", (path, sent), base64.b64encode(chunk)
                    )
                except DeviceException as exc:
                    self._shrink_chunk(exc, "write", path)
                    continue
                if written != len(chunk):
                    raise FileError(
                        f"cannot write {path}: the board stored {written} of {len(chunk)} bytes"
                    )
                sent += len(chunk)
                self._grow_chunk()
                if progress is not None:
                    progress(sent, len(data))
                if not data:
                    break
            want = host_hash(data, kind)
            try:
                return str(self.device.call_helper(f"wend({path!r}, {want!r})", timeout=120))
            except DeviceException as exc:
                raise _write_failure(exc, path) from None
        except BaseException:
            self._abort(path)
            raise

    def _raw_path(self) -> bool:
        """Whether writes take the raw data path on this board (asked once):
        a link that carries any byte (not WebREPL's text frames) and a board
        whose code can read its stdin as bytes."""
        if not self.raw_transfers or not self.device.transport.binary_input:
            return False
        limits = self.device.transfer_limits
        if "raw" not in limits:
            answer = self._call("rxok()", "ask about", "raw transfers")
            raw, inflate, out = (
                answer if isinstance(answer, list) and len(answer) == 3 else (0,) * 3
            )
            limits.update(raw=int(raw is True), inflate=int(inflate is True), out=int(out is True))
        return bool(limits["raw"])

    def _raw_downloads(self) -> bool:
        """Whether reads take the raw data path: bytes on the board's stdout
        (a few escaped), not base64 (4/3 of them) in its JSON reply."""
        return self._raw_path() and bool(self.device.transfer_limits.get("out"))

    def _read_raw_chunk(self, path: str, offset: int, size: int) -> bytes:
        """One chunk of a raw download, checked against its length and CRC-32."""
        printed: list[bytes] = []
        reply = self.device.call_helper(
            f"tx({path!r}, {offset}, {size})", timeout=None, on_stdout=printed.append
        )
        out = b"".join(printed)
        operation = f"read {path}"
        length, crc = replies.items(reply, operation, "a length and a CRC-32", 2)
        data = _UNESCAPE.sub(lambda m: bytes((m.group(1)[0] - 0x40,)), out[: out.rfind(b"\x1e")])
        if len(data) != replies.size(length, operation) or zlib.crc32(data) != crc:
            raise TransferVerificationError(
                f"cannot read {path}: a chunk was corrupted on the link"
            )
        return data

    def _packed(self, data: bytes) -> bytes | None:
        """`data` deflated for the board (zlib format), or None when the
        board cannot inflate or it would not be smaller by a tenth (random
        or already compressed bytes never pay for it). The window fits the
        board's heap: 1 KB, 2 KB past 20 KB free, 4 KB past 64 KB."""
        if not self.compress or not self.device.transfer_limits.get("inflate"):
            return None
        free = self.device.free_memory()
        wbits = 12 if free >= 64 * 1024 else 11 if free >= 20 * 1024 else 10
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        packed = packer.compress(data) + packer.flush()
        return packed if len(packed) < len(data) * 0.9 else None

    def _write_raw(self, path: str, data: bytes, progress: Progress | None, *, pack: bool) -> str:
        """File bytes as raw frames on the board's stdin (see _FramePump):
        about the link's byte rate, against 3/4 of it as base64 in source;
        deflated when that is smaller (source code: about 2.5 times less)."""
        want = host_hash(data, self._known_hash_kind())
        packed = self._packed(data) if pack else None
        pump = self._frame_pump(data if packed is None else packed, len(data), progress)
        pump.start()
        try:
            # One call for the whole file: its deadline grows with the size (at
            # 1 KB/s, below any link's rate); the watchdog catches a stall early.
            reply = self.device.call_helper(
                f"rx({path!r}, {len(data)}, {want!r}, {pump.frames}, {packed is not None})",
                timeout=self.device.deadline + len(data) / 1024,
                on_stdout=pump.feed,
            )
        except DeviceException as exc:
            pump.stop()  # before any retry: its watchdog must not interrupt the next call
            self.device.resync()  # what the board had not read yet must not reach its REPL
            return self._after_raw_failure(
                exc, path, data, progress, packed=packed is not None, stalled=pump.stalled
            )
        except BaseException:
            with contextlib.suppress(IotKernelError):
                self.device.resync()
            self._abort(path)
            raise
        finally:
            pump.stop()
        if pump.unexpected is not None:
            raise FileError(f"cannot write {path}: the board's receiver said {pump.unexpected!r}")
        stored, digest = replies.items(reply, f"write {path}", "a size and a hash", 2)
        if stored != len(data):
            raise FileError(f"cannot write {path}: the board stored {stored!r} bytes")
        if progress is not None:
            progress(len(data), len(data))
        return replies.text(digest, f"write {path}", "a content hash", limit=80)

    def _frame_pump(self, sent: bytes, size: int, progress: Progress | None) -> _FramePump:
        """A pump for `sent` (the file's bytes, or them deflated) in frames of
        one chunk; progress counts in the file's `size` bytes."""
        chunk = self._chunk()
        pieces = [sent[start : start + chunk] for start in range(0, len(sent), chunk)]
        # The unix port reads its pty as fast as it comes: no UART to overrun.
        platform = self.device.identity().platform
        ahead = 8 * chunk if platform == "linux" else UART_PREFETCH

        def on_frames(done: int, total: int) -> None:  # in the file's bytes, not the link's
            if progress is not None:
                progress(done * size // max(total, 1), size)

        return _FramePump(
            self.device,
            [escape_frame(piece) for piece in pieces],
            [len(piece) for piece in pieces],
            ahead,
            on_frames,
        )

    def _after_raw_failure(
        self,
        exc: DeviceException,
        path: str,
        data: bytes,
        progress: Progress | None,
        *,
        packed: bool,
        stalled: bool,
    ) -> str:
        """What a raw write does when the board raised: go again another way
        (returning its hash), or say why it failed. The old file is intact."""
        if stalled:
            # A byte lost on the link (or a board far slower than its idle
            # timeout): the chunked path, which waits for each reply, takes over.
            log.info("%s: raw transfer of %s stalled; sending it in chunks", self.device.url, path)
            raise _RawPathFailed from None
        if exc.exc_type == "MemoryError":
            # Without compression first (the inflater's window did not fit),
            # then in smaller frames.
            if not packed:
                self._shrink_chunk(exc, "write", path)
            return self._write_raw(path, data, progress, pack=False)
        if exc.exc_type == "ValueError" and "corrupted in transit" in exc.message:
            raise TransferVerificationError(
                f"cannot write {path}: a frame was corrupted on the link; the old file is intact"
            ) from None
        raise _write_failure(exc, path) from None

    def _known_hash_kind(self) -> str:
        """The board's content hash (sha256, or crc32 where it has no hashlib), asked once."""
        if self._hash_kind is None:
            self._hash_kind = self.hash_kind()
        return self._hash_kind

    def _write_in_one(self, path: str, data: bytes) -> str:
        """A file that fits in one chunk: one round trip (the board begins,
        writes, verifies and renames; on any failure it removes its temporary)."""
        want = host_hash(data, self._known_hash_kind())
        try:
            reply = self.device.call_with_payload("wone", (path, want), base64.b64encode(data))
        except DeviceException as exc:
            if exc.exc_type != "MemoryError":
                raise _write_failure(exc, path) from None
            self._shrink_chunk(exc, "write", path)  # or a FileError at the smallest chunk
            raise _ChunkTooLarge from None
        except BaseException:
            self._abort(path)  # the link failed: the board may not have cleaned up
            raise
        if not isinstance(reply, list) or len(reply) != 2 or reply[0] != len(data):
            raise FileError(f"cannot write {path}: the board stored something else ({reply!r})")
        return str(reply[1])

    def _abort(self, path: str) -> None:
        """Remove the temporary of a failed write (best effort: the link may be gone)."""
        with contextlib.suppress(IotKernelError):
            self.device.call_helper(f"wabort({path!r})", timeout=5)

    # -- trees between host and board

    def holds(self, remote: str, data: bytes, digest: str | None = None) -> bool:
        """Whether the board file `remote` (whose hash is `digest`, if known)
        holds exactly `data`: compared by the hash the board computes."""
        return _digest_matches(data, self.hash(remote) if digest is None else digest)

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
            if skip_unchanged and entry.hash and _host_file_holds(target, entry.hash):
                continue
            write_host_file(target, self.read(entry.path))
            written.append(target)
        return written


def _digest_matches(data: bytes, digest: str) -> bool:
    """Whether `data` has `digest` (`kind:hex`, as the board gives it)."""
    return host_hash(data, digest.split(":")[0]) == digest


def _host_file_holds(path: Path, digest: str) -> bool:
    try:
        return path.is_file() and _digest_matches(path.read_bytes(), digest)
    except OSError:
        return False


def write_host_file(target: Path, data: bytes) -> None:
    """Write a file on the host atomically (a temporary renamed over it: never
    a half-written file); an OSError is a FileError naming the file."""
    try:
        atomic_write(target, data)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        reason = getattr(exc, "strerror", None) or exc
        raise FileError(f"cannot write {target!s:.200} on the host: {reason}") from None
