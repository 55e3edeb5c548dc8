"""A cell run under the debugger's tracer: its messages, and commands to it.

Owns the side channel of a traced cell. The board-side tracer
(`board/tracer.py`) says where it stopped, and answers for variables, in
lines of the cell's stdout that start with a marker and the cell's key (a
secret made for that cell: what the board prints is data unless it proves
it came from our tracer). The channel takes those lines out of the output,
bounded in size and nesting, and passes the rest on (to the mount's side
channel, when one is attached, else to the cell's output). Commands go to
the tracer on the cell's stdin: continue, next, step in, step out, and a
request for variables, whose answer the debugger waits for.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Callable
from typing import Any

from .. import replies
from ..device import Device, SideChannel
from ..errors import IotKernelError

MARK = b"\x1eD"
MAX_MESSAGE = 256 * 1024  # a stop (its stack) or the rows of 500 variables
ANSWER_TIMEOUT = 10.0  # for variables asked of a stopped board


class TracerTimeoutError(IotKernelError):
    """The stopped board did not answer the debugger in time."""


class TraceChannel:
    """The side channel of one traced cell (see the module header)."""

    def __init__(
        self,
        key: str,
        device: Device,
        previous: SideChannel | None,
        on_stopped: Callable[[dict[str, Any]], None],
    ) -> None:
        self._marker = MARK + key.encode()
        self._device = device
        self.previous = previous
        self._on_stopped = on_stopped
        self._held = b""
        self._answers: queue.Queue[Any] = queue.Queue()
        self.stopped: dict[str, Any] | None = None  # where the tracer waits, if it does

    # -- the side channel

    def feed(self, data: bytes) -> bytes:
        data, self._held = self._held + data, b""
        out = bytearray()
        while data:
            start = data.find(self._marker)
            if start < 0:
                keep = _partial_marker(data, self._marker)
                out += data[: len(data) - keep]
                self._held = data[len(data) - keep :]
                break
            out += data[:start]
            end = data.find(b"\n", start)
            if end < 0:
                if len(data) - start > MAX_MESSAGE:  # no line of ours is this long
                    out += data[start:]
                else:
                    self._held = data[start:]
                break
            self._message(data[start + len(self._marker) : end].rstrip(b"\r"))
            data = data[end + 1 :]
        rest = bytes(out)
        if self.previous is not None and rest:
            return self.previous.feed(rest)
        return rest

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        self.stopped = None
        if self.previous is not None:
            return (self.previous.feed(held) if held else b"") + self.previous.flush()
        return held

    def interrupt(self) -> None:
        self._answers.put(None)  # a request waiting for the board ends
        if self.previous is not None:
            self.previous.interrupt()

    def _message(self, payload: bytes) -> None:
        try:
            message = replies.check_depth(json.loads(payload), "the tracer's message")
        except (ValueError, IotKernelError):
            return  # malformed: not a message the host acts on
        if not isinstance(message, dict):
            return
        if "stopped" in message:
            self.stopped = message
            self._on_stopped(message)
        elif "rows" in message:
            self._answers.put(message["rows"])

    # -- commands

    def resume(self, command: str) -> None:
        """`c`, `n`, `s` or `o`: the tracer goes on."""
        self.stopped = None
        self._device.send_input(command.encode() + b"\n", only_while_running=True)

    def variables(self, path: list[Any]) -> Any:
        """The tracer's rows for the user's variables (or the value at `path`)."""
        while not self._answers.empty():
            self._answers.get_nowait()  # an answer nobody waited for
        request = b"v " + json.dumps(path).encode() if path else b"v"
        self._device.send_input(request + b"\n", only_while_running=True)
        try:
            answer = self._answers.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            raise TracerTimeoutError(
                f"the stopped board did not answer within {ANSWER_TIMEOUT:.0f} s"
            ) from None
        if answer is None:
            raise TracerTimeoutError("the cell was stopped while the board was asked")
        return answer


def _partial_marker(data: bytes, marker: bytes) -> int:
    """How many bytes at the end of `data` could begin `marker`."""
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if marker.startswith(data[-size:]):
            return size
    return 0
