"""The exchange loop: bytes between one transport and one REPL engine, under timers.

Owns the engine, the lock that serialises it, the timers of an exchange,
interrupt delivery and what the board prints between our exchanges.
`Device` (core.py) builds its operations (connect, exec, soft reset) on
`Exchange.drive`; nothing here knows what those operations are.

Theory of operation
-------------------
An operation asks the engine for bytes (enter raw REPL, run code), then calls
`drive(done, ...)`, which loops:

1. Under the lock: act on a pending interrupt request, take the engine's
   queued events (output goes to the caller's callback, through the side
   channel first), and write what the engine queued. An event that satisfies
   `done` ends the loop.
2. Ask the timers how long to wait for bytes (`_Timers.wait`); a timer that
   has run out raises (see the table below).
3. Read with that timeout, outside the lock, so `interrupt()` from another
   thread never waits behind a blocked read; feed what came to the engine.

The timers (all monotonic time):

    timer       counts while                    counts from         runs out ->
    ---------   -----------------------------   -----------------   -----------------------
    deadline    the whole operation (if given)  operation start     code interrupted, then
                                                                    DeviceTimeoutError
    idle        the engine awaits a reply       last byte received  DeviceTimeoutError
                (a prompt, an acknowledgement)  or wait began       (the conversation is
                                                                    marked unsynced)
    interrupt   Ctrl-C sent and code still runs the later of Ctrl-C DeviceUnresponsiveError
                                                and the last byte   (the board needs a
                                                (2 s), at most 20 s reset)
                                                after Ctrl-C

Between timers the loop wakes at least every 0.25 s to look for an interrupt
request. Thread model: one thread drives; `request_interrupt()` may be called
from any thread: it sets a flag and takes the lock only if it is free, so a
thread flooded with output is never made to hand the lock over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..errors import (
    DeviceTimeoutError,
    DeviceUnresponsiveError,
    ProtocolError,
    TransportError,
)
from ..protocol import (
    Event,
    ExecutionFinished,
    ExecutionStarted,
    NeedData,
    OutputReceived,
    RawPasteRefused,
    ReplEngine,
    State,
    Stream,
    UnsolicitedOutput,
)
from ..transport import Transport, interruptible
from ..util import Deadline

if TYPE_CHECKING:
    from .core import Device

log = logging.getLogger("iotkernel.device")
wire_log = logging.getLogger("iotkernel.wire")

OutputCallback = Callable[[bytes, Stream], None]

READ_SIZE = 65536
# Unsolicited output (what a board prints between our commands) kept for the
# caller to show; older bytes are dropped past this.
UNSOLICITED_LIMIT = 256 * 1024
# After Ctrl-C, running code must end this soon (its traceback arriving), or
# the board is reported unresponsive: silent for this long...
INTERRUPT_ANSWER_TIMEOUT = 2.0
# ...or still printing this long after (output already on its way drains first).
INTERRUPT_FLOOD_TIMEOUT = 20.0
# The loop looks for an interrupt request at least this often.
_WAKE_EVERY = 0.25
# Classic raw mode has no flow control: the board reads source into its RAM
# as fast as it can, and a UART receive buffer (256 bytes on many boards)
# overruns when the host sends faster. Larger classic sends go in slices with
# a pause (raw-paste, with its window, never needs this).
_CLASSIC_SLICE = 256
_CLASSIC_PAUSE = 0.01


class SideChannel(Protocol):
    """A service speaking inside the running code's stdout (see `mount.py`)."""

    def feed(self, data: bytes) -> bytes:
        """Take the service's messages out of a chunk of stdout (answering
        them on stdin); return the rest, the program's own output."""
        ...

    def flush(self) -> bytes:
        """The code has ended: what `feed` held back (a line that never
        ended), as output."""
        ...

    def interrupt(self) -> None:
        """The code is being interrupted (called from any thread): stop
        waiting for anything on its behalf."""
        ...


@dataclass
class DeviceHooks:
    """What services above the device attach to it: a side channel inside
    the running code's stdout (the mount), and callbacks run with the device
    after each soft reset (the mount remounts)."""

    side_channel: SideChannel | None = None
    after_soft_reset: list[Callable[[Device], None]] = field(default_factory=list)


