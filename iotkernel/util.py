"""Small shared utilities: atomic host writes, deadlines, a SIGINT scope.

Owns idioms that several layers need and that are easy to get subtly wrong
when copied: a host file replaced atomically, a monotonic deadline, a
SIGINT handler installed for the length of a block, and a retry until a
deadline. Imports only the
standard library, so every layer may use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Progress of a long operation: (units done, units in all), e.g. bytes.
Progress = Callable[[int, int], None]

# The suffix of every temporary IoT Kernel writes (on the host and on boards);
# a user's file may not end in it.
TEMP_SUFFIX = ".iotk-tmp"


def open_regular_file(path: str | os.PathLike[str], *, follow_links: bool = True) -> int:
    """A read-only descriptor of `path` if it is a regular file.

    Opened without blocking (a FIFO would wait for a writer; a terminal is
    not made ours) and checked after opening, so nothing can be swapped in
    between a check and the open. A directory raises IsADirectoryError,
    any other kind of file (FIFO, device, socket) OSError ENODEV; without
    `follow_links` a symlink raises OSError ELOOP."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags)
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        raise OSError(errno.ENODEV, "not a regular file (a FIFO, a device or a socket)", str(path))
    return descriptor


def human_size(size: int) -> str:
    """1023 → `1023`, 1536 → `1.5K`, as `ls -h` and `mpremote tree -h` show sizes."""
    value = float(size)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{size}" if not unit else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace `path` so that readers see its old content or the new, never
    half of it: a temporary beside it (the same filesystem), flushed to disk,
    renamed over it. The temporary is gone whatever fails; the error
    (`OSError`, or `ValueError` for a NUL in the name) is the caller's."""
    content = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass(frozen=True)
class Deadline:
    """A moment on the monotonic clock by which something must be done."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (0 once passed)."""
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at


@contextlib.contextmanager
def sigint_handler(handler: Callable[[], None]) -> Iterator[None]:
    """Call `handler()` on SIGINT (the kernel's ■) while the block runs.

    Only the main thread can catch signals: elsewhere the block runs
    without. The handler runs between bytecodes of the main thread, so it
    must not block on a lock that thread may hold (start a thread instead).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: handler())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def sigint_interrupts(interrupt: Callable[[], None]) -> contextlib.AbstractContextManager[None]:
    """While the block runs, SIGINT (the ■ button) calls `interrupt` (a
    board's `Device.interrupt`) in a thread of its own: it takes a lock the
    main thread may hold, and a signal handler must not block on it."""
    return sigint_handler(lambda: threading.Thread(target=interrupt, daemon=True).start())


def retry(
    attempt: Callable[[], None],
    *,
    timeout: float,
    retry_on: tuple[type[Exception], ...],
    never: tuple[type[Exception], ...] = (),
    interval: float = 0.1,
) -> None:
    """Call `attempt` until it succeeds, retrying `retry_on` errors (but not
    `never` ones) until `timeout` seconds have passed; then the last error."""
    deadline = Deadline.after(timeout)
    while True:
        try:
            attempt()
            return
        except never:
            raise
        except retry_on:
            if deadline.expired():
                raise
            time.sleep(interval)
