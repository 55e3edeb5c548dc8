"""A fake MicroPython board: the device side of the REPL, in pure Python.

Owns the device-side state machine (friendly REPL, raw REPL, raw-paste with a
flow-control window, soft reset, Ctrl-C) and runs received code with CPython
in a worker thread, in a namespace whose imports are MicroPython-shaped
(the modules are in `fake_runtime.py`: `sys.implementation`,
`machine.unique_id()`, an interruptible `time.sleep`, `os` over an in-memory
filesystem, tracebacks in MicroPython's format). Knobs make it behave like
other firmware: raw-paste supported / unsupported / legacy, window size,
boot noise, a `main.py` program running at boot, and an abort of raw-paste
reception after N bytes. `flavour="circuitpython"` makes it a CircuitPython
board (its texts, modules and USB drive are in `circuitpython.py`): the
supervisor runs code.py after every boot and soft reboot, raw REPL or not,
then waits for a key; each REPL runs in a fresh VM.

It is a test double, not a sandbox: the code it runs is CPython code.
"""

from __future__ import annotations

import errno
import struct
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from . import circuitpython as cp
from .fake_filesystem import FakeFilesystem, normpath
from .fake_runtime import (
    HOST_MODULES,
    MODULES,
    BoardStdout,
    HardResetRequested,
    SoftResetRequested,
    format_exception,
    format_keyboard_interrupt,
)

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_BANNER = (
    b"MicroPython v1.24.0 on 2024-10-25; fake board with fakeMCU\r\n"
    b'Type "help()" for more information.\r\n'
)