class Expired(Exception):
    """A timer of an exchange ran out (raised by `_Timers.wait`)."""

    def __init__(self, timer: str) -> None:
        super().__init__(timer)
        self.timer = timer


@dataclass
class _Timers:
    """The timers of one exchange (see the table in the module header)."""

    idle: float
    deadline: Deadline | None
    last_progress: float = field(default_factory=time.monotonic)
    last_data: float = field(default_factory=time.monotonic)
    tail: bytes = b""  # the last bytes received, for a timeout's message

    def received(self, data: bytes) -> None:
        self.last_progress = self.last_data = time.monotonic()
        self.tail = (self.tail + data)[-200:]

    def wait(self, awaiting: bool, interrupt_sent_at: float | None) -> float:
        """Seconds to wait for bytes now, or `Expired(timer)`: 'interrupt',
        'deadline' or 'idle', checked in that order."""
        now = time.monotonic()
        if not awaiting:
            self.last_progress = now  # the idle timer counts only while a reply is owed
        running_out = {"wake": now + _WAKE_EVERY}
        if interrupt_sent_at is not None:
            running_out["interrupt"] = min(
                max(self.last_data, interrupt_sent_at) + INTERRUPT_ANSWER_TIMEOUT,
                interrupt_sent_at + INTERRUPT_FLOOD_TIMEOUT,
            )
        if self.deadline is not None:
            running_out["deadline"] = self.deadline.at
        if awaiting:
            running_out["idle"] = self.last_progress + self.idle
        for timer in ("interrupt", "deadline", "idle"):
            if timer in running_out and now >= running_out[timer]:
                raise Expired(timer)
        return max(0.0, min(running_out.values()) - now)


