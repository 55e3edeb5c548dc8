"""The Jupyter debug protocol for board cells: JupyterLab's Variables panel.

Owns answering `debug_request` messages (the Debug Adapter Protocol subset
JupyterLab sends) on the control channel: `initialize`, `attach`,
`configurationDone`, `disconnect`, `debugInfo`, `dumpCell` (a cell's code
gets the stable source path JupyterLab computes too: ipykernel's hash of the
code), `inspectVariables`, `variables` (one level of a value at a time) and
`richInspectVariables` (the whole repr), and sending `debug_event`s.

The board is asked only while it is idle: the kernel holds `board_lock`
while a cell (or a completion) uses the board, and a request that finds it
held gets the variables as they were after the last cell.

Breakpoints and stepping need `sys.settrace` in the board's firmware. A cell
with breakpoints runs under the board-side tracer (`tracing`): it stops at
them, the kernel sends `stopped`, and `stackTrace`, `scopes`, `variables`,
`continue`, `next`, `stepIn` and `stepOut` are answered through the cell's
own stdin and stdout (`tracing.py`); `pause` (and ■) interrupt the cell. A
board without `sys.settrace` is said so once; its breakpoints are answered
as not verified, and the Variables panel still works.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ipykernel import compiler

from ..device import Device
from ..errors import IotKernelError
from ..variables import BoardVariable, checked_rows, children, full_repr, list_variables
from .tracing import TraceChannel

if TYPE_CHECKING:
    from .kernel import IotKernel

# ipykernel's cell source paths (JupyterLab computes the same from debugInfo).
_cell_file_name: Callable[[str], str] = compiler.get_file_name
_tmp_directory: Callable[[], str] = compiler.get_tmp_directory
_tmp_hash_seed: Callable[[], int] = compiler.get_tmp_hash_seed

NO_SETTRACE = (
    "breakpoints and stepping need sys.settrace in the board's firmware "
    "(MICROPY_PY_SYS_SETTRACE); this board runs without it: the Variables panel "
    "still shows its variables (see docs/debugging.md)"
)


_SHOWN_BY_VALUE = ("str",)
THREAD = 1  # a board runs one thread of ours
GLOBALS_SCOPE = ["__globals__"]  # the path of the stopped frame's globals


@dataclass
class _State:
    """What the debugger keeps between requests."""

    started: bool = False
    # variablesReference -> the path of a value: a global's name, then steps.
    references: dict[int, list[Any]] = field(default_factory=dict)
    next_reference: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    last_variables: list[dict[str, Any]] = field(default_factory=list)
    breakpoints: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)  # source path -> code
    told_no_settrace: set[str] = field(default_factory=set)  # boards (url) told once
    # The cell running under the tracer: its source path and channel.
    traced_path: str = ""
    channel: TraceChannel | None = None


class BoardDebugger:
    """Answers DAP requests about the current board."""

    def __init__(
        self,
        current_device: Callable[[], Device | None],
        board_lock: threading.Lock,
        send_event: Callable[[dict[str, Any]], None],
    ) -> None:
        self._current_device = current_device
        self._board_lock = board_lock
        self._send_event = send_event
        self._state = _State()
        self._event_seq = itertools.count(1)
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "initialize": self._initialize,
            "attach": self._attach,
            "configurationDone": lambda arguments: {},
            "disconnect": self._disconnect,
            "debugInfo": self._debug_info,
            "dumpCell": self._dump_cell,
            "setBreakpoints": self._set_breakpoints,
            "inspectVariables": self._inspect_variables,
            "variables": self._variables,
            "richInspectVariables": self._rich_inspect,
            "source": self._source,
            "stackTrace": self._stack_trace,
            "scopes": self._scopes,
            "threads": lambda arguments: {"threads": [{"id": THREAD, "name": "board"}]},
            "continue": lambda arguments: self._resume("c"),
            "next": lambda arguments: self._resume("n"),
            "stepIn": lambda arguments: self._resume("s"),
            "stepOut": lambda arguments: self._resume("o"),
            "pause": self._pause,
        }

    @classmethod
    def of(cls, kernel: IotKernel) -> BoardDebugger:
        """The debugger of `kernel`'s current board; its events go on IOPub."""

        def send_event(event: dict[str, Any]) -> None:
            if kernel.session is not None:
                kernel.session.send(kernel.iopub_socket, "debug_event", event)

        return cls(lambda: kernel.board.device, kernel.board_lock, send_event)

    def handle(self, request: Any) -> dict[str, Any]:
        """The response to one DAP request; never raises."""
        if not isinstance(request, dict):
            return {"type": "response", "success": False, "message": "a request is an object"}
        command = str(request.get("command", ""))
        seq = request.get("seq", 0)
        response: dict[str, Any] = {
            "type": "response",
            "seq": seq,
            "request_seq": seq,
            "command": command,
            "success": True,
        }
        arguments = request.get("arguments")
        arguments = arguments if isinstance(arguments, dict) else {}
        handler = self._handlers.get(command)
        if handler is None:
            response.update(success=False, message=f"{command!r} is not supported for board code")
            return response
        try:
            response["body"] = handler(arguments)
        except (IotKernelError, ValueError, KeyError, TypeError, StopIteration) as exc:
            response.update(success=False, message=f"{type(exc).__name__}: {exc}")
        if command == "initialize" and response["success"]:
            self._event("initialized", {})
        return response

    def _event(self, name: str, body: dict[str, Any]) -> None:
        self._send_event(
            {"type": "event", "seq": next(self._event_seq), "event": name, "body": body}
        )

    # -- the session

    def _initialize(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "supportsConfigurationDoneRequest": True,
            "supportsVariableType": True,
            "supportsVariablePaging": False,
            "supportsValueFormattingOptions": False,
        }

    def _attach(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self._state.started = True
        return {}

    def _disconnect(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self._state = _State(told_no_settrace=self._state.told_no_settrace)
        self._with_idle_board(lambda device: device.helpers.remove_tracer())
        return {}

    def _debug_info(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {
            "isStarted": self._state.started,
            "hashMethod": "Murmur2",
            "hashSeed": _tmp_hash_seed(),
            "tmpFilePrefix": _tmp_directory() + os.sep,
            "tmpFileSuffix": ".py",
            "breakpoints": [
                {"source": path, "breakpoints": lines}
                for path, lines in self._state.breakpoints.items()
            ],
            "stoppedThreads": [],
            "richRendering": True,
            "exceptionPaths": [],
            "copyToGlobals": False,
        }

    def _dump_cell(self, arguments: dict[str, Any]) -> dict[str, Any]:
        code = arguments["code"]
        if not isinstance(code, str):
            raise TypeError("dumpCell: code must be text")
        path = _cell_file_name(code)
        self._state.cells[path] = code
        return {"sourcePath": path}

    def _source(self, arguments: dict[str, Any]) -> dict[str, Any]:
        path = _source_path(arguments)
        if path not in self._state.cells:
            raise KeyError(f"no cell with the source path {path!r}")
        return {"content": self._state.cells[path]}

    def _set_breakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        path = _source_path(arguments)
        asked = arguments.get("breakpoints")
        if not isinstance(path, str) or not isinstance(asked, list):
            raise TypeError("setBreakpoints: a source path and a list of breakpoints")
        lines = [
            {"line": item["line"]}
            for item in asked
            if isinstance(item, dict) and isinstance(item.get("line"), int)
        ]
        self._state.breakpoints[path] = lines
        if self._with_idle_board(lambda device: device.helpers.has_settrace()) is not False:
            return {"breakpoints": [{"verified": True, "line": line["line"]} for line in lines]}
        self._tell_no_settrace()
        return {
            "breakpoints": [
                {"verified": False, "line": line["line"], "message": NO_SETTRACE} for line in lines
            ]
        }

    def _tell_no_settrace(self) -> None:
        device = self._current_device()
        url = device.url if device is not None else ""
        if url not in self._state.told_no_settrace:
            self._state.told_no_settrace.add(url)
            self._event("output", {"category": "important", "output": NO_SETTRACE + "\n"})

    # -- a cell under the tracer

    @contextlib.contextmanager
    def tracing(self, device: Device, cell_code: str) -> Iterator[None]:
        """Run the cell's board code (inside the block) under the board's
        tracer when the debugger is on and the cell has breakpoints (on a
        board without sys.settrace, said once; the cell runs as usual)."""
        path = _cell_file_name(cell_code)
        lines = [line["line"] for line in self._state.breakpoints.get(path, [])]
        if not self._state.started or not lines:
            yield
            return
        if not device.helpers.has_settrace():
            self._tell_no_settrace()
            yield
            return
        key = secrets.token_hex(8)
        channel = TraceChannel(key, device, device.hooks.side_channel, self._on_stopped)
        device.helpers.start_tracing(key, sorted(set(lines)))
        self._state.traced_path, self._state.channel = path, channel
        device.hooks.side_channel = channel
        try:
            yield
        finally:
            device.hooks.side_channel = channel.previous
            self._state.channel = None
            with contextlib.suppress(IotKernelError):
                device.helpers.stop_tracing()

    def _on_stopped(self, message: dict[str, Any]) -> None:
        reason = "breakpoint" if message.get("stopped") == "breakpoint" else "step"
        self._state.references.clear()
        self._event("stopped", {"reason": reason, "threadId": THREAD, "allThreadsStopped": True})

    def _stopped_channel(self) -> TraceChannel | None:
        """The traced cell's channel while the board waits at a stop, else None."""
        channel = self._state.channel
        return channel if channel is not None and channel.stopped is not None else None

    def _stopped(self) -> TraceChannel:
        channel = self._stopped_channel()
        if channel is None:
            raise ValueError("the board is not stopped")
        return channel

    def _stack_trace(self, arguments: dict[str, Any]) -> dict[str, Any]:
        channel = self._stopped_channel()
        stopped = channel.stopped if channel is not None else None
        if stopped is None:
            return {"stackFrames": [], "totalFrames": 0}
        stack = stopped.get("stack")
        frames = []
        for index, entry in enumerate(reversed(stack if isinstance(stack, list) else [])):
            if not (isinstance(entry, list) and len(entry) == 2 and type(entry[1]) is int):
                continue  # not a frame as the tracer gives them
            name = entry[0] if isinstance(entry[0], str) else "?"
            frames.append(
                {
                    "id": index + 1,
                    "name": name[:100],
                    "line": entry[1],
                    "column": 1,
                    "source": {"path": self._state.traced_path},
                }
            )
        return {"stackFrames": frames, "totalFrames": len(frames)}

    def _scopes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self._stopped()
        reference = next(self._state.next_reference)
        self._state.references[reference] = GLOBALS_SCOPE
        return {
            "scopes": [{"name": "Globals", "variablesReference": reference, "expensive": False}]
        }

    def _stopped_variables(self, path: list[Any]) -> list[dict[str, Any]]:
        """The stopped frame's globals (or one level of a value), from the tracer."""
        channel = self._stopped()
        steps = [] if path == GLOBALS_SCOPE else path
        answer = channel.variables(steps)
        found = checked_rows(answer, "ask the stopped board", with_step=bool(steps))
        return [
            self._variable(item, [*steps, item.step] if steps else [item.name]) for item in found
        ]

    def _resume(self, command: str) -> dict[str, Any]:
        self._stopped().resume(command)
        self._state.references.clear()
        self._event("continued", {"threadId": THREAD, "allThreadsContinued": True})
        return {"allThreadsContinued": True} if command == "c" else {}

    def _pause(self, arguments: dict[str, Any]) -> dict[str, Any]:
        device = self._current_device()
        if device is not None:
            device.interrupt()  # a board pauses by ending the cell, as ■ does
        return {}

    # -- variables

    def _inspect_variables(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if self._stopped_channel() is not None:
            return {"variables": self._stopped_variables(GLOBALS_SCOPE)}
        listed = self._with_idle_board(list_variables)
        if listed is None:  # a cell runs: the variables as the last cell left them
            return {"variables": self._state.last_variables}
        self._state.references.clear()
        variables = [self._variable(variable, [variable.name]) for variable in listed]
        self._state.last_variables = variables
        return {"variables": variables}

    def _variables(self, arguments: dict[str, Any]) -> dict[str, Any]:
        reference = arguments.get("variablesReference")
        path = self._state.references.get(reference) if isinstance(reference, int) else None
        if path is None:
            return {"variables": []}
        if self._stopped_channel() is not None:
            return {"variables": self._stopped_variables(path)}
        found = self._with_idle_board(lambda device: children(device, path))
        return {"variables": [self._variable(item, [*path, item.step]) for item in (found or [])]}

    def _rich_inspect(self, arguments: dict[str, Any]) -> dict[str, Any]:
        name = arguments.get("variableName")
        if not isinstance(name, str) or not name.isidentifier():
            return {"data": {}, "metadata": {}}
        text = self._with_idle_board(lambda device: full_repr(device, [name]))
        return {"data": {"text/plain": text} if text is not None else {}, "metadata": {}}

    def _variable(self, variable: BoardVariable, path: list[Any]) -> dict[str, Any]:
        reference = 0
        if variable.expandable:
            reference = next(self._state.next_reference)
            self._state.references[reference] = path
        # JupyterLab shows the value of an int, float, bool or str, and the
        # type of anything else: a container's length goes with its type.
        kind = variable.type
        if variable.size is not None and variable.type not in _SHOWN_BY_VALUE:
            kind = f"{variable.type}, len {variable.size}"
        return {
            "name": variable.name,
            "value": variable.value,
            "type": kind,
            "evaluateName": variable.name,
            "variablesReference": reference,
        }

    def _with_idle_board(self, ask: Callable[[Device], Any]) -> Any:
        """`ask(device)` while no cell uses the board; None when one does
        (or no board is connected)."""
        device = self._current_device()
        if device is None or device.closed:
            return None
        if not self._board_lock.acquire(blocking=False):
            return None
        try:
            return ask(device)
        finally:
            self._board_lock.release()


def _source_path(arguments: dict[str, Any]) -> Any:
    """The `source.path` of a request's arguments (None when there is none)."""
    source = arguments.get("source")
    return source.get("path") if isinstance(source, dict) else None
