"""One cell on many boards at once: `%%connect --parallel`.

Owns running a cell's board code on each board in a thread of its own, with
its own connection (`BoardSession`) and deadline, collecting what each
printed in order (never interleaved with another board's), and stopping all
of them at once. A board that fails, vanishes or hangs ends its own run with
a status; it never holds the others' runs. No I/O of its own beyond the
Device API; the magic (`magics/connect.py`) shows the results.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from ..device import Device
from ..errors import (
    DeviceException,
    DeviceKeyboardInterrupt,
    DeviceTimeoutError,
    IotKernelError,
)
from ..knownhosts import KnownHosts
from ..protocol import Stream
from ..registry import Found
from .cells import DeviceChunk, show_trailing_expression
from .output import StdoutSplitter, board_text
from .session import BoardSession

# What one board printed is kept up to these sizes (in characters): its
# first and its last; the middle is dropped and counted. A board printing
# as fast as it can for a minute costs the kernel no more memory than this.
OUTPUT_HEAD = 64 * 1024
OUTPUT_TAIL = 64 * 1024


@dataclass
class BoardRun:
    """What one board did with the cell."""

    target: str
    url: str
    name: str
    status: str = "ok"  # ok | <Exception name> | timeout | stopped
    seconds: float = 0.0
    value: str | None = None  # the trailing expression's repr
    device: Device | None = None
    dropped: int = 0  # characters of output dropped between head and tail
    late: int = 0  # characters printed after the board's deadline, not shown
    # What the registry chose (the uid to expect, whether only advertised),
    # and where an advertised host is remembered once it answers right.
    found: Found | None = None
    known_hosts: KnownHosts | None = None
    _head: list[tuple[str, str]] = field(default_factory=list)
    _head_size: int = 0
    _tail: deque[tuple[str, str]] = field(default_factory=deque)
    _tail_size: int = 0

    @property
    def failed(self) -> bool:
        return self.status != "ok"

    @property
    def output(self) -> list[tuple[str, str]]:
        """(stream, text) in order: the head, a line saying what was
        dropped if anything was, the tail."""
        shown = list(self._head)
        if self.dropped:
            shown.append(("stderr", f"\n… {self.dropped} characters of output dropped …\n"))
        shown.extend(self._tail)
        if self.late:
            shown.append(("stderr", f"… {self.late} bytes printed after the deadline\n"))
        return shown

    def say(self, text: str, stream: str = "stdout") -> None:
        if not self._tail and self._head_size + len(text) <= OUTPUT_HEAD:
            self._head.append((stream, text))
            self._head_size += len(text)
            return
        if len(text) > OUTPUT_TAIL:
            self.dropped += len(text) - OUTPUT_TAIL
            text = text[-OUTPUT_TAIL:]
        self._tail.append((stream, text))
        self._tail_size += len(text)
        while self._tail_size > OUTPUT_TAIL:
            _, old = self._tail.popleft()
            self._tail_size -= len(old)
            self.dropped += len(old)


def _run_one(
    run: BoardRun, chunks: Sequence[DeviceChunk], timeout: float | None, stop: threading.Event
) -> None:
    started = time.monotonic()
    session = BoardSession(remember=False)
    try:
        found = run.found
        device = session.connect(
            run.url,
            name=run.name,
            expect_uid=found.uid if found else None,
            advertised=found.advertised if found else False,
            known_hosts=run.known_hosts,
        )
        run.name = session.name or run.name
        run.device = device
        # The deadline is the code's: connecting has deadlines of its own.
        code_started = time.monotonic()
        for chunk in chunks:
            if stop.is_set():
                raise DeviceKeyboardInterrupt("KeyboardInterrupt", "", "KeyboardInterrupt\n")
            remaining = None if timeout is None else timeout - (time.monotonic() - code_started)
            if remaining is not None and remaining <= 0:
                raise DeviceTimeoutError(f"over its deadline of {timeout:g} s")
            _run_chunk(
                run, device, chunk, show_value=chunk is chunks[-1], timeout=remaining, stop=stop
            )
    except DeviceKeyboardInterrupt:
        run.status = "stopped"
        run.say("KeyboardInterrupt\n", "stderr")
    except DeviceException as exc:
        run.status = exc.exc_type
        traceback = exc.traceback.replace("\r\n", "\n")
        run.say(board_text(traceback if traceback.endswith("\n") else traceback + "\n"), "stderr")
    except DeviceTimeoutError as exc:
        run.status = "timeout"
        run.say(f"{run.name}: no end within {timeout:g} s ({exc}): stopped\n", "stderr")
        if run.device is not None:
            run.device.interrupt()  # the board may still run it; closing ends our part
    except IotKernelError as exc:
        run.status = type(exc).__name__
        run.say(f"{type(exc).__name__}: {exc}\n", "stderr")
    finally:
        run.seconds = time.monotonic() - started
        run.device = None
        session.close()


def _run_chunk(
    run: BoardRun,
    device: Device,
    chunk: DeviceChunk,
    *,
    show_value: bool,
    timeout: float | None,
    stop: threading.Event,
) -> None:
    source, rewritten = (
        show_trailing_expression(chunk.source) if show_value else (chunk.source, False)
    )
    stdout = StdoutSplitter(run.say)
    deadline = None if timeout is None else time.monotonic() + timeout

    def on_output(data: bytes, stream: Stream) -> None:
        if deadline is not None and time.monotonic() > deadline:
            run.late += len(data)  # stopped at its deadline: the rest is not shown
        elif stream is Stream.STDOUT:
            stdout.feed(data)

    try:
        device.start(source)
        # ■ may have come while this board was connecting or sending its code,
        # before an interrupt could reach it: it is taken now that the code runs.
        if stop.is_set():
            device.interrupt()
        device.follow(on_output, timeout=timeout)
    finally:
        stdout.close()
    if rewritten and stdout.result is not None:
        run.value = board_text(stdout.result.rstrip("\r\n"))


class ParallelRun:
    """Runs `chunks` on every board of `runs` at once (a run already failed,
    such as a name that found no board, is left as it is)."""

    def __init__(
        self,
        runs: Sequence[BoardRun],
        chunks: Sequence[DeviceChunk],
        *,
        timeout: float | None = None,
    ) -> None:
        self.runs = list(runs)
        self._chunks = list(chunks)
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.runs)), thread_name_prefix="board"
        )
        self._futures: list[Future[None]] = []
        self._stop = threading.Event()

    def start(self) -> None:
        for run in self.runs:
            if run.failed:
                done: Future[None] = Future()
                done.set_result(None)
                self._futures.append(done)
            else:
                self._futures.append(
                    self._pool.submit(_run_one, run, self._chunks, self._timeout, self._stop)
                )

    def stop_all(self) -> None:
        """■: interrupt every board still running (each in its own thread:
        an interrupt waits on its board's lock); a board still connecting
        stops as its code starts."""
        self._stop.set()
        for run in self.runs:
            device = run.device
            if device is not None:
                threading.Thread(target=device.interrupt, daemon=True).start()

    def in_order(self, on_done: Callable[[BoardRun], None]) -> None:
        """Call `on_done` for each board in board order, as soon as it and
        the boards before it have finished."""
        try:
            for run, future in zip(self.runs, self._futures, strict=True):
                while True:  # in short waits: the main thread takes ■ between them
                    try:
                        future.result(timeout=0.1)
                        break
                    except FutureTimeout:
                        continue
                on_done(run)
        finally:
            self._pool.shutdown(wait=True)
