"""The mount service: a host folder seen by the board as a filesystem.

Owns the host side of `%mount`: installing the board-side filesystem
(`board/mount.py`) and answering its requests while the board's code runs.
The requests arrive inside the board's stdout (`\\x18`, the mount's secret,
a JSON array, a newline): `Device` hands every stdout chunk to
`MountServer.feed`, which answers on stdin with one escaped, CRC-checked
frame and returns the rest as the program's output.

Only the mount's own code can ask. Whatever the board prints may be data
its program received, so a line counts as a request only if it carries the
secret (128 random bits) made for this mount and sent to the board-side
filesystem alone; a new one on every attach (a `%mount`, a soft reset, a
reconnect). Anything else, however request-shaped, is output.

Requests are untrusted all the same, and bounded: a line longer than
MAX_REQUEST is output; its JSON must be one flat array; paths are resolved
inside the mounted folder (no `..`, no symlink leading out unless
`follow_links`); only regular files are opened (a FIFO or a device is
ENODEV, never opened); at most MAX_OPEN_WRITES files are open for writing
(EMFILE past it); answers fit the block size the board asked for (listings
come in pages); every host operation has a deadline (ETIMEDOUT), and a stop
(`interrupt`) ends the wait for one at once. A bad request is answered with
an errno, never a crash. Writes go to a temporary beside the target,
renamed over it on close.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import functools
import json
import os
import posixpath
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .device import Device
from .device.calls import module_pieces
from .errors import DeviceException, IotKernelError
from .files import escape_frame
from .inband import (
    SECRET_LENGTH,
    InbandError,
    LineScanner,
    loads_bounded,
    new_secret,
    secret_matches,
)
from .util import TEMP_SUFFIX, open_regular_file

REQUEST_MARK = b"\x18"
# A request line longer than this (mark, secret and newline included) is
# not ours: shown as output. The board side refuses to send a longer one.
MAX_REQUEST = 4096
# Files open for writing at once, per mount.
MAX_OPEN_WRITES = 16
# A host file operation that takes longer is answered ETIMEDOUT (a hung
# network filesystem); its thread is left behind, and past this many left
# behind, every request is answered EIO at once.
HOST_OP_DEADLINE = 10.0
MAX_STUCK_OPERATIONS = 4
NAMESPACE = "__iotk_mount"


# The board-side filesystem, installed in checked pieces into its own
# namespace (a 40 KB heap cannot compile all of it at once). It goes up again
# after every soft reset, on a heap the helpers have just fragmented: pieces
# of at most 800 bytes.
MOUNT_PIECE_LIMIT = 800
BOARD_INSTALL = module_pieces("mount.py", NAMESPACE, MOUNT_PIECE_LIMIT)


class MountError(IotKernelError):
    """The folder cannot be mounted (missing, not a directory), or the board
    cannot take the mount."""


class _Refused(Exception):
    """A request answered with an errno."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class _Abandoned(Exception):
    """The wait for a host operation was stopped: nothing is answered."""