RAW_PASTE_MODES = ("supported", "unsupported", "legacy")
# Output the board's code may have waiting for the host before its print
# waits (a USB CDC endpoint and the host's tty buffer hold a few KB), and how
# long it waits for a reader before the output is lost.
OUTPUT_BUFFER = 64 * 1024
NOBODY_READS = 2.0
FLAVOURS = ("micropython", "circuitpython")


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
        mpy: int | None = 0x306,  # .mpy version 6.3, bytecode only, as v1.24
        # os.mount (storage.mount on CircuitPython) of a filesystem written in Python
        vfs_mount: bool = True,
        flavour: str = "micropython",
        has_hashlib: bool = True,
    ) -> None:
        if raw_paste not in RAW_PASTE_MODES:
            raise ValueError(f"raw_paste must be one of {RAW_PASTE_MODES}")
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}")
        self.flavour = flavour
        self.circuitpython = flavour == "circuitpython"
        self.has_hashlib = has_hashlib
        self.autoreload = True  # supervisor.runtime.autoreload (CircuitPython)
        # The REPL a CircuitPython board enters after its code (Ctrl-A/B switch it).
        self._repl_kind = "friendly"
        if self.circuitpython and platform == "fakeboard":
            platform = cp.PLATFORM
        self.uid = uid
        self.raw_paste = raw_paste
        self.window = window
        self.boot_noise = boot_noise
        self.paste_abort_after = paste_abort_after
        self.platform = platform
        self.mpy = mpy
        self.vfs_mount = vfs_mount
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
        self._running_code_py = False  # CircuitPython's supervisor runs code.py
        self._globals: dict[str, Any] = {}
        self._modules: dict[str, Any] = {}
        self._boot(noise=True)

    # ------------------------------------------------------------------ host side

    def feed(self, data: bytes) -> None:
        """Bytes from the host."""
        if self._gone:
            raise OSError(errno.EIO, "board is gone")
        data = bytes(data)
        index = 0
        while index < len(data):
            if self._mode == "paste":
                taken = self._paste_run(data, index)
                if taken:
                    index += taken
                    continue
            self._on_byte(data[index])
            index += 1

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to `max_bytes` bytes of device output, waiting up to `timeout`."""
        with self._cond:
            if not self._out and not self._gone:
                self._cond.wait_for(lambda: bool(self._out) or self._gone, timeout)
            if self._gone and not self._out:
                raise OSError(errno.EIO, "board is gone")
            data = bytes(self._out[:max_bytes])
            del self._out[:max_bytes]
            self._cond.notify_all()  # a board waiting to print may go on
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
            # The board's code printing faster than the host reads waits, as
            # a board's USB CDC or UART does when the host's buffer is full;
            # nobody reading for a while, and the output is lost.
            if (
                threading.current_thread() is self._worker
                and len(self._out) >= OUTPUT_BUFFER
                and not self._cond.wait_for(
                    lambda: len(self._out) < OUTPUT_BUFFER or self._gone, NOBODY_READS
                )
            ):
                return
            if self._gone:
                return
            self._out += data
            self._cond.notify_all()

    # ------------------------------------------------------------------ boot and reset

    def _new_interpreter(self) -> None:
        self._globals = {"__name__": "__main__"}
        self._modules = {}
        self.fs.cwd = "/"
        self.fs.mounts.clear()  # a soft reset unmounts every VFS

    def _boot(self, *, noise: bool) -> None:
        if self.circuitpython:
            self._cp_boot(noise=noise)
            return
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

    # ------------------------------------------------------------------ CircuitPython

    def _cp_boot(self, *, noise: bool) -> None:
        self._new_interpreter()
        if noise and self.boot_noise:
            self._emit(self.boot_noise)
        if noise and isinstance(self.fs, cp.DriveFilesystem):
            self.fs.write_bytes("/boot_out.txt", cp.boot_out(self.uid))
        self._cp_run_code()

    def _cp_soft_reboot(self) -> None:
        self.soft_resets += 1
        self._emit(cp.SOFT_REBOOT)
        self._cp_run_code()

    def _cp_run_code(self) -> None:
        """What the supervisor does after a boot or reload: code.py, then a wait."""
        self._new_interpreter()
        self._emit(cp.AUTORELOAD_ON if self.autoreload else cp.AUTORELOAD_OFF)
        for path in cp.CODE_FILES:
            if path in self.fs.files or (
                isinstance(self.fs, cp.DriveFilesystem) and (self.fs.drive / path[1:]).is_file()
            ):
                source = self.fs.read_bytes(path)
                self._emit(path[1:].encode() + b" output:\r\n")
                self._running_code_py = True
                self._start(source, raw=False, filename=path[1:])
                return
        self._cp_code_done()

    def _cp_code_done(self) -> None:
        self._running_code_py = False
        self._emit(cp.CODE_DONE + cp.PRESS_ANY_KEY)
        self._mode = "key-wait"

    def _on_key_wait(self, byte: int) -> None:
        if byte == 4:  # Ctrl-D: reload, code.py again
            self._cp_soft_reboot()
            return
        self._cp_enter_repl(self._repl_kind)  # any other key, consumed

    def _cp_enter_repl(self, kind: str, *, lead: bytes = b"") -> None:
        """A REPL in a VM of its own: what the host had defined is gone."""
        self._new_interpreter()
        self._repl_kind = kind
        self._line.clear()
        if kind == "raw":
            self._mode = "raw"
            self._emit(lead + RAW_BANNER)
        else:
            self._mode = "friendly"
            self._emit(lead + b"\r\n" + cp.BANNER + b">>> ")

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
        elif mode == "key-wait":
            self._on_key_wait(byte)

    def _friendly_banner(self) -> bytes:
        return cp.BANNER if self.circuitpython else FRIENDLY_BANNER

    def _on_friendly(self, byte: int) -> None:
        if self.circuitpython and byte == 1:
            self._cp_enter_repl("raw", lead=b"\r\n")
            return
        if self.circuitpython and byte == 4 and not self._line:
            self._emit(b"\r\n")
            self._cp_soft_reboot()
            return
        if byte == 1:  # Ctrl-A
            self._emit(b"\r\n" + RAW_BANNER)
            self._mode = "raw"
            self._line.clear()
        elif byte == 2:  # Ctrl-B: banner again, never a reboot
            self._emit(b"\r\n" + self._friendly_banner() + b">>> ")
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
            if self.circuitpython:
                self._cp_enter_repl("friendly", lead=b"\r\n")
                return
            self._mode = "friendly"
            self._emit(b"\r\n" + FRIENDLY_BANNER + b">>> ")
        elif byte == 3:
            self._line.clear()
        elif byte == 4:
            self._emit(b"OK")
            if not self._line:
                self._emit(b"\r\n")
                if self.circuitpython:
                    self._cp_soft_reboot()  # code.py runs, even from the raw REPL
                    return
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
            self._emit(b"\x04" + format_keyboard_interrupt() + b"\x04>")
            self._mode = "raw"
            return
        self._paste_run(bytes([byte]), 0)

    def _paste_run(self, data: bytes, start: int) -> int:
        """Take ordinary raw-paste bytes from `start` in one step, up to the
        next Ctrl-C or Ctrl-D, the end of the window or the abort point; how
        many it took (none: the next byte is a control byte, for
        `_on_paste`). Byte by byte, 1 MB of source was a million calls: the
        fake tier's slowest path, six times slower again under coverage."""
        end = len(data)
        for control in (b"\x03", b"\x04"):
            found = data.find(control, start, end)
            if found != -1:
                end = found
        end = min(end, start + self.window - self._paste_since_grant)
        if self.paste_abort_after is not None:
            end = min(end, start + self.paste_abort_after - len(self._paste))
        count = end - start
        if count <= 0:
            return 0
        # Every byte taken past the allowance is a flow violation.
        self.flow_violations += max(0, count - max(0, self._paste_allowance))
        self._paste_allowance -= count
        self._paste += data[start:end]
        self._paste_since_grant += count
        if self.paste_abort_after is not None and len(self._paste) >= self.paste_abort_after:
            self._emit(b"\x04")  # stop reception
            self._mode = "paste-discard"
        elif self._paste_since_grant >= self.window:
            self._paste_since_grant = 0
            self._paste_allowance += self.window
            self._emit(b"\x01")
        return count

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
        stdout = BoardStdout(self._emit)
        error = b""
        reset: str | None = None
        try:
            self._execute(source, filename, interactive, stdout)
        except SoftResetRequested:
            reset = "soft"
        except HardResetRequested:
            reset = "hard"
        except BaseException as exc:
            error = format_exception(exc, self.fs.files)
        if self._gone:
            return
        if reset == "hard":
            self._boot(noise=True)
            return
        if self.circuitpython and (self._running_code_py or reset == "soft"):
            if raw:
                self._emit(b"\x04\x04")  # the exec ended by supervisor.reload()
            self._emit(error)
            self._running_code_py = False
            if reset == "soft":
                self._cp_soft_reboot()
            else:
                self._cp_code_done()
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
        self, source: bytes, filename: str, interactive: bool, stdout: BoardStdout
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
            # Code exec()'d on the board ("<string>": the host's helpers among
            # it) is board code too: Ctrl-C stops it, as on MicroPython.
            if frame.f_globals.get("__iotk_board__") is self or frame.f_code.co_filename in (
                "<stdin>",
                "<string>",
                "main.py",
                "code.py",
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

    def _builtins(self, stdout: BoardStdout) -> dict[str, Any]:
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

    def _stdin_bytes(self, most: int) -> bytes:
        """Up to `most` bytes of stdin, waiting for the first; Ctrl-C stops the wait."""
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
                taken = bytes(self._stdin[:most])
                del self._stdin[:most]
                return taken

    def _read_line(self) -> str:
        line = bytearray()
        while True:
            byte = self._stdin_bytes(1)[0]
            if byte in (13, 10):
                self._emit(b"\r\n")
                return line.decode("utf-8", "replace")
            line.append(byte)
            self._emit(bytes([byte]))  # the REPL echoes what is typed

    def _sleep(self, seconds: float) -> None:
        if self._interrupt.wait(max(0.0, seconds)):
            self._interrupt.clear()
            raise KeyboardInterrupt

    def _import(self, name: str, stdout: BoardStdout) -> Any:
        if name in self._modules:
            return self._modules[name]
        if (self.circuitpython and name in cp.ABSENT) or (
            not self.has_hashlib and name in ("hashlib", "uhashlib")
        ):
            raise ImportError(f"no module named '{name}'")
        factory = (cp.MODULES.get(name) if self.circuitpython else None) or MODULES.get(name)
        if factory is not None:
            module = factory(self, stdout)
        elif name in HOST_MODULES:
            module = __import__(HOST_MODULES[name])
        else:
            module = self._import_file(name, stdout)
        self._modules[name] = module
        return module

    def _import_file(self, name: str, stdout: BoardStdout) -> Any:
        """`name.py` from the first directory of `sys.path` holding it ("" is
        the cwd), through the filesystem and any VFS mounted on it."""
        sys_module = self._modules.get("sys")
        for directory in getattr(sys_module, "path", None) or ["", "/lib"]:
            if directory == ".frozen":
                continue
            path = normpath(self.fs.cwd, f"{directory}/{name}.py" if directory else f"{name}.py")
            try:
                if not self.fs.stat(path)[0] & 0x8000:
                    continue
                with self.fs.open(path, "rb") as file:
                    source = bytes(file.read())
            except OSError:
                continue
            module = types.ModuleType(name)
            module.__dict__["__builtins__"] = self._builtins(stdout)
            module.__dict__["__iotk_board__"] = self
            module.__dict__["__file__"] = path
            self._modules[name] = module
            exec(compile(source.decode(), path, "exec"), module.__dict__)
            return module
        raise ImportError(f"no module named '{name}'")
