"""The mount service: a host folder seen by the board as a filesystem.

Owns the host side of `%mount`: installing the board-side filesystem
(`board/mount.py`) and answering its requests while the board's code runs.
The requests arrive inside the board's stdout (`\\x18`, a JSON array, a
newline): `Device` hands every stdout chunk to `MountServer.feed`, which
answers on stdin with one escaped, CRC-checked frame and returns the rest
as the program's output.

Requests are untrusted: every path is resolved inside the mounted folder
(no `..`, no symlink leading out unless `follow_links`), arguments are
type-checked, and a bad request is answered with an errno, never a crash.
Writes go to a temporary beside the target, renamed over it on close.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import itertools
import json
import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from .device import Device
from .errors import DeviceException, IotKernelError
from .fs import escape_frame
from .helper_calls import module_pieces
from .util import TEMP_SUFFIX

REQUEST_START = b'\x18["'
# A request line longer than this is not ours: shown as output.
MAX_REQUEST = 8192
# The largest block a read may ask for.
MAX_BLOCK = 16384
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


class MountServer:
    """Answers one board's file requests from `root`, mounted at `at`."""

    def __init__(self, root: Path, *, at: str = "/remote", follow_links: bool = False) -> None:
        self.root = root.resolve()
        if not self.root.is_dir():
            raise MountError(f"cannot mount {root}: not a directory on the host")
        self.at = at
        self.follow_links = follow_links
        self.requests = 0
        self._partial = b""
        self._writes: dict[int, tuple[BinaryIO, Path, Path]] = {}
        self._handles = itertools.count(1)
        self._reply: Callable[[bytes], None] | None = None
        self._text_link = False
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
        device.call_helper("hashkind()")  # the helpers (unesc) are there
        # Blocks of 512 bytes on a small heap: each is a fresh allocation
        # there, and a fragmented 40 KB heap may hold no free 1 KB block.
        block = 2048 if device.free_memory() > 64 * 1024 else 512
        # Bytes of 0x80 and above do not cross WebREPL's text frames as sent.
        self._text_link = not device.transport.binary_input
        try:
            for piece in BOARD_INSTALL:
                device.exec(piece, timeout=30)
            self._reply = device.answer_program
            device.side_channel = self
            call = (
                f"__import__('sys').modules[{NAMESPACE!r}]['mount']"
                f"({self.at!r}, {block}, {int(self._text_link)})"
            )
            device.exec(call, timeout=30)
        except DeviceException as exc:
            if device.side_channel is self:
                device.side_channel = None
            raise MountError(f"{device.url} cannot take a mount at {self.at}: {exc}") from None
        device.after_soft_reset.append(self.reattach)

    def detach(self, device: Device) -> None:
        """Unmount on the board (when it still answers) and stop serving."""
        try:
            device.exec(
                f"__import__('sys').modules[{NAMESPACE!r}]['umount']({self.at!r})\n"
                f"__import__('sys').modules.pop({NAMESPACE!r}, None)",
                timeout=10,
            )
        finally:
            if device.side_channel is self:
                device.side_channel = None
            with contextlib.suppress(ValueError):
                device.after_soft_reset.remove(self.reattach)
            self.close()

    def reattach(self, device: Device) -> None:
        """Mount again on a board that lost the mount (a soft reset, a
        reconnect): files it had open are gone, so their writes are dropped."""
        self.close()
        device.side_channel = None  # installed again by attach
        with contextlib.suppress(ValueError):
            device.after_soft_reset.remove(self.reattach)
        self.attach(device)

    def close(self) -> None:
        """Drop unfinished writes: their temporaries are removed, targets kept."""
        for handle in list(self._writes):
            file, temporary, _ = self._writes.pop(handle)
            file.close()
            temporary.unlink(missing_ok=True)

    # -- the stream

    def feed(self, data: bytes) -> bytes:
        """Take the requests out of a chunk of the board's stdout, answering
        each; what is left is the program's own output."""
        data = self._partial + data
        self._partial = b""
        shown = bytearray()
        while data:
            start = data.find(b"\x18")
            if start < 0:
                shown += data
                break
            shown += data[:start]
            data = data[start:]
            if len(data) < len(REQUEST_START) and REQUEST_START.startswith(data):
                self._partial = data
                break
            end = data.find(b"\n")
            if data.startswith(REQUEST_START) and end < 0 and len(data) < MAX_REQUEST:
                self._partial = data  # the rest of the request is on its way
                break
            answer = self.answer(data[1:end]) if data.startswith(REQUEST_START) else None
            if answer is None:  # not a request of ours: the program's bytes
                shown += data[:1]
                data = data[1:]
                continue
            if self._reply is not None:
                self._reply(answer)
            data = data[end + 1 :]
        return bytes(shown)

    def answer(self, line: bytes) -> bytes | None:
        """The frame answering one request line, or None if it is not one."""
        try:
            request = json.loads(line.rstrip(b"\r").decode())
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(request, list) or not request or request[0] not in self._ops:
            return None
        self.requests += 1
        try:
            body = self._ops[request[0]](*request[1:])
            status = 0
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

    def _list(self, path: object) -> list[list[Any]]:
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
        return info.st_size

    def _read_block(self, path: object, offset: object, size: object) -> bytes:
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size < 0:
            raise _Refused(errno.EINVAL)
        with self._host(path).open("rb") as file:
            file.seek(offset)
            return file.read(min(size, MAX_BLOCK))

    def _open_write(self, path: object, mode: object) -> int:
        if not isinstance(mode, str):
            raise _Refused(errno.EINVAL)
        target = self._host(path)
        if "x" in mode and target.exists():
            raise _Refused(errno.EEXIST)
        if target.is_dir():
            raise _Refused(errno.EISDIR)
        if not target.parent.is_dir():
            raise _Refused(errno.ENOENT)
        descriptor, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX
        )
        file = os.fdopen(descriptor, "wb")
        if "a" in mode and target.is_file():
            with target.open("rb") as existing:
                shutil.copyfileobj(existing, file)
        handle = next(self._handles)
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