class MountServer:
    """Answers one board's file requests from `root`, mounted at `at`."""

    def __init__(self, root: Path, *, at: str = "/remote", follow_links: bool = False) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise MountError(f"cannot mount {root}: not a directory on the host")
        self.at = at
        self.follow_links = follow_links
        self.requests = 0
        self.refused_lines = 0  # request-shaped lines shown as output
        self._scanner = LineScanner(REQUEST_MARK, MAX_REQUEST)
        self._secret = ""  # none until attached: nothing is a request
        self._writes: dict[int, tuple[BinaryIO, Path, Path]] = {}
        self._reply: Callable[[bytes], None] | None = None
        self._text_link = False
        self._block = 512  # the largest answer body the board takes, set by attach
        self._listing: tuple[str, list[list[Any]]] | None = None  # a listing being paged
        self._interrupted_at = 0.0  # when interrupt() was last called
        self._stuck = 0  # operations past their deadline, their threads left behind
        self._ops: dict[str, Callable[..., Any]] = {
            "st": self._stat,
            "ls": self._list,
            "df": self._statvfs,
            "ro": self._open_read,
            "rb": self._read_block,
            "wo": self._open_write,
            "wd": self._write_data,
            "wc": self._write_close,
            "rm": lambda path: self._host(path).unlink(),
            "mv": lambda old, new: os.replace(self._host(old), self._host(new)),
            "mk": lambda path: self._host(path).mkdir(),
            "rd": lambda path: self._host(path).rmdir(),
        }

    # -- on the board

    def attach(self, device: Device) -> None:
        """Install the board-side filesystem on `device`, mount it at `at`
        (cwd there, first on `sys.path`), and serve it from now on."""
        device.helpers.hash_kind()  # the file helpers (unesc) are there
        # Blocks of 512 bytes on a small heap: each is a fresh allocation
        # there, and a fragmented 40 KB heap may hold no free 1 KB block.
        block = 2048 if device.helpers.free_memory() > 64 * 1024 else 512
        # Bytes of 0x80 and above do not cross WebREPL's text frames as sent.
        self._text_link = not device.transport.binary_input
        self._block = block
        self._secret = new_secret()
        try:
            for piece in BOARD_INSTALL:
                device.exec(piece, timeout=30)
            self._reply = functools.partial(device.send_input, only_while_running=True)
            device.hooks.side_channel = self
            # The secret goes to the board-side filesystem alone; the call
            # prints nothing, and no request is needed to mount.
            device.helpers.run_in_module(
                NAMESPACE, "mount", self.at, block, int(self._text_link), self._secret, timeout=30
            )
        except DeviceException as exc:
            if device.hooks.side_channel is self:
                device.hooks.side_channel = None
            raise MountError(f"{device.url} cannot take a mount at {self.at}: {exc}") from None
        device.hooks.after_soft_reset.append(self.reattach)

    def detach(self, device: Device) -> None:
        """Unmount on the board (when it still answers) and stop serving."""
        try:
            device.helpers.run_in_module(NAMESPACE, "umount", self.at, timeout=10)
            device.helpers.drop_module(NAMESPACE, timeout=10)
        finally:
            if device.hooks.side_channel is self:
                device.hooks.side_channel = None
            with contextlib.suppress(ValueError):
                device.hooks.after_soft_reset.remove(self.reattach)
            self.close()

    def reattach(self, device: Device) -> None:
        """Mount again on a board that lost the mount (a soft reset, a
        reconnect): files it had open are gone, so their writes are dropped."""
        self.close()
        device.hooks.side_channel = None  # installed again by attach
        with contextlib.suppress(ValueError):
            device.hooks.after_soft_reset.remove(self.reattach)
        self.attach(device)

    def close(self) -> None:
        """Drop unfinished writes (their temporaries are removed, targets
        kept) and forget the secret: until attached again, nothing is a request."""
        self._secret = ""
        self._listing = None
        self._stuck = 0  # a new start (their threads may still hang: daemons)
        for handle in list(self._writes):
            file, temporary, _ = self._writes.pop(handle)
            file.close()
            temporary.unlink(missing_ok=True)

    # -- the stream

    def feed(self, data: bytes) -> bytes:
        """Take the requests out of a chunk of the board's stdout, answering
        each; what is left is the program's own output."""
        shown = bytearray()
        for segment in self._scanner.feed(data):
            answer = None if segment.line is None else self.answer(segment.line)
            if answer is None:  # not a request of this mount: the program's bytes
                shown += segment.raw
            elif self._reply is not None:
                self._reply(answer)
        return bytes(shown)

    def flush(self) -> bytes:
        """The program has ended: what the scanner held is output."""
        return self._scanner.flush()

    def interrupt(self) -> None:
        """Stop waiting for a host operation under way (from any thread):
        the board is being interrupted, and nobody will read that answer."""
        self._interrupted_at = time.monotonic()

    def answer(self, line: bytes) -> bytes | None:
        """The frame answering one request line (what followed the mark),
        or None if it is not a request of this mount."""
        if not self._secret or not secret_matches(line[:SECRET_LENGTH], self._secret):
            self.refused_lines += 1
            return None
        try:
            request = loads_bounded(line[SECRET_LENGTH:], max_depth=1)
        except InbandError:
            request = None
        if not isinstance(request, list) or not request or request[0] not in self._ops:
            body, status = None, errno.EINVAL  # ours, but malformed: still answered
        else:
            self.requests += 1
            try:
                body, status = self._bounded(self._ops[request[0]], request[1:]), 0
            except _Abandoned:
                return None
            except _Refused as refused:
                body, status = None, refused.number
            except OSError as exc:
                body, status = None, exc.errno or errno.EIO
            except (TypeError, ValueError, binascii.Error):
                body, status = None, errno.EINVAL  # a malformed request
        if not isinstance(body, bytes):
            body = b"" if body is None else json.dumps(body).encode()
        if self._text_link:
            body = base64.b64encode(body)
        return b"%02x" % min(status, 255) + escape_frame(body)

    def _bounded(self, operation: Callable[..., Any], arguments: list[Any]) -> Any:
        """`operation(*arguments)` within HOST_OP_DEADLINE, in a thread of
        its own (a hung filesystem must not hang the kernel); `_Abandoned`
        when `interrupt` stops the wait."""
        if self._stuck >= MAX_STUCK_OPERATIONS:
            raise _Refused(errno.EIO)
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, operation(*arguments)))
            except BaseException as exc:  # handed over to the waiting thread
                outcome.append((False, exc))

        started = time.monotonic()
        worker = threading.Thread(target=run, name="iotk-mount-op", daemon=True)
        worker.start()
        worker.join(0.05)  # nearly every operation is done by now
        while worker.is_alive():
            if self._interrupted_at > started:
                self._stuck += 1
                raise _Abandoned
            if time.monotonic() - started > HOST_OP_DEADLINE:
                self._stuck += 1
                raise _Refused(errno.ETIMEDOUT)
            worker.join(0.02)
        succeeded, value = outcome[0]
        if not succeeded:
            raise value
        return value

    # -- paths

    def _host(self, path: object) -> Path:
        """The host path of a board path inside the mount; EACCES for one
        leading out (`..`, or a symlink unless `follow_links`)."""
        if not isinstance(path, str) or "\x00" in path or "\\" in path:
            raise _Refused(errno.EINVAL)
        relative = posixpath.normpath("/" + path).lstrip("/")
        if relative.startswith(".."):
            raise _Refused(errno.EACCES)
        if relative.endswith(TEMP_SUFFIX):
            raise _Refused(errno.ENOENT)  # a write in progress is not a file yet
        target = self.root / relative if relative and relative != "." else self.root
        if not self.follow_links:
            resolved = target.resolve()
            if resolved != self.root and self.root not in resolved.parents:
                raise _Refused(errno.EACCES)
        return target

    # -- requests

    def _stat(self, path: object) -> list[int]:
        info = self._host(path).stat()
        mode = 0x4000 if stat.S_ISDIR(info.st_mode) else 0x8000
        return [mode, info.st_size, int(info.st_mtime)]

    def _list(self, path: object, start: object = 0) -> list[Any]:
        """One page of a listing: rows from `start` whose JSON fits the
        board's block, and where the next page starts (None at the end).
        The folder is read when a listing starts (start 0), kept for its pages."""
        if not isinstance(start, int) or start < 0:
            raise _Refused(errno.EINVAL)
        if start == 0 or self._listing is None or self._listing[0] != path:
            self._listing = (str(path), self._rows(path))
        rows = self._listing[1]
        budget = self._block * 3 // 4 if self._text_link else self._block
        page: list[list[Any]] = []
        size = 16  # the page's brackets and the next start
        index = start
        while index < len(rows):
            row_size = len(json.dumps(rows[index])) + 2
            if page and size + row_size > budget:
                break
            page.append(rows[index])
            size += row_size
            index += 1
        return [page, index if index < len(rows) else None]

    def _rows(self, path: object) -> list[list[Any]]:
        rows = []
        for entry in sorted(os.scandir(self._host(path)), key=lambda e: e.name):
            if entry.name.endswith(TEMP_SUFFIX):
                continue
            try:
                is_dir = entry.is_dir()
                size = 0 if is_dir else entry.stat().st_size
            except OSError:
                continue  # a dangling symlink
            rows.append([entry.name, 0x4000 if is_dir else 0x8000, size])
        return rows

    def _statvfs(self, path: object) -> list[int]:
        usage = shutil.disk_usage(self._host(path))
        block = 4096
        blocks, free = usage.total // block, usage.free // block
        return [block, block, blocks, free, free, 0, 0, 0, 0, 255]

    def _open_read(self, path: object) -> int:
        info = self._host(path).stat()
        if stat.S_ISDIR(info.st_mode):
            raise _Refused(errno.EISDIR)
        if not stat.S_ISREG(info.st_mode):
            raise _Refused(errno.ENODEV)  # a FIFO, a device, a socket: never opened
        return info.st_size

    def _read_block(self, path: object, offset: object, size: object) -> bytes:
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size < 0:
            raise _Refused(errno.EINVAL)
        with os.fdopen(open_regular_file(self._host(path)), "rb") as file:
            file.seek(offset)
            return file.read(min(size, self._block))

    def _open_write(self, path: object, mode: object) -> int:
        if not isinstance(mode, str):
            raise _Refused(errno.EINVAL)
        if len(self._writes) >= MAX_OPEN_WRITES:
            raise _Refused(errno.EMFILE)
        target = self._host(path)
        if "x" in mode and target.exists():
            raise _Refused(errno.EEXIST)
        if target.is_dir():
            raise _Refused(errno.EISDIR)
        if target.exists() and not target.is_file():
            raise _Refused(errno.ENODEV)
        if not target.parent.is_dir():
            raise _Refused(errno.ENOENT)
        existing = open_regular_file(target) if "a" in mode and target.is_file() else None
        descriptor, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX
        )
        file = os.fdopen(descriptor, "wb")
        if existing is not None:
            with os.fdopen(existing, "rb") as old:
                shutil.copyfileobj(old, file)
        # Unguessable, though only the mount's own code can use it anyway.
        handle = secrets.randbelow(1 << 30) + 1
        while handle in self._writes:
            handle = secrets.randbelow(1 << 30) + 1
        self._writes[handle] = (file, Path(name), target)
        return handle

    def _write_data(self, handle: object, data: object) -> None:
        if not isinstance(data, str) or not isinstance(handle, int) or handle not in self._writes:
            raise _Refused(errno.EBADF)
        self._writes[handle][0].write(base64.b64decode(data, validate=True))

    def _write_close(self, handle: object) -> None:
        if not isinstance(handle, int) or handle not in self._writes:
            raise _Refused(errno.EBADF)
        file, temporary, target = self._writes.pop(handle)
        with file:
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
