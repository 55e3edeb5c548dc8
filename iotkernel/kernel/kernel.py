"""IotKernel: a Jupyter kernel whose cells run on a MicroPython board.

Owns Jupyter messages for device cells: splitting a cell (`cells.py`),
running board chunks with live output, `Out[n]` for a trailing expression,
one `error` message with the cell's line numbers for a device exception
(`failures.py`), interrupt (SIGINT to the kernel becomes an interrupt of
the board), stdin for `input()`, and dispatching magics through the
explicit registry; it delegates completion and inspection
(`introspection.py`), the debug protocol (`debugger.py`) and its guarantee
that every request gets a reply (`requests.py`). Host Python (`%%host`,
silent frontend snippets) is ipykernel's real IPython, which this class
extends.

Knows no bytes on the wire: everything goes through `Device`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from ipykernel.ipkernel import IPythonKernel

from .. import __version__
from ..device import INTERRUPT_ANSWER_TIMEOUT, Device
from ..errors import (
    DeviceException,
    DeviceKeyboardInterrupt,
    IotKernelError,
    UsageError,
)
from ..files import FileService
from ..protocol import Stream
from ..registry import DeviceRecord, Registry
from ..util import sigint_interrupts
from .cells import CellMagic, DeviceChunk, HostLine, parse_cell, show_trailing_expression
from .debugger import BoardDebugger
from .failures import CellFailed, cell_failure, device_error
from .info import BANNER, HELP_LINKS, LANGUAGE_INFO, with_features
from .introspection import Introspection
from .magics import build_registry
from .magics.registry import BeforeBoardCode, HelpRequested, HostShell, Magic
from .output import OutputRateLimit, StdoutSplitter, board_text, with_input_hook
from .requests import always_answered, unexpected_error_reply
from .session import SIM, BoardSession, data_dir
from .startup import StartupProblems, load_stored_values, start_listener

log = logging.getLogger(__name__)


class IotKernel(IPythonKernel):
    implementation = "iotkernel"
    implementation_version = __version__
    banner = BANNER
    language_info = LANGUAGE_INFO
    help_links = HELP_LINKS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.board = BoardSession()
        self.magics = build_registry()
        self.introspection = Introspection(self.magics, self.board)
        self.board_lock = threading.Lock()  # held while a cell or a completion uses the board
        self.board_debugger = BoardDebugger.of(self)
        # A broken settings or store file never stops the kernel: it starts
        # without that feature and says why in the log and in the first cell.
        self._startup = StartupProblems()
        self.registry = Registry(
            data_dir() / "registered.json",
            start_listener(self._startup),
            builtin=DeviceRecord(uid=None, name=SIM, urls=[SIM], implementation="micropython"),
        )
        self._allow_stdin = False
        self._cell_code = ""
        self.before_board_code: dict[str, BeforeBoardCode] = {}
        self._prepared_boards: set[str] = set()  # boards this cell's steps ran for
        if self.shell is not None:  # %store values are host variables, across restarts
            load_stored_values(self.shell.user_ns, self._startup)
        for handlers in (self.shell_handlers, self.control_handlers):
            for msg_type, handler in handlers.items():
                if msg_type.endswith("_request"):
                    handlers[msg_type] = always_answered(self, msg_type, handler)

    # ------------------------------------------------------------------ kernel info

    @property
    def kernel_info(self) -> dict[str, Any]:
        return with_features(super().kernel_info)

    # ------------------------------------------------------------------ output helpers

    def print(self, text: str, name: str = "stdout") -> None:
        """Show text in the cell's output (stdout or stderr)."""
        if text:
            self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

    def display_text(self, text: str, display_id: str | None = None, update: bool = False) -> None:
        """A plain-text display (updatable in place when given a display_id)."""
        self.display({"text/plain": text}, display_id, update)

    def display(
        self, data: dict[str, Any], display_id: str | None = None, update: bool = False
    ) -> None:
        """A display of several representations (text/plain always among them),
        updatable in place when given a display_id."""
        content: dict[str, Any] = {"data": data, "metadata": {}, "transient": {}}
        if display_id is not None:
            content["transient"] = {"display_id": display_id}
        self.send_response(
            self.iopub_socket, "update_display_data" if update else "display_data", content
        )

    def _send_error(self, ename: str, evalue: str, tb: list[str]) -> CellFailed:
        self.send_response(
            self.iopub_socket, "error", {"ename": ename, "evalue": evalue, "traceback": tb}
        )
        return CellFailed(ename, evalue, tb)

    # ------------------------------------------------------------------ execute

    def _unexpected(self, request: str, exc: Exception) -> dict[str, Any]:
        return unexpected_error_reply(request, exc)

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        try:
            return await self._execute(
                code,
                silent,
                store_history,
                user_expressions,
                allow_stdin,
                cell_meta=cell_meta,
                cell_id=cell_id,
            )
        except Exception as exc:
            reply = self._unexpected("a cell", exc)
            with contextlib.suppress(Exception):
                self._send_error(reply["ename"], reply["evalue"], reply["traceback"])
            return {**reply, "execution_count": self.execution_count}

    async def _execute(
        self,
        code: str,
        silent: bool,
        store_history: bool,
        user_expressions: dict[str, Any] | None,
        allow_stdin: bool,
        *,
        cell_meta: dict[str, Any] | None,
        cell_id: str | None,
    ) -> dict[str, Any]:
        if silent:
            # Frontend plumbing (VS Code's startup snippets, widget probes):
            # it runs on the host IPython, never on the board, and shows nothing.
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                return await super().do_execute(
                    code, True, False, user_expressions, False, cell_meta=cell_meta, cell_id=cell_id
                )
        self._allow_stdin = allow_stdin
        self._cell_code = code  # its breakpoints are the debugger's by its code
        self._startup.show(self.print)
        parsed = parse_cell(code)
        if isinstance(parsed, CellMagic) and parsed.name == "host":
            refused = self._check_host_arguments(parsed.args)
            if refused is not None:
                return refused
            return await super().do_execute(
                parsed.body,
                silent,
                store_history,
                user_expressions,
                allow_stdin,
                cell_meta=cell_meta,
                cell_id=cell_id,
            )
        with self.board_lock:
            return self._run_cell(parsed, store_history)

    def _check_host_arguments(self, args: str) -> dict[str, Any] | None:
        """The reply for `%%host -h` or bad arguments; None to run the cell."""
        try:
            self.magics.require("host", "cell").parser.parse_line(args)
        except HelpRequested as help_:
            self.print(help_.text)
            return self._ok()
        except UsageError as exc:
            return self._reply_error(self._send_error("UsageError", str(exc), [str(exc)]))
        return None

    def _run_cell(
        self, parsed: CellMagic | list[DeviceChunk | HostLine], store_history: bool
    ) -> dict[str, Any]:
        """Run a board cell (or a cell magic) and reply for it."""
        count = self.execution_count  # this cell's number: In[count], Out[count]
        self._prepared_boards.clear()
        try:
            if isinstance(parsed, CellMagic):
                self.run_cell_magic(parsed)
            else:
                self.run_steps(parsed)
        except CellFailed as failed:
            return self._reply_error(failed, count)
        except KeyboardInterrupt:
            # The stop button landed on the host side of the cell (between its
            # steps, before the board started): the cell ends, the kernel stays.
            stopped = self._send_error("KeyboardInterrupt", "", ["KeyboardInterrupt"])
            return self._reply_error(stopped, count)
        finally:
            if store_history and self.shell is not None:
                self.shell.execution_count += 1
        return self._ok(count)

    def _ok(self, count: int | None = None) -> dict[str, Any]:
        return {
            "status": "ok",
            "execution_count": self.execution_count if count is None else count,
            "payload": [],
            "user_expressions": {},
        }

    def _reply_error(self, failed: CellFailed, count: int | None = None) -> dict[str, Any]:
        return {
            "status": "error",
            "execution_count": self.execution_count if count is None else count,
            "ename": failed.ename,
            "evalue": failed.evalue,
            "traceback": failed.tb,
        }

    # ------------------------------------------------------------------ steps

    @staticmethod
    def parse_steps(body: str) -> list[DeviceChunk | HostLine]:
        parsed = parse_cell(body)
        if isinstance(parsed, CellMagic):
            raise UsageError("a cell magic cannot run inside %%connect")
        return parsed

    def run_steps(self, steps: list[DeviceChunk | HostLine]) -> None:
        chunks = [s for s in steps if isinstance(s, DeviceChunk)]
        last_chunk = chunks[-1] if chunks else None
        for step in steps:
            if isinstance(step, HostLine):
                if step.kind == "magic":
                    self.run_line_magic(step.text)
                else:
                    self.run_shell(step.text)
            else:
                self.run_device_chunk(step, show_value=step is last_chunk)

    def run_line_magic(self, text: str) -> None:
        name, _, args = text.partition(" ")
        magic = self.magics.get(name, "line")
        if magic is None:
            raise self._unknown_magic("%" + name)
        self._call_magic(magic, self._expand(args.strip()), None)

    def _expand(self, args: str) -> str:
        """`$name` and `{expression}` from host variables, as IPython's magics do."""
        if self.shell is None or ("$" not in args and "{" not in args):
            return args
        return str(self.shell.var_expand(args))

    def run_cell_magic(self, cell: CellMagic) -> None:
        magic = self.magics.get(cell.name, "cell")
        if magic is None:
            raise self._unknown_magic("%%" + cell.name)
        self._call_magic(magic, self._expand(cell.args), cell.body)

    def _unknown_magic(self, name: str) -> CellFailed:
        message = f"unknown magic {name}: %lsmagic lists the magics"
        return self._send_error("UsageError", message, [message])

    def _call_magic(self, magic: Magic, args: str, body: str | None) -> None:
        try:
            parsed = magic.parser.parse_line(args)
        except HelpRequested as help_:
            self.print(help_.text)
            return
        except UsageError as exc:
            raise self._send_error("UsageError", str(exc), [str(exc)]) from None
        try:
            magic.run(self, parsed, "" if body is None else body)
        except CellFailed:
            raise
        except DeviceException as exc:
            raise device_error(self, exc) from None
        except IotKernelError as exc:
            raise self._send_error(
                type(exc).__name__, str(exc), [f"{magic.prefix}{magic.name}: {exc}"]
            ) from None
        except KeyboardInterrupt:
            raise self._send_error("KeyboardInterrupt", "", ["KeyboardInterrupt"]) from None

    def run_shell(self, command: str) -> None:
        """A `!command` line: bash, output streamed line by line."""
        from .magics.host import run_shell

        try:
            run_shell(self, command)
        except KeyboardInterrupt:
            raise self._send_error("KeyboardInterrupt", "", ["KeyboardInterrupt"]) from None
        except IotKernelError as exc:
            raise self._send_error(type(exc).__name__, str(exc), [f"!{command}: {exc}"]) from None

    # ------------------------------------------------------------------ the board

    def host_shell(self) -> HostShell:
        """The IPython shell that runs `%%host` cells (ipykernel always has one)."""
        if self.shell is None:
            raise IotKernelError("this kernel has no host Python shell")
        return cast(HostShell, self.shell)

    def require_device(self) -> Device:
        """The current board; reconnects a restarted kernel to its notebook's
        board, and a board that was unplugged or reset to the same board."""
        try:
            device = self.board.require_reconnecting(self.registry, self.print)
            if self.board.detached:
                self._stop_detached(device)
            return device
        except IotKernelError as exc:
            raise self._send_error(type(exc).__name__, str(exc), [str(exc)]) from None

    def require_files(self) -> FileService:
        """The current board's file service (one per board session)."""
        return self.board.files(self.require_device())

    def run_on_board(
        self, source: str, file_name: str, on_text: Callable[[str], None] | None = None
    ) -> None:
        """Run source on the board as a cell runs (streamed, ■ stops it); its
        traceback names `file_name` with the source's lines. `on_text` takes
        the printed text instead of the cell's output (%%plot)."""
        self.run_device_chunk(
            DeviceChunk(source, 1, source.count("\n") + 1),
            show_value=False,
            file_name=file_name,
            on_text=on_text,
        )

    def start_on_board(self, source: str) -> None:
        """Start source on the board and return (`%run -n`); the next use of
        the board stops it first, showing what it printed."""
        device = self.require_device()
        device.start(source)
        self.board.detached = True

    def _stop_detached(self, device: Device) -> None:
        self.board.detached = False
        self.print(f"stopping the program started on {self.board.name} by %run -n\n", "stderr")
        device.interrupt()
        stdout = StdoutSplitter(self.print)
        try:
            device.follow(
                lambda data, stream: stdout.feed(data) if stream is Stream.STDOUT else None,
                timeout=INTERRUPT_ANSWER_TIMEOUT,
            )
        except DeviceKeyboardInterrupt:
            pass  # the stop we asked for
        except DeviceException as exc:  # it had ended with an error of its own
            self.print(board_text(exc.traceback), "stderr")
        finally:
            stdout.close()

    def _before_board_code(self) -> None:
        """Once per board in each cell, before its first code: the steps
        magics installed (%autosync); a failing one fails the cell."""
        board = self.board.url or ""
        if not self.before_board_code or board in self._prepared_boards:
            return
        self._prepared_boards.add(board)
        for name, step in list(self.before_board_code.items()):
            try:
                step(self)
            except IotKernelError as exc:
                message = f"{name}: {exc} ({step.failure_hint})"
                raise self._send_error(type(exc).__name__, message, [message]) from None

    def run_device_chunk(
        self,
        chunk: DeviceChunk,
        *,
        show_value: bool,
        file_name: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        device = self.require_device()
        self._before_board_code()
        pending = device.take_unsolicited()
        if pending:  # what the board printed since the last cell
            self.print(board_text(pending.decode("utf-8", "replace")))
        source, rewritten = (
            show_trailing_expression(chunk.source) if show_value else (chunk.source, False)
        )
        hooked = "input(" in source
        if hooked:
            source = with_input_hook(source, allow_stdin=self._allow_stdin)
        # %%plot takes the text itself (its ring is its bound); shown text is
        # rate-limited, so a flood cannot queue without bound for the frontend.
        limit = OutputRateLimit(self.print, lambda note: self.print(note, "stderr"))
        stdout = StdoutSplitter(
            on_text or limit,
            on_prompt=lambda prompt: self._answer_input(device, prompt),
        )

        def on_output(data: bytes, stream: Stream) -> None:
            if stream is Stream.STDOUT:  # a traceback comes whole, as a DeviceException
                stdout.feed(data)

        # The whole exchange, hook removal included, under the board's SIGINT
        # handler: a stop never interrupts the host in the middle of it.
        with sigint_interrupts(device.interrupt):
            try:
                with self.board_debugger.tracing(device, self._cell_code):
                    device.exec(source, on_output)
            except IotKernelError as exc:
                stdout.close()
                limit.close()
                raise cell_failure(self, device, exc, file_name) from None
            finally:
                if hooked:  # the board's own input() again for other tools
                    with contextlib.suppress(IotKernelError):
                        device.helpers.drop_input_hook()
        stdout.close()
        limit.close()
        if rewritten and stdout.result is not None:
            self._send_result(board_text(stdout.result.rstrip("\r\n")))

    def _send_result(self, value: str) -> None:
        """The cell's value, as Out[n]."""
        self.send_response(
            self.iopub_socket,
            "execute_result",
            {
                "execution_count": self.execution_count,
                "data": {"text/plain": value},
                "metadata": {},
            },
        )

    # ------------------------------------------------------------------ input()

    def _answer_input(self, device: Device, prompt: str) -> None:
        try:
            answer = self.raw_input(prompt)
        except Exception:
            answer = ""
        device.send_input(answer.encode() + b"\r")

    # ------------------------------------------------------------------ completion and inspection

    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        try:
            with self.board_lock:
                return self.introspection.complete(code, cursor_pos)
        except Exception as exc:
            return self._unexpected("a completion request", exc)

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        try:
            with self.board_lock:
                return self.introspection.inspect(code, cursor_pos)
        except Exception as exc:
            return self._unexpected("an inspection request", exc)

    async def do_debug_request(self, msg: Any) -> dict[str, Any]:
        return self.board_debugger.handle(msg)

    # ------------------------------------------------------------------ shutdown

    # ipykernel's IPythonKernel made its base class's async do_shutdown sync;
    # we follow IPythonKernel, which mypy sees as a bad override of the base.
    def do_shutdown(self, restart: bool) -> dict[str, Any]:  # type: ignore[override]
        self.board.close()  # frees the port at once
        return super().do_shutdown(restart)
