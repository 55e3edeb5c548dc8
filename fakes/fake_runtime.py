"""The fake board's MicroPython runtime: the modules its code imports.

Owns what code on the fake board sees of "MicroPython": `sys` (with
`sys.implementation` and `print_exception`), `machine` (`unique_id`,
`reset`, `soft_reset`, an RTC), `time` with MicroPython's epoch and tick
functions, `os` over the board's in-memory filesystem, `micropython`, `gc`,
the host modules close enough to stand in (`json`, `binascii`, ... and their
`u`-names), the board's stdout (`\\r\\n` line ends), and tracebacks printed in
MicroPython's format. The REPL machine that runs code is `fake_board.py`.
"""

from __future__ import annotations

import binascii
import calendar
import errno
import hashlib
import json
import time
import traceback
import types
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from .fake_filesystem import EPOCH_2000

if TYPE_CHECKING:
    from .fake_board import FakeBoard


class SoftResetRequested(BaseException):
    """Raised by `machine.soft_reset()` / `sys.exit()` in board code."""


class HardResetRequested(BaseException):
    """Raised by `machine.reset()` in board code."""


class BoardStdout:
    """The board's stdout: text and raw bytes straight to the host.

    Lines end with \\r\\n as on a real board's UART.
    """

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit
        self.buffer = self

    def write(self, data: Any) -> int:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if isinstance(data, str):
            raw = raw.replace(b"\n", b"\r\n")
        self._emit(raw)
        return len(raw)

    def flush(self) -> None:
        pass


# ---------------------------------------------------------------------- modules


def _module(name: str, **attrs: Any) -> types.ModuleType:
    """A module object, as `import` gives on a board (the variable
    inspector leaves modules out of a listing by their type)."""
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


class _StdinBuffer:
    """`sys.stdin.buffer`: the raw bytes the host sends while code runs."""

    def __init__(self, board: FakeBoard) -> None:
        self._board = board

    def read(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            out += self._board._stdin_bytes(size - len(out))
        return bytes(out)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        taken = self._board._stdin_bytes(len(view)) if len(view) else b""
        view[: len(taken)] = taken
        return len(taken)


def _sys_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    def board_exit(code: int = 0) -> None:
        raise SoftResetRequested

    def print_exception(exc: BaseException, file: Any = None) -> None:
        (file or stdout).write(format_exception(exc, board.fs.files).decode())

    if board.circuitpython:  # no _machine: os.uname().machine names the board
        from . import circuitpython as cp

        implementation = types.SimpleNamespace(
            name="circuitpython", version=(*cp.VERSION, ""), _mpy=board.mpy
        )
        version = f"3.4.0; CircuitPython {cp.VERSION_TEXT}"
    else:
        implementation = types.SimpleNamespace(
            name="micropython",
            version=(1, 24, 0, ""),
            _machine="fake board with fakeMCU",
            _mpy=board.mpy,
        )
        version = "3.4.0; MicroPython v1.24.0 on 2024-10-25"
    return _module(
        "sys",
        implementation=implementation,
        version=version,
        version_info=(3, 4, 0),
        platform=board.platform,
        byteorder="little",
        maxsize=2**31 - 1,
        path=["", ".frozen", "/lib"],
        argv=[],
        modules=board._modules,
        stdout=stdout,
        stderr=stdout,
        stdin=types.SimpleNamespace(readline=board._read_line, buffer=_StdinBuffer(board)),
        exit=board_exit,
        print_exception=print_exception,
    )


def _machine_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    def soft_reset() -> None:
        raise SoftResetRequested

    def reset() -> None:
        raise HardResetRequested

    def bootloader() -> None:
        # The board leaves MicroPython: its USB serial port goes away.
        board.vanish()
        raise HardResetRequested

    class RTC:
        """A settable clock: an offset from the host's clock."""

        def datetime(self, value: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
            if value is not None:
                y, mo, d, _wd, h, mi, s = value[:7]
                wanted = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
                board.clock_offset = wanted - time.time()
                return None
            t = time.gmtime(time.time() + board.clock_offset)
            return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_wday, t.tm_hour, t.tm_min, t.tm_sec, 0)

    return _module(
        "machine",
        RTC=RTC,
        unique_id=lambda: board.uid,
        soft_reset=soft_reset,
        reset=reset,
        bootloader=bootloader,
        freq=lambda *a: 160_000_000,
        idle=lambda: None,
    )


def _time_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    start = time.monotonic()

    def ticks_ms() -> int:
        return int((time.monotonic() - start) * 1000) & 0x3FFFFFFF

    def ticks_us() -> int:
        return int((time.monotonic() - start) * 1_000_000) & 0x3FFFFFFF

    def ticks_diff(a: int, b: int) -> int:
        diff = (a - b) & 0x3FFFFFFF
        return diff - 0x40000000 if diff >= 0x20000000 else diff

    def board_time() -> int:
        return int(time.time()) - EPOCH_2000

    def localtime(secs: float | None = None) -> tuple[int, ...]:
        t = time.gmtime((board_time() if secs is None else secs) + EPOCH_2000)
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)

    if board.circuitpython:  # CircuitPython's time: monotonic(), no ticks_* (supervisor has them)
        return _module(
            "time",
            sleep=board._sleep,
            monotonic=lambda: time.monotonic() - start,
            monotonic_ns=lambda: int((time.monotonic() - start) * 1e9),
            time=board_time,
            localtime=localtime,
        )
    return _module(
        "time",
        sleep=board._sleep,
        sleep_ms=lambda ms: board._sleep(ms / 1000),
        sleep_us=lambda us: board._sleep(us / 1_000_000),
        ticks_ms=ticks_ms,
        ticks_us=ticks_us,
        ticks_diff=ticks_diff,
        ticks_add=lambda a, b: (a + b) & 0x3FFFFFFF,
        time=board_time,
        time_ns=lambda: board_time() * 1_000_000_000,
        localtime=localtime,
        gmtime=localtime,
    )


