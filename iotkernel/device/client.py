"""The board-side helpers as a typed client: the one place where the host
writes Python source for the board.

Owns installing the helpers (`board/helpers.py`, cut into checked pieces by
`calls.py`) once per interpreter the board runs, verifying them, and calling
them: `evaluate` (an expression checked by CRC-32 both ways), `rows` (a
listing streamed one checked row at a time), `payload` (bytes as one checked
literal), each with bounds on what it takes from the board. Above that, one
typed method per helper and per board expression the kernel needs: their
arguments are quoted with `repr()` here, and nowhere else in the library is
board source built from values. What comes back is JSON, untrusted: callers
check its shape (`replies`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import (
    DeviceRebootedError,
    HelperReplyError,
    IotKernelError,
    ReplyTooLargeError,
)
from ..protocol import Stream
from .calls import (
    HELPER_PROBE,
    HELPERS,
    MAX_ROW,
    MODULE_PIECE_LIMIT,
    PIECE_LIMIT,
    ROW_MARK,
    DeviceIdentity,
    HelperPieces,
    Probe,
    board_literal,
    call_source,
    decode_reply,
    decode_streamed_rows,
    eval_arguments,
    module_pieces,
    parse_identity,
    parse_probe,
    payload_arguments,
    source_arguments,
)

if TYPE_CHECKING:
    from .core import Device
    from .exchange import OutputCallback

log = logging.getLogger("iotkernel.device")

# Bounds on what a helper call takes from the board, whatever it sends: its
# whole output, and the rows of a streamed listing.
MAX_HELPER_OUTPUT = 8 * 1024 * 1024
MAX_HELPER_ROWS = 20_000
# Free heap (after the helpers) above which a board's modules come in the
# large pieces: a Pico has ~190 KB, the small boards 40 KB or less.
LARGE_HEAP = 64 * 1024
# What every MicroPython prints when it boots to the friendly REPL; never in a
# helper's reply.
BOOT_MARK = b'Type "help()" for more information.'
# The firmware's own reset and bootloader calls, as shown and as sent:
# MicroPython's machine module, CircuitPython's microcontroller module.
_RESET_CALLS = {
    False: ("machine.reset()", "__import__('machine').reset()"),
    True: ("microcontroller.reset()", "__import__('microcontroller').reset()"),
}
_BOOTLOADER_CALLS = {
    False: ("machine.bootloader()", "__import__('machine').bootloader()"),
    True: (
        "microcontroller.on_next_reset(RunMode.BOOTLOADER)",
        "__import__('microcontroller').on_next_reset("
        "__import__('microcontroller').RunMode.BOOTLOADER) or "
        "__import__('microcontroller').reset()",
    ),
}

StdoutCallback = Callable[[bytes], None]

# The variable inspector (board/inspector.py) and the debugger's tracer
# (board/tracer.py), installed on demand.
INSPECTOR_NAMESPACE = "__iotk_vars"
_INSPECTOR = f"__import__('sys').modules[{INSPECTOR_NAMESPACE!r}]"
TRACER_NAMESPACE = "__iotk_dbg"
_TRACER = f"__import__('sys').modules[{TRACER_NAMESPACE!r}]"


def helper_expression(name: str, *arguments: object) -> str:
    """The call of helper `name` with `arguments`, each quoted with repr()."""
    return f"{name}({', '.join(repr(argument) for argument in arguments)})"


class _BootBannerSeen(Exception):
    """Raised inside an exchange when a helper's output shows a boot banner."""


class _StopReading(Exception):
    """Raised inside an exchange when a helper's output passes a bound."""

    def __init__(self, error: IotKernelError) -> None:
        super().__init__(str(error))
        self.error = error


