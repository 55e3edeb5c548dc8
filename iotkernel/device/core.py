"""Device: a MicroPython board reached through a transport.

Owns the operations built on the exchange loop (`exchange.py`): getting in
step with the raw REPL from any state (REPL resync), running code and
stopping it, soft reset, and the board's identity. Calls into the board-side
helpers go through `Device.helpers` (`client.py`, one typed method per
helper); what a helper call is and how its reply is checked lives in
`calls.py`; turning a traceback into a typed error, in `tracebacks`.

Never parses protocol bytes itself (the engine does) and never formats
untrusted text into device code (the helper client quotes with `repr()`).
Thread model: one thread runs operations; `interrupt()` may be called from any
other thread while an operation runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..errors import (
    DeviceException,
    DeviceProtocolError,
    DeviceTimeoutError,
    TransportClosedError,
)
from ..protocol import (
    ExecMode,
    ExecutionFinished,
    ExecutionStarted,
    RawReplEntered,
    ReplEngine,
    SoftResetCompleted,
    State,
    Stream,
)
from ..tracebacks import device_exception
from ..transport import Transport, interruptible, open_transport, reopenable, restartable
from ..util import Deadline
from .calls import DeviceIdentity
from .client import BoardHelpers
from .exchange import DeviceHooks, Exchange, OutputCallback

log = logging.getLogger("iotkernel.device")

# Quiet periods tried, in turn, while draining a busy board before Ctrl-A.
_QUIET_PERIODS = (0.03, 0.2, 0.5, 1.0)


class Device:
    """A MicroPython board reached through a transport.

    `idle_timeout`: how long the device may stay silent while it owes an answer
    (a prompt, an acknowledgement). `deadline`: the default overall time limit
    of internal operations (connect, eval, soft reset). Code run by `exec`
    has no limit unless its `timeout` is given.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        idle_timeout: float = 5.0,
        deadline: float = 20.0,
        on_unsolicited: Callable[[bytes], None] | None = None,
    ) -> None:
        self.transport = transport
        self.url = transport.url
        self.idle_timeout = idle_timeout
        self.deadline = deadline
        self.exchange = Exchange(
            transport, idle_timeout=idle_timeout, on_unsolicited=on_unsolicited
        )
        # What services attach (the mount's side channel, after-soft-reset callbacks).
        self.hooks: DeviceHooks = self.exchange.hooks
        # The board-side helpers, one typed method each.
        self.helpers = BoardHelpers(self)
        # Counts the times the link was opened again (a replug, a dropped
        # session): another board may be behind it, so what services learned
        # of the board (a CircuitPython drive) is proven again.
        self.link_generation = 0
        self._closed = False

    @classmethod
    def open(cls, url: str, *, connect: bool = True, **options: Any) -> Device:
        """Open the transport `url` names and enter the raw REPL.

        `options` go to the transport, except `idle_timeout` and `deadline`.
        """
        device_options = {k: options.pop(k) for k in ("idle_timeout", "deadline") if k in options}
        device = cls(open_transport(url, **options), **device_options)
        if connect:
            try:
                device.connect()
            except BaseException:
                device.close()
                raise
        return device

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Leave the board as it is (raw REPL) and release the transport."""
        self._closed = True
        self.transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def state(self) -> State:
        """The protocol engine's state (for diagnostics)."""
        return self.exchange.engine.state

    def take_unsolicited(self) -> bytes:
        """What the board printed on its own since the last call (e.g. a program's prints)."""
        return self.exchange.take_unsolicited()

    def watch(
        self, on_output: Callable[[bytes], None], until: Callable[[], bool], poll: float = 0.05
    ) -> None:
        """Pass on what the board prints on its own (a running program's
        output) until `until()` is true, sending nothing: a program left
        running, or found running by `Device.open(url, connect=False)`,
        runs on undisturbed."""
        while not until():
            data = self.take_unsolicited()
            if data:
                on_output(data)
            else:
                time.sleep(poll)

    # ------------------------------------------------------------------ REPL resync
    # (entering the raw REPL and getting back in step with it; not file sync)

    def connect(self, *, timeout: float | None = None) -> None:
        """Enter the raw REPL from any state: stop a running program, drain
        boot output until the line is quiet, ask for the raw REPL, and prove
        the conversation is in step with a no-op.

        Bytes of an earlier, interrupted exchange (a raw-paste answer, the end
        of a traceback) can still arrive after the banner; they break the
        no-op, and the next attempt drains longer. Raises `DeviceTimeoutError`
        (with what was received) if the banner does not come within `timeout`
        (default: the device's deadline).
        """
        deadline = Deadline.after(self.deadline if timeout is None else timeout)
        exchange = self.exchange
        last_error: Exception | None = None
        with exchange.lock:
            exchange.engine.forget_capabilities()  # a new session proves them again
        for quiet in _QUIET_PERIODS:
            if deadline.expired():
                break
            try:
                self._enter_raw(quiet, deadline)
                with exchange.lock:
                    exchange.engine.execute(b"pass", ExecMode.CLASSIC)
                exchange.drive(
                    lambda e: isinstance(e, ExecutionFinished),
                    deadline=deadline,
                    what="checking the raw REPL",
                    stderr=bytearray(),
                )
                exchange.new_interpreter()
                return
            except (DeviceTimeoutError, DeviceProtocolError) as exc:
                last_error = exc
        raise DeviceTimeoutError(
            f"{self.url}: could not enter the raw REPL ({last_error})",
            state=exchange.engine.state.value,
        ) from last_error

    def _enter_raw(self, quiet: float, deadline: Deadline) -> None:
        exchange = self.exchange
        with exchange.lock:
            exchange.engine.interrupt_program()
            exchange.flush()
        exchange.drain(quiet, deadline, to_engine=True)
        if deadline.expired():
            raise DeviceTimeoutError(f"{self.url}: the board never went quiet")
        with exchange.lock:
            exchange.engine.request_raw_repl()
        exchange.drive(
            lambda e: isinstance(e, RawReplEntered),
            deadline=deadline,
            what="entering the raw REPL",
            idle_timeout=min(self.idle_timeout, max(quiet * 4, 0.5)),
        )

    def reopen(self, *, timeout: float | None = None) -> None:
        """Open the link again (after an unplug or a dropped session) and resync.

        Raises `TransportError` if the transport cannot reopen (or the board does
        not come back within `timeout`).
        """
        limit = self.deadline if timeout is None else timeout
        deadline = Deadline.after(limit)
        with self.exchange.lock:
            self.exchange.engine.mark_unsynced()
            self.exchange.new_interpreter()
            self.link_generation += 1
            if (link := reopenable(self.transport)) is not None:
                link.reopen(timeout=limit)
            elif (process := restartable(self.transport)) is not None:
                process.restart()
            else:
                raise TransportClosedError(f"{self.url}: this link cannot be reopened")
            self._closed = False
        self.connect(timeout=max(0.5, deadline.remaining()))

    def wait_quiet(self, *, quiet: float = 0.5, limit: float = 10.0) -> bytes:
        """What the board prints (e.g. after a reset) until it is quiet for
        `quiet` s, at most `limit` s. The conversation must be resynced after."""
        exchange = self.exchange
        with exchange.lock:
            held = exchange.engine.mark_unsynced()
            exchange.new_interpreter()
        return held + exchange.drain(quiet, Deadline.after(limit), to_engine=False)

    def resync(self) -> None:
        """Forget where the conversation stands and enter the raw REPL
        afresh (Ctrl-C clears what the REPL may have read of a cut exchange).
        What the board sends meanwhile is the tail of that exchange: dropped,
        never shown as the board's own output."""
        exchange = self.exchange
        with exchange.lock:
            exchange.engine.mark_unsynced()
            exchange.discard_unsolicited = True
            if (process := interruptible(self.transport)) is not None:
                # Where Ctrl-C is a signal (the unix port), the resync's Ctrl-C
                # byte would reach code that reads its stdin (a raw transfer's
                # receiver) as data: stop such code by the signal first.
                process.interrupt()
        try:
            self.connect()
        finally:
            exchange.discard_unsolicited = False

    def ensure_raw_repl(self) -> None:
        """Resynchronise if a previous operation left the conversation unknown."""
        if self._closed:
            raise TransportClosedError(f"{self.url}: device is closed")
        engine = self.exchange.engine
        if engine.state is State.RAW_IDLE:
            return
        if engine.between_exchanges:
            self.connect()
            return
        # An exchange of ours was abandoned half-way: the host was
        # interrupted (KeyboardInterrupt in a magic) while the board answered.
        # What it still sends (the rest of a reply, the traceback of the
        # Ctrl-C the resync sends) is not the board's to show in a cell.
        self.resync()

    # ------------------------------------------------------------------ running code

    def exec(
        self,
        code: str | bytes,
        on_output: OutputCallback | None = None,
        *,
        timeout: float | None = None,
        mode: ExecMode = ExecMode.AUTO,
    ) -> bytes:
        """Run `code` on the device.

        Output streams to `on_output(data, stream)` as it arrives; without a
        callback, stdout is collected and returned. Code may run forever unless
        `timeout` (seconds) is given or `interrupt()` is called.

        Raises `DeviceException` (or `DeviceOSError`, `DeviceKeyboardInterrupt`)
        when the code raised; `DeviceTimeoutError`; `DeviceUnresponsiveError`
        when the code did not stop after `interrupt()`; `TransportError`;
        `DeviceProtocolError` for a malformed conversation.
        """
        self._send_code(code, mode)
        return self._until_end(on_output, None if timeout is None else Deadline.after(timeout))

    def start(
        self, code: str | bytes, *, timeout: float | None = None, mode: ExecMode = ExecMode.AUTO
    ) -> None:
        """Send `code` and return once it runs, without waiting for its end:
        `%run -n`, or a call that never ends (`machine.reset()`, after which
        `wait_quiet()` and a reconnect follow). Until `follow()` is called,
        nothing reads the code's output: a board blocks once its output
        buffer is full, as it does with `mpremote run --no-follow`."""
        self._send_code(code, mode)
        try:
            limit = self.deadline if timeout is None else timeout
            self.exchange.drive(
                lambda e: isinstance(e, ExecutionStarted),
                deadline=Deadline.after(limit),
                what="starting code",
            )
        finally:
            self.exchange.exec_starting = False

    def follow(
        self, on_output: OutputCallback | None = None, *, timeout: float | None = None
    ) -> bytes:
        """Wait for the code `start()` began to end, its output streamed to
        `on_output` (or collected and returned), and raise what it raised, as
        `exec` does. Returns at once when no code runs."""
        if not self.exchange.engine.executing:
            return b""
        return self._until_end(on_output, None if timeout is None else Deadline.after(timeout))

    def _send_code(self, code: str | bytes, mode: ExecMode) -> None:
        """Enter the raw REPL if needed and send `code` (an interrupt asked
        for meanwhile is kept until the code starts)."""
        source = code.encode() if isinstance(code, str) else code
        exchange = self.exchange
        with exchange.lock:
            exchange.exec_starting = True
            exchange.stdin_written = False
        try:
            self.ensure_raw_repl()
            with exchange.lock:
                exchange.poll_unsolicited()
                exchange.engine.execute(source, mode)
        except BaseException:
            exchange.exec_starting = False
            raise

    def _until_end(self, on_output: OutputCallback | None, deadline: Deadline | None) -> bytes:
        """Drive the running code to its end: its stdout (when no callback
        takes it), or what it raised.

        Code that raised (Ctrl-C, or an error while it waited) may have left
        bytes we sent to its stdin (an answer of the mount, an input() line)
        unread, and the raw REPL would take them as the start of the next
        code: the next exchange resyncs first (its Ctrl-C clears them). Code
        ended by SystemExit soft-reset the board: the after-soft-reset hooks
        run (a mount is set up again, as after `soft_reset()`)."""
        exchange = self.exchange
        collected = bytearray()

        def keep_stdout(data: bytes, stream: Stream) -> None:
            if stream is Stream.STDOUT:
                collected.extend(data)

        stderr = bytearray()
        try:
            exchange.drive(
                lambda e: isinstance(e, ExecutionFinished),
                deadline=deadline,
                what="running code",
                on_output=keep_stdout if on_output is None else on_output,
                stderr=stderr,
            )
        finally:
            exchange.code_ended()
            if exchange.reset_by_code:
                exchange.reset_by_code = False
                log.info("%s: the code ended by SystemExit; the board soft-reset", self.url)
                for callback in list(self.hooks.after_soft_reset):
                    callback(self)
        if stderr:
            if exchange.stdin_written:
                with exchange.lock:
                    exchange.engine.mark_unsynced()
            raise device_exception(bytes(stderr))
        return bytes(collected)

    def interrupt(self) -> None:
        """Stop the code that runs now (KeyboardInterrupt on the device).

        Safe from another thread; a no-op when nothing runs. The running
        `exec` then raises `DeviceKeyboardInterrupt`; one still on its way
        (entering the raw REPL, sending its code) is interrupted as soon as
        its code starts, so a stop pressed as a cell begins is never lost.
        """
        self.exchange.request_interrupt()

    def send_input(self, data: bytes, *, only_while_running: bool = False) -> None:
        """Send bytes to the running code's stdin (answers `input()`).

        `only_while_running`: a side channel's answer, dropped if the code
        has ended meanwhile (its end may already be parsed when its last
        request is handled: nobody would read it)."""
        exchange = self.exchange
        with exchange.lock:
            if only_while_running and not exchange.engine.executing:
                return
            exchange.send_input(data)

    def eval(self, expression: str, *, timeout: float | None = None) -> Any:
        """Evaluate a MicroPython expression on the device and return its value.

        The value crosses as JSON (bytes, tuples and nested containers are
        supported; nothing is ever evaluated on the host). Raises
        `DeviceException` if evaluation fails, including a `TypeError` for a
        value JSON cannot carry.
        """
        return self.helpers.evaluate(expression, timeout=timeout)

    # ------------------------------------------------------------------ resets and identity

    def soft_reset(self, *, timeout: float | None = None) -> None:
        """Give the board a fresh interpreter without running `main.py`.

        On a transport that owns the process (unix port), that means a new
        process on the same board directory. Then the after-soft-reset
        hooks run.
        """
        deadline = Deadline.after(self.deadline if timeout is None else timeout)
        exchange = self.exchange
        exchange.new_interpreter()
        if (process := restartable(self.transport)) is not None:
            with exchange.lock:
                process.restart()
                exchange.engine = ReplEngine(
                    raw_paste_supported=exchange.engine.raw_paste_supported
                )
            self.connect(timeout=deadline.remaining())
        else:
            self.ensure_raw_repl()
            # CircuitPython runs code.py after a soft reboot, even from the raw
            # REPL, then waits for a key: Ctrl-C stops the one and is the other.
            nudge = 0.3 if self.helpers.is_circuitpython() else None
            with exchange.lock:
                exchange.engine.soft_reset()
            try:
                exchange.drive(
                    lambda e: isinstance(e, SoftResetCompleted),
                    deadline=deadline,
                    what="soft-resetting",
                    nudge_every=nudge,
                )
            except TransportClosedError:
                # WebREPL sessions drop on a soft reset: log in again.
                if reopenable(self.transport) is None:
                    raise
                self.reopen(timeout=max(0.5, deadline.remaining()))
        for callback in list(self.hooks.after_soft_reset):
            callback(self)

    def identity(self, *, refresh: bool = False) -> DeviceIdentity:
        """The board's uid, platform, implementation name and version (cached)."""
        return self.helpers.identity(refresh=refresh)


__all__ = ["Device", "DeviceException"]
