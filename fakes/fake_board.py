"""A fake MicroPython board: the device side of the REPL, in pure Python.

Owns the device-side state machine (friendly REPL, raw REPL, raw-paste with a
flow-control window, soft reset, Ctrl-C) and runs received code with CPython
in a worker thread, in a namespace whose imports are MicroPython-shaped
(`sys.implementation`, `machine.unique_id()`, an interruptible `time.sleep`,
`os` over an in-memory filesystem). Tracebacks are printed in MicroPython's
format. Knobs make it behave like other firmware: raw-paste supported /
unsupported / legacy, window size, boot noise, a `main.py` program running at
boot, and an abort of raw-paste reception after N bytes.

It is a test double, not a sandbox: the code it runs is CPython code.
"""

from __future__ import annotations

import binascii
import calendar
import errno
import hashlib
import json
import struct
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Container
from typing import Any

from .fake_filesystem import EPOCH_2000, FakeFilesystem

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_BANNER = (
    b"MicroPython v1.24.0 on 2024-10-25; fake board with fakeMCU\r\n"
    b'Type "help()" for more information.\r\n'
)

RAW_PASTE_MODES = ("supported", "unsupported", "legacy")


class _SoftResetRequested(BaseException):
    """Raised by `machine.soft_reset()` / `sys.exit()` in board code."""


class _HardResetRequested(BaseException):
    """Raised by `machine.reset()` in board code."""