class Exchange:
    """One REPL engine joined to one transport, and the loop between them."""

    def __init__(
        self,
        transport: Transport,
        *,
        idle_timeout: float,
        on_unsolicited: Callable[[bytes], None] | None,
    ) -> None:
        self.transport = transport
        self.url = transport.url
        self.idle_timeout = idle_timeout
        self.on_unsolicited = on_unsolicited
        self.engine = ReplEngine()
        self.lock = threading.RLock()
        self.hooks = DeviceHooks()
        # Counts fresh interpreters the board may have (a reconnect, a reset,
        # code ended by SystemExit): what the helpers were installed in is
        # compared with it.
        self.interpreter = 0
        # Code ended by SystemExit soft-reset the board: the after-soft-reset
        # hooks run once the exec is over.
        self.reset_by_code = False
        self.stdin_written = False  # during the current exec
        # An exec is on its way (entering the raw REPL, sending the code): an
        # interrupt now is kept for the moment the code starts, not dropped.
        self.exec_starting = False
        # Set by request_interrupt() from any thread; taken by whoever holds
        # the lock next: a flag, so no thread ever waits for the lock.
        self._interrupt_requested = False
        # When Ctrl-C (or SIGINT) went to the running code, if it did.
        self._interrupt_sent_at: float | None = None
        self._unsolicited = bytearray()
        self.discard_unsolicited = False  # while resyncing after an abandoned exchange

    def new_interpreter(self) -> None:
        """The board may run a fresh interpreter now (without our helpers)."""
        self.interpreter += 1

    # ------------------------------------------------------------------ bytes

    def flush(self) -> None:
        """Write what the engine queued."""
        data = self.engine.data_to_send()
        if not data:
            return
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s <- %r", self.url, data[:200])
        paced = self.engine.state is State.CLASSIC_AWAITING_OK and len(data) > _CLASSIC_SLICE
        try:
            if not paced:
                self.transport.write(data)
                return
            for start in range(0, len(data), _CLASSIC_SLICE):
                if start:
                    time.sleep(_CLASSIC_PAUSE)
                self.transport.write(data[start : start + _CLASSIC_SLICE])
        except TransportError:
            self.engine.mark_unsynced()  # what the board got is unknown
            raise

    def read(self, timeout: float) -> bytes:
        try:
            data = self.transport.read(READ_SIZE, timeout)
        except TransportError:
            self.engine.mark_unsynced()
            raise
        if data and wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s -> %r", self.url, data[:200])
        return data

    def drain(self, quiet: float, deadline: Deadline, *, to_engine: bool) -> bytes:
        """Read until the line stays quiet for `quiet` s (or the deadline
        passes): fed to the engine (its events handled as unsolicited output)
        or returned. A port that vanishes (native USB re-enumerating on
        reset) ends the drain when the bytes are returned."""
        out = bytearray()
        while (remaining := deadline.remaining()) > 0:
            try:
                data = self.read(min(quiet, remaining))
            except TransportError:
                if to_engine:
                    raise
                break
            if not data:
                break
            if to_engine:
                with self.lock:
                    self.engine.receive_data(data)
                    self.dispatch(None, None)
            else:
                out += data
        return bytes(out)

    # ------------------------------------------------------------------ unsolicited output

    def _note_unsolicited(self, data: bytes) -> None:
        if self.discard_unsolicited:
            log.debug("%s: dropped the tail of an abandoned exchange: %r", self.url, data[:200])
            return
        self._unsolicited += data
        if len(self._unsolicited) > UNSOLICITED_LIMIT:
            del self._unsolicited[: len(self._unsolicited) - UNSOLICITED_LIMIT]
        if self.on_unsolicited is not None:
            self.on_unsolicited(data)

    def take_unsolicited(self) -> bytes:
        """What the board printed on its own since the last call."""
        with self.lock:
            self.poll_unsolicited()
            data = bytes(self._unsolicited)
            self._unsolicited.clear()
            return data

    def poll_unsolicited(self) -> None:
        """Read whatever is waiting without blocking (only while idle)."""
        if not self.engine.between_exchanges:
            return
        while data := self.read(0):
            self.engine.receive_data(data)
            self.dispatch(None, None)

    # ------------------------------------------------------------------ the loop

    def dispatch(self, on_output: OutputCallback | None, stderr: bytearray | None) -> Event | None:
        """Handle queued events; return the first that is not output."""
        side_channel = self.hooks.side_channel
        while True:
            event = self.engine.next_event()
            if isinstance(event, NeedData):
                return None
            if isinstance(event, OutputReceived):
                if event.stream is Stream.STDOUT and side_channel is not None:
                    event = OutputReceived(side_channel.feed(event.data), event.stream)
                    if not event.data:
                        continue
                if event.stream is Stream.STDERR and stderr is not None:
                    stderr += event.data
                if on_output is not None:
                    on_output(event.data, event.stream)
                continue
            if isinstance(event, UnsolicitedOutput):
                self._note_unsolicited(event.data)
                continue
            if isinstance(event, ExecutionFinished) and side_channel is not None:
                held = side_channel.flush()
                if held and on_output is not None:
                    on_output(held, Stream.STDOUT)
            if isinstance(event, RawPasteRefused):
                log.info("%s: raw-paste refused (%r); classic raw REPL", self.url, event.answer)
                self.flush()
                continue
            return event

    def drive(
        self,
        done: Callable[[Event], bool],
        *,
        deadline: Deadline | None,
        what: str,
        on_output: OutputCallback | None = None,
        stderr: bytearray | None = None,
        idle_timeout: float | None = None,
        stop_code_on_deadline: bool = True,
        nudge_every: float | None = None,
    ) -> None:
        """Exchange bytes until an event satisfies `done` (see the module
        header). `nudge_every`: send Ctrl-C at that interval until done (a
        CircuitPython board's soft reboot)."""
        timers = _Timers(self.idle_timeout if idle_timeout is None else idle_timeout, deadline)
        nudged_at = time.monotonic()
        while True:
            if nudge_every is not None and time.monotonic() - nudged_at >= nudge_every:
                nudged_at = time.monotonic()
                with self.lock:
                    self.engine.send_interrupt()
                    self.flush()
            with self.lock:
                if self._step(done, on_output, stderr):
                    return
                awaiting = self.engine.awaiting_reply
                sent_at = self._interrupt_sent_at if self.engine.executing else None
            try:
                wait = timers.wait(awaiting, sent_at)
            except Expired as expired:
                self._expired(expired.timer, timers, what, stop_code_on_deadline)
            data = self.read(wait) if wait > 0 else b""
            if data:
                timers.received(data)
                with self.lock:
                    self.engine.receive_data(data)

    def _step(
        self,
        done: Callable[[Event], bool],
        on_output: OutputCallback | None,
        stderr: bytearray | None,
    ) -> bool:
        """One turn of the loop under the lock: whether `done` was met."""
        self.take_interrupt_request()
        while (event := self.dispatch(on_output, stderr)) is not None:
            self.flush()  # what the events made the engine queue (raw-paste data)
            if isinstance(event, ExecutionStarted):
                self.take_interrupt_request()  # one kept while the exec started
            if isinstance(event, ExecutionFinished) and event.soft_reset:
                # SystemExit ended the code and the board soft-reset: a fresh
                # interpreter, without our helpers.
                self.new_interpreter()
                self.reset_by_code = True
            if done(event):
                return True
        self.flush()
        return False

    def _expired(self, timer: str, timers: _Timers, what: str, stop_code: bool) -> None:
        state = self.engine.state.value
        if timer == "interrupt":
            self.engine.mark_unsynced()  # the code may still run: resync (or reset) first
            waited = time.monotonic() - (self._interrupt_sent_at or time.monotonic())
            raise DeviceUnresponsiveError(
                f"{self.url}: the board did not stop within {waited:.1f} s of Ctrl-C "
                "(its firmware may ignore Ctrl-C while code runs): it needs a reset",
                state="stdout",
                received=timers.tail,
            )
        if timer == "deadline":
            self._stop_after_deadline(stop_code)
            raise DeviceTimeoutError(
                f"{self.url}: deadline passed while {what} (state {state})",
                state=state,
                received=timers.tail,
            )
        self.engine.mark_unsynced()  # the next operation resyncs
        raise DeviceTimeoutError(
            f"{self.url}: no answer within {timers.idle} s while {what} (state {state})",
            state=state,
            received=timers.tail,
        )

    def _stop_after_deadline(self, stop_code: bool) -> None:
        """Past an operation's deadline: stop running code, so the board is
        usable, before the timeout is reported."""
        if not (stop_code and self.engine.executing):
            self.engine.mark_unsynced()
            return
        with self.lock:
            self.deliver_interrupt()
        try:
            self.drive(
                lambda e: isinstance(e, ExecutionFinished),
                deadline=Deadline.after(2.0),
                what="stopping code after a timeout",
                stderr=bytearray(),
                stop_code_on_deadline=False,
            )
        except DeviceUnresponsiveError:
            raise
        except (DeviceTimeoutError, ProtocolError):
            self.engine.mark_unsynced()

    # ------------------------------------------------------------------ interrupts and stdin

    def request_interrupt(self) -> None:
        """Ask for the running code to be stopped (from any thread)."""
        self._interrupt_requested = True
        if (side_channel := self.hooks.side_channel) is not None:
            side_channel.interrupt()  # the exchange's thread may wait in it
        # The thread running the exchange holds the lock nearly all the time
        # while output floods in, and a lock is not handed over fairly: rather
        # than wait for it, leave the request to that thread, which takes it
        # at its next step. Only when nobody runs an exchange is it taken here.
        if self.lock.acquire(timeout=0.05):
            try:
                self.take_interrupt_request()
            finally:
                self.lock.release()

    def take_interrupt_request(self) -> None:
        """Act on a requested interrupt (the caller holds the lock)."""
        if not self._interrupt_requested:
            return
        if self.engine.executing:
            self._interrupt_requested = False
            self.deliver_interrupt()
        elif not self.exec_starting:
            self._interrupt_requested = False  # nothing runs: nothing to stop
        # else an exec is starting: kept until its code starts (ExecutionStarted)

    def deliver_interrupt(self) -> None:
        if self.engine.executing and self._interrupt_sent_at is None:
            self._interrupt_sent_at = time.monotonic()
        if (process := interruptible(self.transport)) is not None:
            process.interrupt()
        else:
            self.engine.send_interrupt()
            self.flush()

    def code_ended(self) -> None:
        """The code is over: nothing to stop any more."""
        with self.lock:
            self.exec_starting = False
            self._interrupt_requested = False
            self._interrupt_sent_at = None

    def abandon(self, *, stop_code: bool) -> None:
        """Leave the current exchange half-way (a helper's reply passed a
        bound, a boot banner came instead): the next operation resyncs."""
        with self.lock:
            if stop_code:
                self.deliver_interrupt()
            self.engine.mark_unsynced()

    def send_input(self, data: bytes) -> None:
        """Send bytes to the running code's stdin."""
        with self.lock:
            self.stdin_written = True
            self.engine.send_stdin(data)
            self.flush()