class BoardHelpers:
    """The helpers of one `Device`, installed in the interpreter it runs."""

    def __init__(self, device: Device) -> None:
        self._device = device
        # The interpreter (Exchange.interpreter) the core helpers, and the
        # file helpers, were verified in.
        self._verified_in: int | None = None
        self._files_in: int | None = None
        # The board's free heap when the helpers were checked (sizes chunks).
        self._free_memory = 0
        self._identity: DeviceIdentity | None = None
        self._implementation: str | None = None  # sys.implementation.name, once asked
        # Board-side modules of ours installed on demand: the interpreter each is in.
        self._modules_in: dict[str, int] = {}
        self._settrace: tuple[int, bool] | None = None  # (interpreter, has sys.settrace)

    # ------------------------------------------------------------------ installing

    def ensure_installed(self, *, files: bool = False) -> None:
        """Install the core helpers (and the file helpers, with `files`)
        unless this boot of the board has them already (one version check
        per interpreter, not a reinstall)."""
        # Resync first: a reconnect (after a reboot the link did not tell of)
        # is a new interpreter, and the helpers must be checked before a call.
        self._device.ensure_raw_repl()
        interpreter = self._device.exchange.interpreter
        if self._verified_in == interpreter and (not files or self._files_in == interpreter):
            return
        probe = self._probe()
        if probe.core != HELPERS.core.version:
            log.debug("%s: installing helpers %s", self._device.url, HELPERS.core.version)
            probe = self._install(HELPERS.core)
        if files and probe.files != HELPERS.files.version:
            log.debug("%s: installing file helpers %s", self._device.url, HELPERS.files.version)
            probe = self._install(HELPERS.files)
        self._free_memory = probe.free
        self._verified_in = interpreter
        self._files_in = interpreter if probe.files == HELPERS.files.version else None

    def _install(self, group: HelperPieces) -> Probe:
        for piece in group.pieces:
            self._run(piece, None)
        probe = self._probe()
        installed = probe.files if group is HELPERS.files else probe.core
        if installed != group.version:
            raise HelperReplyError(
                "helpers", f"helpers version {group.version}", installed.encode()
            )
        return probe

    def _probe(self) -> Probe:
        return parse_probe(self._run(HELPER_PROBE, None))

    def free_memory(self) -> int:
        """The board's free heap (bytes, after a collection) when the helpers
        were last checked: what file chunks and other requests are sized by."""
        self.ensure_installed()
        return self._free_memory

    # ------------------------------------------------------------------ calling

    def _run(
        self, code: str, timeout: float | None, on_stdout: StdoutCallback | None = None
    ) -> bytes:
        """Run a helper call; its stdout. A board that reboots meanwhile (a
        fatal error, a reset) prints its boot banner where the reply should
        be: that is a `DeviceRebootedError` at once, not a wait for the
        deadline, and the next operation reconnects."""
        device = self._device
        collected = bytearray()

        def watch(data: bytes, stream: Stream) -> None:
            if stream is Stream.STDOUT:
                collected.extend(data)
                if BOOT_MARK in collected[-(len(data) + len(BOOT_MARK)) :]:
                    raise _BootBannerSeen
                if len(collected) > MAX_HELPER_OUTPUT:
                    bound = f"{MAX_HELPER_OUTPUT // (1024 * 1024)} MB"
                    raise _StopReading(ReplyTooLargeError("a helper's reply", bound))
                if on_stdout is not None:
                    on_stdout(data)

        try:
            device.exec(code, watch, timeout=device.deadline if timeout is None else timeout)
        except _StopReading as stop:
            # The board may still be sending: stop it, and the next
            # operation resyncs (dropping what it sent meanwhile).
            device.exchange.abandon(stop_code=True)
            raise stop.error from None
        except _BootBannerSeen:
            device.exchange.abandon(stop_code=False)
            device.exchange.new_interpreter()
            raise DeviceRebootedError(
                f"{device.url}: the board rebooted during the operation "
                "(a fatal error or a reset); it is reconnected on the next one"
            ) from None
        return bytes(collected)

    def _call_raw(
        self,
        name: str,
        arguments: str,
        timeout: float | None,
        on_stdout: StdoutCallback | None = None,
        *,
        helper: str = "",
    ) -> bytes:
        """Helper `name(arguments)`; `helper` is the function it runs in
        turn, if any (`ev` and `rows` evaluate a call of it): the file
        helpers are installed first when it is one of theirs."""
        self.ensure_installed(files=HELPERS.group_of(helper or name) is HELPERS.files)
        return self._run(call_source(name, arguments), timeout, on_stdout)

    def evaluate(self, source: str, *, user: bool = True, timeout: float | None = None) -> Any:
        """Evaluate `source` on the board (among the user's globals, or the
        helpers' with `user=False`) with integrity checks both ways: it
        travels with its CRC-32, checked on the board before it runs; the
        reply carries the CRC-32 of its JSON and the request's. A corrupted
        request or reply, or a stale reply, is a `DeviceProtocolError`."""
        arguments, request_crc = eval_arguments(source, user=user)
        return decode_reply(self._call_raw("ev", arguments, timeout), request_crc)

    def call(
        self,
        name: str,
        *arguments: object,
        timeout: float | None = None,
        on_stdout: StdoutCallback | None = None,
    ) -> Any:
        """Helper `name(*arguments)` evaluated among the helpers; its JSON
        reply. `on_stdout` sees what the helper prints as it comes, before its
        reply (a receiver's acknowledgements, answered on stdin)."""
        arguments_text, request_crc = eval_arguments(
            helper_expression(name, *arguments), user=False
        )
        out = self._call_raw("ev", arguments_text, timeout, on_stdout, helper=name)
        return decode_reply(out, request_crc)

    def rows(self, name: str, *arguments: object, timeout: float | None = None) -> list[Any]:
        """The items of helper `name(*arguments)`, an iterable, streamed by
        the board one checked line each (a listing larger than a small
        board's heap). A lost, added or corrupted line is a
        `DeviceProtocolError`."""
        return self._stream_rows(helper_expression(name, *arguments), timeout, helper=name)

    def _stream_rows(
        self, source: str, timeout: float | None, *, user: bool = False, helper: str = ""
    ) -> list[Any]:
        """The items of iterable `source`, evaluated among the helpers or
        (`user`) among the user's globals, streamed one checked row each."""
        arguments_text, request_crc = source_arguments(source)
        if user:
            arguments_text += ", globals()"
        rows = 0
        row_bytes = 0  # since the last row's mark

        def count(data: bytes) -> None:
            nonlocal rows, row_bytes
            marks = data.count(ROW_MARK)
            rows += marks
            row_bytes = len(data) - data.rfind(ROW_MARK) - 1 if marks else row_bytes + len(data)
            if rows > MAX_HELPER_ROWS:
                raise _StopReading(ReplyTooLargeError("a listing", f"{MAX_HELPER_ROWS} rows"))
            if row_bytes > MAX_ROW:
                raise _StopReading(ReplyTooLargeError("a listing's row", f"{MAX_ROW} bytes"))

        out = self._call_raw("rows", arguments_text, timeout, count, helper=helper)
        return decode_streamed_rows(out, request_crc)

    def payload(
        self, name: str, *arguments: object, payload: bytes, timeout: float | None = None
    ) -> Any:
        """Helper `name(*arguments, payload, crc)`: the payload travels once,
        as a bytes literal checked against its CRC-32 on the board (file
        chunks go this way: compiled once, not twice as through `ev`)."""
        quoted, request_crc = payload_arguments(arguments, payload)
        return decode_reply(self._call_raw(name, quoted, timeout), request_crc)

    # ------------------------------------------------------------------ who the board is

    def identity(self, *, refresh: bool = False) -> DeviceIdentity:
        """The board's uid, platform, implementation name and version (cached)."""
        if self._identity is None or refresh:
            self._identity = parse_identity(self.call("ident"))
        return self._identity

    def is_circuitpython(self) -> bool:
        """Whether the board runs CircuitPython (cached; one short exec at
        most, no helpers: soft resets ask it)."""
        if self._identity is not None:
            return self._identity.circuitpython
        if self._implementation is None:
            out = self._device.exec(
                "import sys\nprint(sys.implementation.name)", timeout=self._device.deadline
            )
            self._implementation = out.decode("ascii", "replace").strip()
        return self._implementation == "circuitpython"

    def reset_call(self, *, bootloader: bool = False) -> tuple[str, str]:
        """(shown, source) of the firmware's own reset (or bootloader) call."""
        calls = _BOOTLOADER_CALLS if bootloader else _RESET_CALLS
        return calls[self.is_circuitpython()]

    # ------------------------------------------------------------------ files
    # Paths are board paths; the file layer checks them and what comes back.

    def stat(self, path: str) -> Any:
        return self.call("stat", path)

    def trees(self, roots: list[str], hashes: bool, times: bool) -> list[Any]:
        return self.rows("trees", roots, hashes, times, timeout=300)

    def statvfs_all(self) -> Any:
        """[path, statvfs] of the root and of each top-level directory."""
        return self.evaluate(
            "[[d, __import__('os').statvfs(d)] for d in ['/'] + "
            "['/' + e[0] for e in __import__('os').ilistdir('/') if e[1] & 0x4000]]",
            user=False,
            timeout=30,
        )

    def hash_kind(self) -> Any:
        return self.call("hashkind")

    def hash_file(self, path: str) -> Any:
        return self.call("hashfile", path, timeout=120)

    def touch(self, path: str) -> Any:
        return self.evaluate(f"open({path!r}, 'ab').close()", user=False)

    def rmdir(self, path: str) -> Any:
        return self.call("rmdir", path)

    def mkdirs(self, path: str) -> Any:
        return self.call("mkdirs", path)

    def remove(self, path: str, recursive: bool) -> Any:
        return self.call("rm", path, recursive, timeout=120)

    def rename(self, old: str, new: str) -> Any:
        return self.call("rename", old, new)

    def read_chunk(self, path: str, offset: int, size: int) -> Any:
        return self.call("rchunk", path, offset, size, timeout=None)

    def raw_capabilities(self) -> Any:
        """[raw stdin, inflate, raw stdout]: what the raw data path may use."""
        return self.call("rxok")

    def send_raw_chunk(self, path: str, offset: int, size: int, on_stdout: StdoutCallback) -> Any:
        """A raw download's chunk: its escaped bytes go to `on_stdout`; the
        reply is [length, CRC-32]."""
        return self.call("tx", path, offset, size, timeout=None, on_stdout=on_stdout)

    def receive_raw(
        self,
        path: str,
        size: int,
        want: str,
        frames: int,
        packed: bool,
        *,
        timeout: float,
        on_stdout: StdoutCallback,
    ) -> Any:
        """The board's raw receiver for one file: its acknowledgements go to
        `on_stdout`; the reply is [stored size, hash]."""
        return self.call(
            "rx", path, size, want, frames, packed, timeout=timeout, on_stdout=on_stdout
        )

    def write_begin(self, path: str) -> Any:
        return self.call("wbegin", path)

    def write_put(self, path: str, offset: int, encoded: bytes) -> Any:
        return self.payload("wput", path, offset, payload=encoded)

    def write_end(self, path: str, want: str) -> Any:
        return self.call("wend", path, want, timeout=120)

    def write_one(self, path: str, want: str, encoded: bytes) -> Any:
        return self.payload("wone", path, want, payload=encoded)

    def write_abort(self, path: str) -> Any:
        return self.call("wabort", path, timeout=5)

    def write_batch(self, on: bool) -> Any:
        """Start or end a batch of writes (their temporaries' directories
        stay until it ends)."""
        return self.call("wbatch", on, timeout=10)

    # ------------------------------------------------------------------ the kernel's questions

    def names(self, obj: str, *, timeout: float) -> Any:
        """`dir(obj)` (a dotted name the caller checked), or the user's
        globals and the builtins when `obj` is empty."""
        expression = f"dir({obj})" if obj else "list(globals()) + dir(__import__('builtins'))"
        return self.evaluate(expression, timeout=timeout)

    def describe(self, name: str, *, timeout: float) -> Any:
        """[type name, repr cut to 2000 characters] of `name` (checked by the caller)."""
        return self.evaluate(f"(type({name}).__name__, repr({name})[:2000])", timeout=timeout)

    def assign(self, name: str, value: object) -> None:
        """`name = value` among the user's globals (JSON-shaped data only)."""
        self._device.exec(f"{name} = {board_literal(value)}")

    def set_argv(self, argv: list[str]) -> None:
        self._device.exec(f"__import__('sys').argv[:] = {argv!r}", timeout=10)

    def drop_input_hook(self) -> None:
        """The board's own `input()` again, after a cell that hooked it."""
        self._device.exec("globals().pop('input', None)", timeout=2)

    def autoreload(self) -> Any:
        return self.evaluate("__import__('supervisor').runtime.autoreload")

    def rtc_datetime(self) -> Any:
        return self.evaluate("__import__('machine').RTC().datetime()")

    def localtime(self) -> Any:
        return self.evaluate("__import__('time').localtime()")

    def set_rtc_datetime(self, fields: tuple[int, ...]) -> None:
        self._device.exec(f"__import__('machine').RTC().datetime({fields!r})")

    def epoch_year(self) -> Any:
        return self.evaluate("__import__('time').gmtime(0)[0]")

    # ------------------------------------------------------------------ modules of our own
    # Board-side modules installed by services (the mount, the test runner)
    # live in a dict at sys.modules[namespace], out of the user's sight.

    def run_in_module(
        self,
        namespace: str,
        function: str,
        *arguments: object,
        timeout: float | None,
        on_output: OutputCallback | None = None,
    ) -> bytes:
        """Run `function(*arguments)` of the board-side module at
        `sys.modules[namespace]`; its output to `on_output`, or returned."""
        call = f"__import__('sys').modules[{namespace!r}][{function!r}]"
        source = call + helper_expression("", *arguments) + "\n"
        return self._device.exec(source, on_output, timeout=timeout)

    def drop_module(self, namespace: str, *, timeout: float | None) -> None:
        self._device.exec(f"__import__('sys').modules.pop({namespace!r}, None)", timeout=timeout)

    # ------------------------------------------------------------------ the user's variables
    # board/inspector.py, installed on demand; values come back short and
    # bounded, and are checked by the caller (`variables.py`).

    def _ensure_module(self, resource: str, namespace: str) -> None:
        """Board module `resource` installed at sys.modules[namespace] in
        the interpreter the board runs now."""
        self.ensure_installed()  # the raw REPL in step, this interpreter known
        interpreter = self._device.exchange.interpreter
        if self._modules_in.get(namespace) != interpreter:
            # Small pieces where the heap is small (they fit the blocks a
            # full heap still has); on a large heap fewer exchanges win.
            roomy = self.free_memory() > LARGE_HEAP
            limit = PIECE_LIMIT if roomy else MODULE_PIECE_LIMIT
            for piece in module_pieces(resource, namespace, limit):
                self._device.exec(piece, timeout=30)
            self._modules_in[namespace] = interpreter

    def _ensure_inspector(self) -> None:
        self._ensure_module("inspector.py", INSPECTOR_NAMESPACE)

    def variables(self, *, limit: int, width: int) -> Any:
        """[name, type, short value, size, expandable] of the user's globals."""
        self._ensure_inspector()
        call = f"{_INSPECTOR}['names'](globals(), {limit!r}, {width!r})"
        return self._stream_rows(call, timeout=10, user=True)

    def variable_children(self, path: list[Any], *, limit: int, width: int) -> Any:
        """One level of the value at `path` (a global's name, then steps)."""
        self._ensure_inspector()
        call = f"{_INSPECTOR}['children'](globals(), {path!r}, {limit!r}, {width!r})"
        return self._stream_rows(call, timeout=10, user=True)

    def variable_repr(self, path: list[Any], *, limit: int) -> tuple[Any, list[Any]]:
        """The whole repr of the value at `path`, cut to `limit` characters:
        (its length, its pieces), streamed as rows."""
        self._ensure_inspector()
        call = f"{_INSPECTOR}['hold'](globals(), {path!r}, {limit!r})"
        length = self.evaluate(call, timeout=10)
        return length, self._stream_rows(f"{_INSPECTOR}['pieces']()", timeout=30)

    def mem_info(self, *, verbose: bool) -> bytes:
        """What `micropython.mem_info()` prints after a collection (with the
        heap's map when `verbose`), then whether words are 64-bit."""
        return self._device.exec(
            "import gc, micropython, sys\ngc.collect()\n"
            f"micropython.mem_info({'1' if verbose else ''})\n"
            "print('\\x1eW', sys.maxsize > 2147483647)",
            timeout=10,
        )

    # ------------------------------------------------------------------ the debugger's tracer
    # board/tracer.py: sys.settrace for one cell; it speaks on stdout in
    # lines marked with the cell's key and takes commands on stdin.

    def has_settrace(self) -> bool:
        """Whether the firmware has sys.settrace (asked once per interpreter)."""
        self.ensure_installed()
        interpreter = self._device.exchange.interpreter
        if self._settrace is None or self._settrace[0] != interpreter:
            found = self.evaluate("hasattr(__import__('sys'), 'settrace')", user=False, timeout=5)
            self._settrace = (interpreter, found is True)
        return self._settrace[1]

    def start_tracing(self, key: str, lines: list[int]) -> None:
        """Arm the tracer for the next exec (a cell): stops at `lines`."""
        self._ensure_inspector()  # the tracer answers variables through it
        self._ensure_module("tracer.py", TRACER_NAMESPACE)
        self.evaluate(f"{_TRACER}['start'](globals(), {key!r}, {lines!r})", timeout=10)

    def stop_tracing(self) -> None:
        self.evaluate(f"{_TRACER}['stop']()", user=False, timeout=5)

    def remove_tracer(self) -> None:
        """The tracer off the board (the debugger was switched off), also
        when an interrupt cut its installation short."""
        self._modules_in.pop(TRACER_NAMESPACE, None)
        self.drop_module(TRACER_NAMESPACE, timeout=5)