class FakeBoard:
    """Device-side MicroPython REPL over in-memory byte queues.

    The host writes with `feed()` and reads with `read()`.
    """

    def __init__(
        self,
        *,
        uid: bytes = b"\xfa\x4e\x00\x01",
        raw_paste: str = "supported",
        window: int = 128,
        boot_noise: bytes = b"",
        main_py: str | None = None,
        paste_abort_after: int | None = None,
        filesystem: FakeFilesystem | None = None,
        platform: str = "fakeboard",
    ) -> None:
        if raw_paste not in RAW_PASTE_MODES:
            raise ValueError(f"raw_paste must be one of {RAW_PASTE_MODES}")
        self.uid = uid
        self.raw_paste = raw_paste
        self.window = window
        self.boot_noise = boot_noise
        self.paste_abort_after = paste_abort_after
        self.platform = platform
        self.fs = filesystem or FakeFilesystem()
        if main_py is not None:
            self.fs.write_bytes("/main.py", main_py.encode())
        # Statistics the tests inspect.
        self.flow_violations = 0
        self.clock_offset = -86400.0 * 365  # a board's clock starts wrong
        self.soft_resets = 0
        self.execs = 0

        self._out = bytearray()
        self._cond = threading.Condition()
        self._gone = False
        self._mode = "friendly"  # friendly | raw | paste | paste-discard | running
        self._line = bytearray()
        self._paste = bytearray()
        self._paste_allowance = 0
        self._paste_since_grant = 0
        self._stdin = bytearray()
        self._interrupt = threading.Event()
        self._worker: threading.Thread | None = None
        self._running_raw = False
        self._globals: dict[str, Any] = {}
        self._modules: dict[str, Any] = {}
        self._boot(noise=True)

    # ------------------------------------------------------------------ host side

    def feed(self, data: bytes) -> None:
        """Bytes from the host."""
        if self._gone:
            raise OSError(errno.EIO, "board is gone")
        for byte in data:
            self._on_byte(byte)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to `max_bytes` bytes of device output, waiting up to `timeout`."""
        with self._cond:
            if not self._out and not self._gone:
                self._cond.wait_for(lambda: bool(self._out) or self._gone, timeout)
            if self._gone and not self._out:
                raise OSError(errno.EIO, "board is gone")
            data = bytes(self._out[:max_bytes])
            del self._out[:max_bytes]
            return data

    def vanish(self) -> None:
        """Simulate the board disappearing (unplugged, process killed)."""
        with self._cond:
            self._gone = True
            self._out.clear()
            self._cond.notify_all()
        self._interrupt.set()

    @property
    def gone(self) -> bool:
        return self._gone

    # ------------------------------------------------------------------ output

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            if self._gone:
                return
            self._out += data
            self._cond.notify_all()

    # ------------------------------------------------------------------ boot and reset

    def _new_interpreter(self) -> None:
        self._globals = {"__name__": "__main__"}
        self._modules = {}
        self.fs.cwd = "/"

    def _boot(self, *, noise: bool) -> None:
        self._new_interpreter()
        if noise and self.boot_noise:
            self._emit(self.boot_noise)
        self._emit(FRIENDLY_BANNER)
        self._mode = "friendly"
        if "/main.py" in self.fs.files:
            source = self.fs.read_bytes("/main.py")
            self._start(source, raw=False, filename="main.py")
        else:
            self._emit(b">>> ")

    def _soft_reset_raw(self) -> None:
        self.soft_resets += 1
        self._new_interpreter()
        self._emit(b"MPY: soft reboot\r\n" + RAW_BANNER)
        self._mode = "raw"
        self._line.clear()

    # ------------------------------------------------------------------ state machine

    def _on_byte(self, byte: int) -> None:
        mode = self._mode
        if mode == "running":
            if byte == 3:
                self._interrupt.set()
            else:
                with self._cond:
                    self._stdin.append(byte)
                    self._cond.notify_all()
        elif mode == "friendly":
            self._on_friendly(byte)
        elif mode == "raw":
            self._on_raw(byte)
        elif mode == "paste":
            self._on_paste(byte)
        elif mode == "paste-discard" and byte in (3, 4):
            self._finish_paste_abort()

    def _on_friendly(self, byte: int) -> None:
        if byte == 1:  # Ctrl-A
            self._emit(b"\r\n" + RAW_BANNER)
            self._mode = "raw"
            self._line.clear()
        elif byte == 2:  # Ctrl-B: banner again, never a reboot
            self._emit(b"\r\n" + FRIENDLY_BANNER + b">>> ")
            self._line.clear()
        elif byte == 3:
            self._line.clear()
            self._emit(b"\r\n>>> ")
        elif byte == 4:
            if not self._line:
                self.soft_resets += 1
                self._emit(b"\r\nMPY: soft reboot\r\n")
                self._boot(noise=False)
        elif byte in (13, 10):
            line = bytes(self._line)
            self._line.clear()
            self._emit(b"\r\n")
            if line.strip():
                self._start(line, raw=False, filename="<stdin>", interactive=True)
            else:
                self._emit(b">>> ")
        elif byte in (8, 127):
            if self._line:
                self._line.pop()
                self._emit(b"\x08 \x08")
        else:
            self._line.append(byte)
            self._emit(bytes([byte]))

    def _on_raw(self, byte: int) -> None:
        if byte == 1:
            if bytes(self._line) == b"\x05A" and self.raw_paste != "legacy":
                self._line.clear()
                self._negotiate_paste()
                return
            self._line.clear()
            self._emit(RAW_BANNER)
        elif byte == 2:
            self._line.clear()
            self._mode = "friendly"
            self._emit(b"\r\n" + FRIENDLY_BANNER + b">>> ")
        elif byte == 3:
            self._line.clear()
        elif byte == 4:
            self._emit(b"OK")
            if not self._line:
                self._emit(b"\r\n")
                self._soft_reset_raw()
                return
            source = bytes(self._line)
            self._line.clear()
            self._start(source, raw=True, filename="<stdin>")
        else:
            self._line.append(byte)

    def _negotiate_paste(self) -> None:
        if self.raw_paste == "unsupported":
            self._emit(b"R\x00>")
            return
        self._emit(b"R\x01" + struct.pack("<H", self.window) + b"\x01")
        self._mode = "paste"
        self._paste.clear()
        # The host may send one window, plus one for the \x01 just sent.
        self._paste_allowance = 2 * self.window
        self._paste_since_grant = 0

    def _on_paste(self, byte: int) -> None:
        if byte == 4:
            self._emit(b"\x04")
            source = bytes(self._paste)
            self._paste.clear()
            self._start(source, raw=True, filename="<stdin>", raw_paste=True)
            return
        if byte == 3:
            self._emit(b"\x04")
            self._paste.clear()
            self._emit(b"\x04" + _format_keyboard_interrupt() + b"\x04>")
            self._mode = "raw"
            return
        self._paste_allowance -= 1
        if self._paste_allowance < 0:
            self.flow_violations += 1
        self._paste.append(byte)
        self._paste_since_grant += 1
        if self.paste_abort_after is not None and len(self._paste) >= self.paste_abort_after:
            self._emit(b"\x04")  # stop reception
            self._mode = "paste-discard"
            return
        if self._paste_since_grant >= self.window:
            self._paste_since_grant = 0
            self._paste_allowance += self.window
            self._emit(b"\x01")

    def _finish_paste_abort(self) -> None:
        self._paste.clear()
        tb = b"Traceback (most recent call last):\r\nMemoryError: memory allocation failed\r\n"
        self._emit(b"\x04" + tb + b"\x04>")
        self._mode = "raw"

    # ------------------------------------------------------------------ running code

    def _start(
        self,
        source: bytes,
        *,
        raw: bool,
        filename: str,
        raw_paste: bool = False,
        interactive: bool = False,
    ) -> None:
        self.execs += 1
        self._mode = "running"
        self._interrupt.clear()
        with self._cond:
            self._stdin.clear()
        self._running_raw = raw
        worker = threading.Thread(
            target=self._run,
            args=(source, raw, filename, interactive),
            name="fake-board-exec",
            daemon=True,
        )
        self._worker = worker
        worker.start()

    def _run(self, source: bytes, raw: bool, filename: str, interactive: bool) -> None:
        stdout = _BoardStdout(self._emit)
        error = b""
        reset: str | None = None
        try:
            self._execute(source, filename, interactive, stdout)
        except _SoftResetRequested:
            reset = "soft"
        except _HardResetRequested:
            reset = "hard"
        except BaseException as exc:
            error = _format_exception(exc, self.fs.files)
        if self._gone:
            return
        if reset == "hard":
            self._boot(noise=True)
            return
        if raw:
            if reset == "soft":
                self._emit(b"\x04\x04")
                self._soft_reset_raw()
                return
            self._mode = "raw"
            self._emit(b"\x04" + error + b"\x04>")
        else:
            if reset == "soft":
                self.soft_resets += 1
                self._emit(b"MPY: soft reboot\r\n")
                self._boot(noise=False)
                return
            self._emit(error.replace(b"\r\n", b"\r\n"))
            self._mode = "friendly"
            self._emit(b">>> ")

    def _execute(
        self, source: bytes, filename: str, interactive: bool, stdout: _BoardStdout
    ) -> None:
        text = source.decode("utf-8")
        builtins_dict = self._builtins(stdout)
        self._globals["__builtins__"] = builtins_dict
        if interactive:
            try:
                code = compile(text, "<stdin>", "eval")
            except SyntaxError:
                code = None
            if code is not None:
                expression = code
                value = self._traced(lambda: eval(expression, self._globals))
                if value is not None:
                    stdout.write(repr(value) + "\n")
                return
        code = compile(text, "<stdin>" if filename == "<stdin>" else filename, "exec")
        self._traced(lambda: exec(code, self._globals))

    def _traced(self, call: Callable[[], Any]) -> Any:
        """Run board code with a line tracer that turns Ctrl-C into KeyboardInterrupt.

        Only frames of board code are traced, so the board's own machinery is
        never interrupted half-way.
        """
        interrupt = self._interrupt

        def local(frame: types.FrameType, event: str, arg: Any) -> Any:
            if interrupt.is_set():
                interrupt.clear()
                raise KeyboardInterrupt
            return local

        def global_trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            if frame.f_globals.get("__iotk_board__") is self or frame.f_code.co_filename in (
                "<stdin>",
                "main.py",
            ):
                # Opcode events: a `while True: pass` emits no line events.
                frame.f_trace_opcodes = True
                return local(frame, event, arg)
            return None

        self._globals["__iotk_board__"] = self
        sys.settrace(global_trace)
        try:
            return call()
        finally:
            sys.settrace(None)
            self._globals.pop("__iotk_board__", None)

    # ------------------------------------------------------------------ board modules

    def _builtins(self, stdout: _BoardStdout) -> dict[str, Any]:
        import builtins

        board = self
        namespace = dict(vars(builtins))

        def board_print(
            *args: Any, sep: str = " ", end: str = "\n", file: Any = None, flush: bool = False
        ) -> None:
            target = stdout if file is None else file
            target.write(sep.join(str(a) for a in args) + end)

        def board_input(prompt: str = "") -> str:
            if prompt:
                stdout.write(prompt)
            return board._read_line()

        def board_import(
            name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
        ) -> Any:
            top = name.split(".")[0]
            module = board._import(top, stdout)
            return module

        namespace.update(
            print=board_print,
            input=board_input,
            open=self.fs.open,
            __import__=board_import,
        )
        for name in ("exit", "quit", "help", "copyright", "credits", "license"):
            namespace.pop(name, None)
        return namespace

    def _read_line(self) -> str:
        line = bytearray()
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: bool(self._stdin) or self._interrupt.is_set() or self._gone, 0.05
                )
                if self._interrupt.is_set():
                    self._interrupt.clear()
                    raise KeyboardInterrupt
                if self._gone:
                    raise EOFError
                if not self._stdin:
                    continue
                byte = self._stdin.pop(0)
            if byte in (13, 10):
                self._emit(b"\r\n")
                return line.decode("utf-8", "replace")
            line.append(byte)
            self._emit(bytes([byte]))  # the REPL echoes what is typed

    def _sleep(self, seconds: float) -> None:
        if self._interrupt.wait(max(0.0, seconds)):
            self._interrupt.clear()
            raise KeyboardInterrupt

    def _import(self, name: str, stdout: _BoardStdout) -> Any:
        if name in self._modules:
            return self._modules[name]
        factory = _MODULES.get(name)
        if factory is not None:
            module = factory(self, stdout)
        elif name in _HOST_MODULES:
            module = __import__(_HOST_MODULES[name])
        else:
            module = self._import_file(name, stdout)
        self._modules[name] = module
        return module

    def _import_file(self, name: str, stdout: _BoardStdout) -> Any:
        for directory in ("", "/lib"):
            path = f"{directory}/{name}.py" if directory else f"/{name}.py"
            if path in self.fs.files:
                module = types.ModuleType(name)
                module.__dict__["__builtins__"] = self._builtins(stdout)
                module.__dict__["__iotk_board__"] = self
                module.__dict__["__file__"] = path
                self._modules[name] = module
                code = compile(self.fs.read_bytes(path).decode(), path, "exec")
                exec(code, module.__dict__)
                return module
        raise ImportError(f"no module named '{name}'")


class _BoardStdout:
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


def _module(name: str, **attrs: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(__name__=name, **attrs)


def _sys_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
    def board_exit(code: int = 0) -> None:
        raise _SoftResetRequested

    def print_exception(exc: BaseException, file: Any = None) -> None:
        (file or stdout).write(_format_exception(exc, board.fs.files).decode())

    return _module(
        "sys",
        implementation=types.SimpleNamespace(
            name="micropython", version=(1, 24, 0, ""), _machine="fake board with fakeMCU", _mpy=6
        ),
        version="3.4.0; MicroPython v1.24.0 on 2024-10-25",
        version_info=(3, 4, 0),
        platform=board.platform,
        byteorder="little",
        maxsize=2**31 - 1,
        path=["", ".frozen", "/lib"],
        argv=[],
        modules=board._modules,
        stdout=stdout,
        stderr=stdout,
        stdin=types.SimpleNamespace(readline=board._read_line),
        exit=board_exit,
        print_exception=print_exception,
    )


def _machine_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
    def soft_reset() -> None:
        raise _SoftResetRequested

    def reset() -> None:
        raise _HardResetRequested

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
        freq=lambda *a: 160_000_000,
        idle=lambda: None,
    )


def _time_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
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


def _os_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
    fs = board.fs
    return _module(
        "os",
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
        uname=lambda: types.SimpleNamespace(
            sysname=board.platform,
            nodename=board.platform,
            release="1.24.0",
            version="v1.24.0 on 2024-10-25",
            machine="fake board with fakeMCU",
        ),
    )


def _micropython_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
    return _module(
        "micropython",
        const=lambda x: x,
        kbd_intr=lambda ch: None,
        opt_level=lambda *a: 0,
        mem_info=lambda *a: stdout.write("stack: 0 out of 15360\n"),
    )


def _gc_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
    return _module("gc", collect=lambda: None, mem_free=lambda: 100_000, mem_alloc=lambda: 20_000)


def _builtins_module(board: FakeBoard, stdout: _BoardStdout) -> Any:
    return types.SimpleNamespace(**board._builtins(stdout))


_MODULES: dict[str, Callable[[FakeBoard, _BoardStdout], Any]] = {
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
_HOST_MODULES = {
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
_HOST_MODULES.update(ujson="json", ubinascii="binascii", uhashlib="hashlib", ustruct="struct")

# keep references so linters see the host modules are intentional
_ = (binascii, hashlib, json)


# ---------------------------------------------------------------------- tracebacks


def _exception_line(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, OSError) and exc.errno is not None:
        code = exc.errno
        return f"OSError: [Errno {code}] {errno.errorcode.get(code, str(code))}"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt: "
    message = str(exc)
    if isinstance(exc, SyntaxError):
        message = exc.msg or "invalid syntax"
    return f"{name}: {message}" if message else name


def _format_exception(exc: BaseException, board_files: Container[str]) -> bytes:
    """The traceback as MicroPython prints it (frames of board code only)."""
    lines = ["Traceback (most recent call last):"]
    if isinstance(exc, SyntaxError) and exc.filename in ("<stdin>", "main.py"):
        lines.append(f'  File "{exc.filename}", line {exc.lineno}')
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in ("<stdin>", "main.py") or frame.filename in board_files:
            name = "<module>" if frame.name == "<module>" else frame.name
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {name}')
    lines.append(_exception_line(exc))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _format_keyboard_interrupt() -> bytes:
    return b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n"
