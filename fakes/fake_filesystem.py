"""An in-memory filesystem shaped like a MicroPython board's (littlefs/FAT).

Owns files (bytes) and directories, `os`-module functions with MicroPython's
signatures (`ilistdir` tuples, `stat` tuples, `statvfs`), errors as
`OSError(errno)` the way MicroPython raises them, an optional capacity (to
simulate a full device) and a read-only switch. Thread-safe.

`os.mount(vfs, "/point")` works as MicroPython's VFS layer does for a
filesystem written in Python (docs.micropython.org, `vfs` module, "the VFS
protocol"): calls on paths at or under the mount point go to the object's
`ilistdir`, `stat`, `open`, `mkdir`, ... with the path relative to the
mount point ("/" for the point itself); the root listing shows the point;
a soft reset unmounts everything (the board clears `mounts`).
"""

from __future__ import annotations

import errno
import io
import threading
import time
from typing import Any

S_IFDIR = 0x4000
S_IFREG = 0x8000
EPOCH_2000 = 946684800  # MicroPython's epoch on most bare-metal ports


def _oserror(code: int) -> OSError:
    # MicroPython prints these as "OSError: [Errno 2] ENOENT".
    return OSError(code, errno.errorcode.get(code, str(code)))


def normpath(cwd: str, path: str) -> str:
    """Absolute, normalised path ('/a/b'), resolving '.' and '..'."""
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