def _os_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    fs = board.fs
    # CircuitPython mounts through storage.mount, never os.mount.
    mountable = board.vfs_mount and not board.circuitpython
    mounting = {"mount": fs.mount, "umount": fs.umount} if mountable else {}
    return _module(
        "os",
        **mounting,
        listdir=fs.listdir,
        ilistdir=lambda path=".": iter(fs.ilistdir(path)),
        stat=fs.stat,
        mkdir=fs.mkdir,
        rmdir=fs.rmdir,
        remove=fs.remove,
        unlink=fs.remove,
        rename=fs.rename,
        getcwd=fs.getcwd,
        chdir=fs.chdir,
        statvfs=fs.statvfs,
        sep="/",
        uname=lambda: _uname(board),
    )


def _uname(board: FakeBoard) -> types.SimpleNamespace:
    if board.circuitpython:
        from . import circuitpython as cp

        return types.SimpleNamespace(
            sysname="samd51",
            nodename="samd51",
            release=".".join(map(str, cp.VERSION)),
            version=cp.VERSION_TEXT,
            machine=cp.MACHINE,
        )
    return types.SimpleNamespace(
        sysname=board.platform,
        nodename=board.platform,
        release="1.24.0",
        version="v1.24.0 on 2024-10-25",
        machine="fake board with fakeMCU",
    )


def _micropython_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    return _module(
        "micropython",
        const=lambda x: x,
        kbd_intr=lambda ch: None,
        opt_level=lambda *a: 0,
        # What a 32-bit port prints: the stack, the GC's figures (the fake
        # heap: 120 000 bytes, 20 000 used) and, in blocks, its largest free one.
        mem_info=lambda *a: stdout.write(
            "stack: 0 out of 15360\nGC: total: 120000, used: 20000, free: 100000\n"
            " No. of 1-blocks: 12, 2-blocks: 3, max blk sz: 40, max free sz: 6000\n"
        ),
    )


def _gc_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    return _module("gc", collect=lambda: None, mem_free=lambda: 100_000, mem_alloc=lambda: 20_000)


def _builtins_module(board: FakeBoard, stdout: BoardStdout) -> Any:
    return types.SimpleNamespace(**board._builtins(stdout))


MODULES: dict[str, Callable[[FakeBoard, BoardStdout], Any]] = {
    "builtins": _builtins_module,
    "sys": _sys_module,
    "machine": _machine_module,
    "time": _time_module,
    "utime": _time_module,
    "os": _os_module,
    "uos": _os_module,
    "micropython": _micropython_module,
    "gc": _gc_module,
}

# Modules the board shares with CPython closely enough for a fake.
HOST_MODULES = {
    name: name
    for name in (
        "json",
        "binascii",
        "hashlib",
        "struct",
        "errno",
        "math",
        "random",
        "re",
        "io",
        "collections",
        "array",
    )
}
HOST_MODULES.update(ujson="json", ubinascii="binascii", uhashlib="hashlib", ustruct="struct")

# keep references so linters see the host modules are intentional
_ = (binascii, hashlib, json)


# ---------------------------------------------------------------------- tracebacks


def _errno_only(exc: OSError) -> bool:
    return len(exc.args) == 1 and type(exc.args[0]) is int


def _exception_line(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, OSError) and (exc.errno is not None or _errno_only(exc)):
        # MicroPython's OSError(2) is errno 2 (CPython's has errno None).
        code = exc.errno if exc.errno is not None else exc.args[0]
        return f"OSError: [Errno {code}] {errno.errorcode.get(code, str(code))}"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt: "
    message = str(exc)
    if isinstance(exc, SyntaxError):
        message = exc.msg or "invalid syntax"
    return f"{name}: {message}" if message else name


def format_exception(exc: BaseException, board_files: Container[str]) -> bytes:
    """The traceback as MicroPython prints it (frames of board code only)."""
    lines = ["Traceback (most recent call last):"]
    if isinstance(exc, SyntaxError) and exc.filename in ("<stdin>", "main.py", "code.py"):
        lines.append(f'  File "{exc.filename}", line {exc.lineno}')
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in ("<stdin>", "main.py", "code.py") or frame.filename in board_files:
            name = "<module>" if frame.name == "<module>" else frame.name
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {name}')
    lines.append(_exception_line(exc))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def format_keyboard_interrupt() -> bytes:
    return b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n"