class FakeFilesystem:
    """Files and directories in memory."""

    def __init__(self, *, capacity: int | None = None, read_only: bool = False) -> None:
        self.files: dict[str, bytearray] = {}
        self.mtimes: dict[str, int] = {}
        self.dirs: set[str] = {"/"}
        self.capacity = capacity
        self.read_only = read_only
        self.cwd = "/"
        self.lock = threading.RLock()
        self.mounts: dict[str, Any] = {}  # mount point -> a VFS object (os.mount)

    # -- helpers

    def _abs(self, path: str) -> str:
        return normpath(self.cwd, path)

    def _parent(self, path: str) -> str:
        return path.rsplit("/", 1)[0] or "/"

    def _check_writable(self) -> None:
        if self.read_only:
            raise _oserror(errno.EROFS)

    def _mounted(self, path: str) -> tuple[Any, str] | None:
        """(vfs, path inside it) when `path` is at or under a mount point.
        Never called with the lock held: a VFS may wait for its host."""
        full = self._abs(path)
        for point, vfs in list(self.mounts.items()):
            if full == point or full.startswith(point + "/"):
                return vfs, full[len(point) :] or "/"
        return None

    def mount(self, vfs: Any, point: str, *, readonly: bool = False) -> None:
        full = self._abs(point)
        if full == "/" or full in self.mounts:
            raise _oserror(errno.EPERM)
        vfs.mount(readonly, False)
        self.mounts[full] = vfs

    def umount(self, point: str) -> None:
        full = self._abs(point)
        if full not in self.mounts:
            raise _oserror(errno.EINVAL)
        self.mounts.pop(full).umount()

    def used(self) -> int:
        return sum(len(data) for data in self.files.values())

    def _touch(self, path: str) -> None:
        self.mtimes[path] = int(time.time()) - EPOCH_2000

    # -- os functions

    def listdir(self, path: str = ".") -> list[str]:
        return [entry[0] for entry in self.ilistdir(path)]

    def ilistdir(self, path: str = ".") -> list[tuple[str, int, int, int]]:
        if (routed := self._mounted(path)) is not None:
            return [tuple(entry) for entry in routed[0].ilistdir(routed[1])]
        with self.lock:
            full = self._abs(path)
            if full not in self.dirs:
                raise _oserror(errno.ENOENT if full not in self.files else errno.ENOTDIR)
            prefix = full.rstrip("/") + "/"
            out: list[tuple[str, int, int, int]] = []
            for d in sorted(self.dirs):
                if d != full and d.startswith(prefix) and "/" not in d[len(prefix) :]:
                    out.append((d[len(prefix) :], S_IFDIR, 0, 0))
            for f in sorted(self.files):
                if f.startswith(prefix) and "/" not in f[len(prefix) :]:
                    out.append((f[len(prefix) :], S_IFREG, 0, len(self.files[f])))
            for point in sorted(self.mounts):
                if self._parent(point) == full:
                    out.append((point[len(prefix) :], S_IFDIR, 0, 0))
            return out

    def stat(self, path: str) -> tuple[int, ...]:
        if (routed := self._mounted(path)) is not None:
            return tuple(routed[0].stat(routed[1]))
        with self.lock:
            full = self._abs(path)
            if full in self.dirs:
                return (S_IFDIR, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            if full in self.files:
                mtime = self.mtimes.get(full, 0)
                return (S_IFREG, 0, 0, 0, 0, 0, len(self.files[full]), mtime, mtime, mtime)
            raise _oserror(errno.ENOENT)

    def mkdir(self, path: str) -> None:
        if (routed := self._mounted(path)) is not None:
            routed[0].mkdir(routed[1])
            return
        with self.lock:
            self._check_writable()
            full = self._abs(path)
            if full in self.dirs or full in self.files:
                raise _oserror(errno.EEXIST)
            if self._parent(full) not in self.dirs:
                raise _oserror(errno.ENOENT)
            self.dirs.add(full)

    def rmdir(self, path: str) -> None:
        if (routed := self._mounted(path)) is not None:
            routed[0].rmdir(routed[1])
            return
        with self.lock:
            self._check_writable()
            full = self._abs(path)
            if full not in self.dirs or full == "/":
                raise _oserror(errno.ENOENT if full != "/" else errno.EPERM)
            if self.ilistdir(full):
                raise _oserror(errno.EACCES)  # littlefs reports a non-empty dir as EACCES
            self.dirs.discard(full)

    def remove(self, path: str) -> None:
        if (routed := self._mounted(path)) is not None:
            routed[0].remove(routed[1])
            return
        with self.lock:
            self._check_writable()
            full = self._abs(path)
            if full in self.dirs:
                raise _oserror(errno.EISDIR)
            if full not in self.files:
                raise _oserror(errno.ENOENT)
            del self.files[full]
            self.mtimes.pop(full, None)

    def rename(self, old: str, new: str) -> None:
        source, target = self._mounted(old), self._mounted(new)
        if source is not None or target is not None:
            if source is None or target is None or source[0] is not target[0]:
                raise _oserror(errno.EXDEV)
            source[0].rename(source[1], target[1])
            return
        with self.lock:
            self._check_writable()
            src, dst = self._abs(old), self._abs(new)
            if self._parent(dst) not in self.dirs:
                raise _oserror(errno.ENOENT)
            if src in self.files:
                if dst in self.dirs:
                    raise _oserror(errno.EISDIR)
                self.files[dst] = self.files.pop(src)
                self.mtimes[dst] = self.mtimes.pop(src, 0)
                return
            if src in self.dirs:
                moved_dirs = {d for d in self.dirs if d == src or d.startswith(src + "/")}
                for d in moved_dirs:
                    self.dirs.discard(d)
                    self.dirs.add(dst + d[len(src) :])
                for f in [f for f in self.files if f.startswith(src + "/")]:
                    self.files[dst + f[len(src) :]] = self.files.pop(f)
                return
            raise _oserror(errno.ENOENT)

    def getcwd(self) -> str:
        return self.cwd

    def chdir(self, path: str) -> None:
        full = self._abs(path)
        if (routed := self._mounted(full)) is not None:
            routed[0].chdir(routed[1])
            self.cwd = full
            return
        if full not in self.dirs:
            raise _oserror(errno.ENOENT)
        self.cwd = full

    def statvfs(self, path: str = "/") -> tuple[int, ...]:
        if (routed := self._mounted(path)) is not None:
            return tuple(routed[0].statvfs(routed[1]))
        block = 4096
        total = (self.capacity or 2 * 1024 * 1024) // block
        free = max(0, total - (self.used() + block - 1) // block)
        return (block, block, total, free, free, 0, 0, 0, 0, 255)

    # -- files

    def open(self, path: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if (routed := self._mounted(path)) is not None:
            return routed[0].open(routed[1], mode)
        with self.lock:
            full = self._abs(path)
            if full in self.dirs:
                raise _oserror(errno.EISDIR)
            binary = "b" in mode
            if "r" in mode and "+" not in mode:
                if full not in self.files:
                    raise _oserror(errno.ENOENT)
                data = bytes(self.files[full])
                return io.BytesIO(data) if binary else io.StringIO(data.decode("utf-8"))
            if self._parent(full) not in self.dirs:
                raise _oserror(errno.ENOENT)
            self._check_writable()
            if "w" in mode or full not in self.files:
                self.files[full] = bytearray()
            self._touch(full)
            return _FakeWriter(self, full, binary)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Host-side helper for tests: create or replace a file."""
        with self.lock:
            full = self._abs(path)
            parent = self._parent(full)
            while parent not in self.dirs:  # create parents
                self.dirs.add(parent)
                parent = self._parent(parent)
            self.files[full] = bytearray(data)
            self._touch(full)

    def read_bytes(self, path: str) -> bytes:
        with self.lock:
            return bytes(self.files[self._abs(path)])


class _FakeWriter:
    """A file open for writing: every write lands at once, like a real board's FS."""

    def __init__(self, fs: FakeFilesystem, path: str, binary: bool) -> None:
        self._fs = fs
        self._path = path
        self._binary = binary
        self.closed = False
        self._position = 0

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        with self._fs.lock:
            size = len(self._fs.files.get(self._path, b""))
        self._position = max(0, offset + (0, self._position, size)[whence])
        return self._position

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        raw = bytes(data) if self._binary else str(data).encode("utf-8")
        with self._fs.lock:
            if self._path not in self._fs.files:
                raise _oserror(errno.ENOENT)
            content = self._fs.files[self._path]
            start = min(self._position, len(content))
            grows = max(0, start + len(raw) - len(content))
            cap = self._fs.capacity
            if cap is not None and self._fs.used() + grows > cap:
                room = max(0, cap - self._fs.used())
                raw = raw[: len(content) - start + room]
                self._fs.files[self._path] = content[:start] + raw + content[start + len(raw) :]
                self._position = start + len(raw)
                raise _oserror(errno.ENOSPC)
            self._fs.files[self._path] = content[:start] + raw + content[start + len(raw) :]
            self._position = start + len(raw)
            self._fs._touch(self._path)
        return len(raw)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> _FakeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
