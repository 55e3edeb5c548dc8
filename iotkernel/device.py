"""Device: one REPL engine joined to one transport.

Owns the exchange loop and its deadlines (an idle timeout while the device
owes us an answer, and an overall deadline per operation),
resynchronisation (entering the raw REPL from any state), interrupt
delivery, soft reset, identity, and running the device-side helpers used by
`eval` (what a helper call is and how its reply is checked lives in
`helper_calls`; turning a traceback into a typed error, in `tracebacks`).

Never parses protocol bytes itself (the engine does) and never formats
untrusted text into device code (values go through `repr()`).
Thread model: one thread runs operations; `interrupt()` may be called from any
other thread while an operation runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import (
    DeviceException,
    DeviceProtocolError,
    DeviceRebootedError,
    DeviceTimeoutError,
    DeviceUnresponsiveError,
    HelperReplyError,
    IotKernelError,
    ProtocolError,
    ReplyTooLargeError,
    TransportClosedError,
    TransportError,
)
from .helper_calls import (
    HELPER_PROBE,
    HELPERS,
    MAX_ROW,
    ROW_MARK,
    DeviceIdentity,
    call_source,
    decode_reply,
    decode_streamed_rows,
    eval_arguments,
    parse_identity,
    parse_probe,
    payload_arguments,
    source_arguments,
)
from .protocol import (
    Event,
    ExecMode,
    ExecutionFinished,
    ExecutionStarted,
    NeedData,
    OutputReceived,
    RawPasteRefused,
    RawReplEntered,
    ReplEngine,
    SoftResetCompleted,
    State,
    Stream,
    UnsolicitedOutput,
)
from .tracebacks import device_exception
from .transport import (
    Transport,
    interruptible,
    open_transport,
    reopenable,
    restartable,
)
from .util import Deadline

log = logging.getLogger(__name__)
wire_log = logging.getLogger("iotkernel.wire")

OutputCallback = Callable[[bytes, Stream], None]


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


READ_SIZE = 65536
# Bounds on what a helper call takes from the board, whatever it sends: its
# whole output, and the rows of a streamed listing.
MAX_HELPER_OUTPUT = 8 * 1024 * 1024
MAX_HELPER_ROWS = 20_000
# Unsolicited output (what a board prints between our commands) kept for the
# caller to show; older bytes are dropped past this.
UNSOLICITED_LIMIT = 256 * 1024
# Quiet periods tried, in turn, while draining a busy board before Ctrl-A.
_QUIET_PERIODS = (0.03, 0.2, 0.5, 1.0)
# What every MicroPython prints when it boots to the friendly REPL; never in a
# helper's reply.
BOOT_MARK = b'Type "help()" for more information.'
# After Ctrl-C, running code must end this soon (its traceback arriving), or
# the board is reported unresponsive: silent for this long...
INTERRUPT_ANSWER_TIMEOUT = 2.0
# ...or still printing this long after (output already on its way drains first).
INTERRUPT_FLOOD_TIMEOUT = 20.0
# Classic raw mode has no flow control: the board reads source into its RAM
# as fast as it can, and a UART receive buffer (256 bytes on many boards)
# overruns when the host sends faster. Larger classic sends go in slices with
# a pause (raw-paste, with its window, never needs this).
_CLASSIC_SLICE = 256
_CLASSIC_PAUSE = 0.01


@dataclass
class _Progress:
    """When an exchange last moved: what its idle and interrupt timers count
    from, and its last bytes (shown in a timeout's message)."""

    idle: float
    last_progress: float = field(default_factory=time.monotonic)
    last_data: float = field(default_factory=time.monotonic)
    tail: bytes = b""

    def received(self, data: bytes) -> None:
        self.last_progress = self.last_data = time.monotonic()
        self.tail = (self.tail + data)[-200:]


def _stdout_into(collected: bytearray) -> OutputCallback:
    """An output callback that keeps stdout in `collected`."""

    def collect(data: bytes, stream: Stream) -> None:
        if stream is Stream.STDOUT:
            collected.extend(data)

    return collect


class _BootBannerSeen(Exception):
    """Raised inside an exchange when a helper's output shows a boot banner."""


class _StopReading(Exception):
    """Raised inside an exchange when a helper's output passes a bound."""

    def __init__(self, error: IotKernelError) -> None:
        super().__init__(str(error))
        self.error = error


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
        self.on_unsolicited = on_unsolicited
        self._engine = ReplEngine()
        self._lock = threading.RLock()
        # A service speaking inside the running code's stdout (the mount):
        # it takes its requests out of each chunk, the rest is output.
        self.side_channel: SideChannel | None = None
        # Called with the device after each soft reset (the mount remounts).
        self.after_soft_reset: list[Callable[[Device], None]] = []
        # Code ended by SystemExit soft-reset the board: after_soft_reset runs
        # once the exec is over.
        self._reset_by_code = False
        self._stdin_written = False  # during the current exec
        self._unsolicited = bytearray()
        self._discard_unsolicited = False  # while resyncing after an abandoned exchange
        # An exec is on its way (entering the raw REPL, sending the code): an
        # interrupt now is kept for the moment the code starts, not dropped.
        self._exec_starting = False
        # Set by interrupt() from any thread; taken by whoever holds the lock
        # next (see interrupt()): a flag, so no thread ever waits for the lock.
        self._interrupt_requested = False
        # When Ctrl-C (or SIGINT) went to the running code, if it did.
        self._interrupt_sent_at: float | None = None
        self._helpers_ready = False
        # The board's free heap when the helpers were checked (sizes chunks).
        self._free_memory: int | None = None
        # What services learned of this board's limits in this session (the
        # file service's chunk size): kept across their calls.
        self.transfer_limits: dict[str, int] = {}
        # Where this board's files are writable from the host (the folder of
        # a CircuitPython board's mounted drive), once the file service found it.
        self.host_drive: Path | None = None
        self._identity: DeviceIdentity | None = None
        self._implementation: str | None = None  # sys.implementation.name, once asked
        self._closed = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, url: str, *, connect: bool = True, **options: Any) -> Device:
        """Open the transport `url` names and enter the raw REPL.

        `options` go to the transport, except `idle_timeout` and `deadline`.
        """
        device_options = {k: options.pop(k) for k in ("idle_timeout", "deadline") if k in options}
        transport = open_transport(url, **options)
        device = cls(transport, **device_options)
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
        return self._engine.state

    # ------------------------------------------------------------------ plumbing

    def _flush(self) -> None:
        data = self._engine.data_to_send()
        if data:
            if wire_log.isEnabledFor(logging.DEBUG):
                wire_log.debug("%s <- %r", self.url, data[:200])
            paced = self._engine.state is State.CLASSIC_AWAITING_OK and len(data) > _CLASSIC_SLICE
            try:
                if not paced:
                    self.transport.write(data)
                    return
                for start in range(0, len(data), _CLASSIC_SLICE):
                    if start:
                        time.sleep(_CLASSIC_PAUSE)
                    self.transport.write(data[start : start + _CLASSIC_SLICE])
            except TransportError:
                self._engine.mark_unsynced()  # what the board got is unknown
                raise

    def _read(self, timeout: float) -> bytes:
        try:
            data = self.transport.read(READ_SIZE, timeout)
        except TransportError:
            self._engine.mark_unsynced()
            raise
        if data and wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s -> %r", self.url, data[:200])
        return data

    def _note_unsolicited(self, data: bytes) -> None:
        if self._discard_unsolicited:
            log.debug("%s: dropped the tail of an abandoned exchange: %r", self.url, data[:200])
            return
        self._unsolicited += data
        if len(self._unsolicited) > UNSOLICITED_LIMIT:
            del self._unsolicited[: len(self._unsolicited) - UNSOLICITED_LIMIT]
        if self.on_unsolicited is not None:
            self.on_unsolicited(data)

    def take_unsolicited(self) -> bytes:
        """What the board printed on its own since the last call (e.g. a program's prints)."""
        with self._lock:
            self._poll_unsolicited()
            data = bytes(self._unsolicited)
            self._unsolicited.clear()
            return data

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

    def _poll_unsolicited(self) -> None:
        """Read whatever is waiting without blocking (only while idle)."""
        if not self._engine.between_exchanges:
            return
        while True:
            data = self._read(0)
            if not data:
                return
            self._engine.receive_data(data)
            self._dispatch_pending(None, None)

    def _dispatch_pending(
        self, on_output: OutputCallback | None, stderr: bytearray | None
    ) -> Event | None:
        """Handle queued events; return the first that is not output."""
        while True:
            event = self._engine.next_event()
            if isinstance(event, NeedData):
                return None
            if isinstance(event, OutputReceived):
                if event.stream is Stream.STDOUT and self.side_channel is not None:
                    event = OutputReceived(self.side_channel.feed(event.data), event.stream)
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
            if isinstance(event, ExecutionFinished) and self.side_channel is not None:
                held = self.side_channel.flush()
                if held and on_output is not None:
                    on_output(held, Stream.STDOUT)
            if isinstance(event, RawPasteRefused):
                log.info(
                    "%s: raw-paste refused (%r); using classic raw REPL", self.url, event.answer
                )
                self._flush()
                continue
            return event

    def _drive(
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
        """Exchange bytes until an event satisfies `done`.

        The idle timeout applies only while the engine awaits a reply; the
        deadline applies throughout. On expiry of the deadline while code
        runs, the code is interrupted first. `nudge_every`: send Ctrl-C at
        that interval until done (a CircuitPython board's soft reboot).
        """
        progress = _Progress(self.idle_timeout if idle_timeout is None else idle_timeout)
        nudged_at = time.monotonic()
        while True:
            if nudge_every is not None and time.monotonic() - nudged_at >= nudge_every:
                nudged_at = time.monotonic()
                with self._lock:
                    self._engine.send_interrupt()
                    self._flush()
            with self._lock:
                self._take_interrupt_request()
                event = self._dispatch_pending(on_output, stderr)
                self._flush()  # what the events made the engine queue (e.g. raw-paste data)
                if event is not None:
                    if isinstance(event, ExecutionStarted):
                        self._take_interrupt_request()  # one kept while the exec started
                    if isinstance(event, ExecutionFinished) and event.soft_reset:
                        # SystemExit ended the code and the board soft-reset:
                        # a fresh interpreter, without our helpers.
                        self._helpers_ready = False
                        self._reset_by_code = True
                    if done(event):
                        return
                    continue
                awaiting = self._engine.awaiting_reply
            wait = self._time_to_wait(progress, deadline, awaiting, what, stop_code_on_deadline)
            if wait <= 0:
                continue
            data = self._read(wait)
            if data:
                progress.received(data)
                with self._lock:
                    self._engine.receive_data(data)

    def _time_to_wait(
        self,
        progress: _Progress,
        deadline: Deadline | None,
        awaiting: bool,
        what: str,
        stop_code_on_deadline: bool,
    ) -> float:
        """How long to wait for bytes now; raises when a timer has run out
        (the deadline, the idle timeout while a reply is owed, the answer to
        an interrupt). 0 when the caller should look at its events again."""
        now = time.monotonic()
        waits = [0.25]
        if deadline is not None:
            waits.append(deadline.at - now)
        if awaiting:
            waits.append(progress.last_progress + progress.idle - now)
        sent_at = self._interrupt_sent_at
        if sent_at is not None and self._engine.executing:
            answer_by = min(
                max(progress.last_data, sent_at) + INTERRUPT_ANSWER_TIMEOUT,
                sent_at + INTERRUPT_FLOOD_TIMEOUT,
            )
            if now >= answer_by:
                self._on_unresponsive(now - sent_at, progress.tail)
            waits.append(answer_by - now)
        wait = min(waits)
        if wait > 0:
            return wait
        if deadline is not None and now >= deadline.at:
            self._on_deadline(what, progress.tail, stop_code_on_deadline)
        if awaiting and now >= progress.last_progress + progress.idle:
            state = self._engine.state.value
            self._engine.mark_unsynced()  # the next operation resyncs
            raise DeviceTimeoutError(
                f"{self.url}: no answer within {progress.idle} s while {what} (state {state})",
                state=state,
                received=progress.tail,
            )
        if not awaiting:
            progress.last_progress = now  # the idle timer counts only while a reply is owed
        return 0.0

    def _on_unresponsive(self, waited: float, received: bytes) -> None:
        self._engine.mark_unsynced()  # the code may still run: resync (or reset) first
        raise DeviceUnresponsiveError(
            f"{self.url}: the board did not stop within {waited:.1f} s of Ctrl-C "
            "(its firmware may ignore Ctrl-C while code runs): it needs a reset",
            state="stdout",
            received=received,
        )

    def _on_deadline(self, what: str, received: bytes, stop_code: bool) -> None:
        state = self._engine.state.value
        if stop_code and self._engine.executing:
            # Stop the code so the board is usable, then report the timeout.
            with self._lock:
                self._deliver_interrupt()
            try:
                self._drive(
                    lambda e: isinstance(e, ExecutionFinished),
                    deadline=Deadline.after(2.0),
                    what="stopping code after a timeout",
                    stderr=bytearray(),
                    stop_code_on_deadline=False,
                )
            except DeviceUnresponsiveError:
                raise
            except (DeviceTimeoutError, ProtocolError):
                self._engine.mark_unsynced()
        else:
            self._engine.mark_unsynced()
        raise DeviceTimeoutError(
            f"{self.url}: deadline passed while {what} (state {state})",
            state=state,
            received=received,
        )

    # ------------------------------------------------------------------ REPL resync
    # (entering the raw REPL and getting back in step with it; not file sync)

    def connect(self, *, timeout: float | None = None) -> None:
        """Enter the raw REPL from any state: stop a running program, drain
        boot output until the line is quiet, then ask for the raw REPL.

        Raises `DeviceTimeoutError` (with what was received) if the banner
        does not come within `timeout` (default: the device's deadline).
        """
        deadline = Deadline.after(self.deadline if timeout is None else timeout)
        last_error: Exception | None = None
        with self._lock:
            self._engine.forget_capabilities()  # a new session proves them again
        for quiet in _QUIET_PERIODS:
            if deadline.expired():
                break
            try:
                self._enter_raw(quiet, deadline)
                self._probe(deadline)
                self._helpers_ready = False
                return
            except DeviceTimeoutError as exc:
                last_error = exc
            except DeviceProtocolError as exc:
                last_error = exc
        raise DeviceTimeoutError(
            f"{self.url}: could not enter the raw REPL ({last_error})",
            state=self._engine.state.value,
        ) from last_error

    def _enter_raw(self, quiet: float, deadline: Deadline) -> None:
        with self._lock:
            self._engine.interrupt_program()
            self._flush()
        # Drain until the line stays quiet for `quiet` seconds.
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                raise DeviceTimeoutError(f"{self.url}: the board never went quiet")
            data = self._read(min(quiet, remaining))
            if not data:
                break
            with self._lock:
                self._engine.receive_data(data)
                self._dispatch_pending(None, None)
        with self._lock:
            self._engine.request_raw_repl()
        self._drive(
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
        with self._lock:
            self._engine.mark_unsynced()
            self._helpers_ready = False
            # Another board may be behind the link now: its drive is proven anew.
            self.host_drive = None
            if (link := reopenable(self.transport)) is not None:
                link.reopen(timeout=limit)
            elif (process := restartable(self.transport)) is not None:
                process.restart()
            else:
                raise TransportClosedError(f"{self.url}: this link cannot be reopened")
            self._closed = False
        self.connect(timeout=max(0.5, deadline.remaining()))

    def _probe(self, deadline: Deadline) -> None:
        """Run a no-op to prove the conversation is in step.

        Bytes of an earlier, interrupted exchange (a raw-paste answer, the end
        of a traceback) can still arrive after the banner; they break the probe,
        and the next attempt drains longer.
        """
        with self._lock:
            self._engine.execute(b"pass", ExecMode.CLASSIC)
        self._drive(
            lambda e: isinstance(e, ExecutionFinished),
            deadline=deadline,
            what="checking the raw REPL",
            stderr=bytearray(),
        )

    def launch(self, code: str, *, timeout: float | None = None) -> None:
        """Send `code` and return once the board has started running it,
        without waiting for it to end (e.g. `machine.reset()`, which never does).
        Follow with `wait_quiet()` and a reconnect."""
        self.ensure_raw_repl()
        with self._lock:
            self._poll_unsolicited()
            self._engine.execute(code.encode(), ExecMode.CLASSIC)
        limit = self.deadline if timeout is None else timeout
        self._drive(
            lambda e: isinstance(e, ExecutionStarted),
            deadline=Deadline.after(limit),
            what="starting code",
        )

    def wait_quiet(self, *, quiet: float = 0.5, limit: float = 10.0) -> bytes:
        """What the board prints (e.g. after a reset) until it is quiet for
        `quiet` s, at most `limit` s. The conversation must be resynced after."""
        with self._lock:
            out = bytearray(self._engine.mark_unsynced())
            self._helpers_ready = False
        deadline = Deadline.after(limit)
        while (remaining := deadline.remaining()) > 0:
            try:
                data = self._read(min(quiet, remaining))
            except TransportError:
                break  # the port vanished (native USB re-enumerates on reset)
            if not data:
                break
            out += data
        return bytes(out)

    def resync(self) -> None:
        """Forget where the conversation stands and enter the raw REPL
        afresh (Ctrl-C clears what the REPL may have read of a cut exchange).
        What the board sends meanwhile is the tail of that exchange: dropped,
        never shown as the board's own output."""
        with self._lock:
            self._engine.mark_unsynced()
            self._discard_unsolicited = True
            if (process := interruptible(self.transport)) is not None:
                # Where Ctrl-C is a signal (the unix port), the resync's Ctrl-C
                # byte would reach code that reads its stdin (a raw transfer's
                # receiver) as data: stop such code by the signal first.
                process.interrupt()
        try:
            self.connect()
        finally:
            self._discard_unsolicited = False

    def ensure_raw_repl(self) -> None:
        """Resynchronise if a previous operation left the conversation unknown."""
        if self._closed:
            raise TransportClosedError(f"{self.url}: device is closed")
        state = self._engine.state
        if state is State.RAW_IDLE:
            return
        if self._engine.between_exchanges:
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
        deadline = None if timeout is None else Deadline.after(timeout)
        try:
            return self._until_end(on_output, deadline)
        finally:
            self._after_reset_by_code()

    def _after_reset_by_code(self) -> None:
        """The `after_soft_reset` callbacks, when code's SystemExit soft-reset
        the board (a mount is set up again, as after `soft_reset()`)."""
        if not self._reset_by_code:
            return
        self._reset_by_code = False
        log.info("%s: the code ended by SystemExit; the board soft-reset", self.url)
        for callback in list(self.after_soft_reset):
            callback(self)

    def _send_code(self, code: str | bytes, mode: ExecMode) -> None:
        """Enter the raw REPL if needed and send `code` (an interrupt asked
        for meanwhile is kept until the code starts)."""
        source = code.encode() if isinstance(code, str) else code
        with self._lock:
            self._exec_starting = True
            self._stdin_written = False
        try:
            self.ensure_raw_repl()
            with self._lock:
                self._poll_unsolicited()
                self._engine.execute(source, mode)
        except BaseException:
            with self._lock:
                self._exec_starting = False
            raise

    def _until_end(self, on_output: OutputCallback | None, deadline: Deadline | None) -> bytes:
        """Drive the running code to its end: its stdout (when no callback
        takes it), or what it raised."""
        collected = bytearray()
        if on_output is None:
            on_output = _stdout_into(collected)
        stderr = bytearray()
        try:
            self._drive(
                lambda e: isinstance(e, ExecutionFinished),
                deadline=deadline,
                what="running code",
                on_output=on_output,
                stderr=stderr,
            )
        finally:
            with self._lock:
                self._exec_starting = False
                self._interrupt_requested = False  # the code is over: nothing to stop
                self._interrupt_sent_at = None
        if stderr:
            raise self._ended_by(device_exception(bytes(stderr)))
        return bytes(collected)

    def _ended_by(self, exc: DeviceException) -> DeviceException:
        """The exception that ended an exec, after a check: code that raised
        (Ctrl-C, or an error while it waited) may have left bytes we sent to
        its stdin (an answer of the mount, an input() line) unread, and the
        raw REPL would take them as the start of the next code; the next
        exchange resyncs first (its Ctrl-C clears them)."""
        if self._stdin_written:
            with self._lock:
                self._engine.mark_unsynced()
        return exc

    def start(self, code: str | bytes, *, timeout: float | None = None) -> None:
        """Send `code` and return once it runs, without waiting for its end
        (`%run -n`). Until `follow()` is called, nothing reads its output: a
        board blocks once its output buffer is full, as it does with
        `mpremote run --no-follow`."""
        self._send_code(code, ExecMode.AUTO)
        try:
            limit = self.deadline if timeout is None else timeout
            self._drive(
                lambda e: isinstance(e, ExecutionStarted),
                deadline=Deadline.after(limit),
                what="starting code",
            )
        finally:
            with self._lock:
                self._exec_starting = False

    def follow(
        self, on_output: OutputCallback | None = None, *, timeout: float | None = None
    ) -> bytes:
        """Wait for the code `start()` began to end, its output streamed to
        `on_output` (or collected and returned), and raise what it raised, as
        `exec` does. Returns at once when no code runs."""
        if not self._engine.executing:
            return b""
        return self._until_end(on_output, None if timeout is None else Deadline.after(timeout))

    def interrupt(self) -> None:
        """Stop the code that runs now (KeyboardInterrupt on the device).

        Safe from another thread; a no-op when nothing runs. The running
        `exec` then raises `DeviceKeyboardInterrupt`; one still on its way
        (entering the raw REPL, sending its code) is interrupted as soon as
        its code starts, so a stop pressed as a cell begins is never lost.
        """
        self._interrupt_requested = True
        if (side_channel := self.side_channel) is not None:
            side_channel.interrupt()  # the exchange's thread may wait in it
        # The thread running the exchange holds the lock nearly all the time
        # while output floods in, and a lock is not handed over fairly: rather
        # than wait for it, leave the request to that thread, which takes it
        # at its next step. Only when nobody runs an exchange is it taken here.
        if self._lock.acquire(timeout=0.05):
            try:
                self._take_interrupt_request()
            finally:
                self._lock.release()

    def _take_interrupt_request(self) -> None:
        """Act on a requested interrupt (the caller holds the lock)."""
        if not self._interrupt_requested:
            return
        if self._engine.executing:
            self._interrupt_requested = False
            self._deliver_interrupt()
        elif not self._exec_starting:
            self._interrupt_requested = False  # nothing runs: nothing to stop
        # else an exec is starting: kept until its code starts (ExecutionStarted)

    def _deliver_interrupt(self) -> None:
        if self._engine.executing and self._interrupt_sent_at is None:
            self._interrupt_sent_at = time.monotonic()
        if (process := interruptible(self.transport)) is not None:
            process.interrupt()
        else:
            self._engine.send_interrupt()
            self._flush()

    def answer_program(self, data: bytes) -> None:
        """Send `data` to the running code's stdin, as a side channel's
        answer; dropped if the code has ended meanwhile (its end may already
        be parsed when its last request is handled: nobody would read it)."""
        with self._lock:
            if self._engine.executing:
                self.send_input(data)

    def send_input(self, data: bytes) -> None:
        """Send bytes to the running code's stdin (answers `input()`)."""
        with self._lock:
            self._stdin_written = True
            self._engine.send_stdin(data)
            self._flush()

    def eval(self, expression: str, *, timeout: float | None = None) -> Any:
        """Evaluate a MicroPython expression on the device and return its value.

        The value crosses as JSON (bytes, tuples and nested containers are
        supported; nothing is ever evaluated on the host). Raises
        `DeviceException` if evaluation fails, including a `TypeError` for a
        value JSON cannot carry.
        """
        return self._verified_eval(expression, user=True, timeout=timeout)

    def call_helper(
        self,
        call_source: str,
        *,
        timeout: float | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> Any:
        """Evaluate `call_source` (e.g. ``"ident()"``, arguments built with
        repr()) among the device-side helpers and return its JSON reply.

        `on_stdout` sees what the helper prints as it comes, before its reply
        (a receiver's acknowledgements, answered with `send_input`)."""
        return self._verified_eval(call_source, user=False, timeout=timeout, on_stdout=on_stdout)

    def _verified_eval(
        self,
        source: str,
        *,
        user: bool,
        timeout: float | None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> Any:
        """Evaluate on the device with integrity checks both ways.

        The expression travels as a string with its CRC-32, checked on the
        device before evaluation; the reply carries the CRC-32 of its JSON and
        the request's CRC. A corrupted request, a corrupted reply, or a stale
        reply to another request is a `DeviceProtocolError`, never a value.
        """
        arguments, request_crc = eval_arguments(source, user=user)
        return decode_reply(self._call_helper_raw("ev", arguments, timeout, on_stdout), request_crc)

    def call_helper_rows(self, call_source: str, *, timeout: float | None = None) -> list[Any]:
        """Evaluate `call_source`, an iterable among the device-side helpers,
        and return its items, streamed by the board one checked line each (a
        listing larger than a small board's heap). A lost, added or corrupted
        line is a `DeviceProtocolError`."""
        arguments, request_crc = source_arguments(call_source)
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

        out = self._call_helper_raw("rows", arguments, timeout, count)
        return decode_streamed_rows(out, request_crc)

    def call_with_payload(
        self,
        name: str,
        arguments: tuple[object, ...],
        payload: bytes,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call helper `name(*arguments, payload, crc)`: the payload travels
        once, as a bytes literal, checked against its CRC-32 on the board (file
        chunks go this way: compiled once, not twice as through `ev`).
        Arguments are quoted with repr()."""
        quoted, request_crc = payload_arguments(arguments, payload)
        return decode_reply(self._call_helper_raw(name, quoted, timeout), request_crc)

    def _call_helper_raw(
        self,
        name: str,
        arguments: str,
        timeout: float | None,
        on_stdout: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """Call helper `name(arguments)` (helpers checked first); its stdout."""
        self._ensure_helpers()
        return self._exec_helper(call_source(name, arguments), timeout, on_stdout)

    def _exec_helper(
        self, code: str, timeout: float | None, on_stdout: Callable[[bytes], None] | None = None
    ) -> bytes:
        """Run a helper call; its stdout. A board that reboots meanwhile (a
        fatal error, a reset) prints its boot banner where the reply should
        be: that is a `DeviceRebootedError` at once, not a wait for the
        deadline, and the next operation reconnects."""
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
            self.exec(code, watch, timeout=self.deadline if timeout is None else timeout)
        except _StopReading as stop:
            # The board may still be sending: stop it, and the next
            # operation resyncs (dropping what it sent meanwhile).
            with self._lock:
                self._deliver_interrupt()
                self._engine.mark_unsynced()
            raise stop.error from None
        except _BootBannerSeen:
            with self._lock:
                self._engine.mark_unsynced()
                self._helpers_ready = False
            raise DeviceRebootedError(
                f"{self.url}: the board rebooted during the operation "
                "(a fatal error or a reset); it is reconnected on the next one"
            ) from None
        return bytes(collected)

    def _ensure_helpers(self) -> None:
        """Install the helpers unless this boot of the board has them already
        (one version check per Device and soft reset, not a reinstall)."""
        # Resync first: a reconnect (after a reboot the link did not tell of)
        # forgets the helpers, and they must be checked before the call runs.
        self.ensure_raw_repl()
        if self._helpers_ready:
            return
        version, free = self._probe_helpers()
        if version != HELPERS.version:
            log.debug(
                "%s: installing helpers %s (%d pieces)",
                self.url,
                HELPERS.version,
                len(HELPERS.pieces),
            )
            for piece in HELPERS.pieces:
                self._exec_helper(piece, None)
            version, free = self._probe_helpers()
            if version != HELPERS.version:
                raise HelperReplyError(
                    "helpers", f"helpers version {HELPERS.version}", version.encode()
                )
        self._free_memory = free
        self._helpers_ready = True

    def _probe_helpers(self) -> tuple[str, int]:
        return parse_probe(self._exec_helper(HELPER_PROBE, None))

    def free_memory(self) -> int:
        """The board's free heap (bytes, after a collection) when the helpers
        were last checked: what file chunks and other requests are sized by."""
        self._ensure_helpers()
        return self._free_memory or 0

    # ------------------------------------------------------------------ resets and identity

    def soft_reset(self, *, timeout: float | None = None) -> None:
        """Give the board a fresh interpreter without running `main.py`.

        On a transport that owns the process (unix port), that means a new
        process on the same board directory. Then the `after_soft_reset`
        callbacks run.
        """
        self._soft_reset(timeout)
        for callback in list(self.after_soft_reset):
            callback(self)

    def _soft_reset(self, timeout: float | None) -> None:
        deadline = Deadline.after(self.deadline if timeout is None else timeout)
        self._helpers_ready = False
        if (process := restartable(self.transport)) is not None:
            with self._lock:
                process.restart()
                self._engine = ReplEngine(raw_paste_supported=self._engine.raw_paste_supported)
            self.connect(timeout=deadline.remaining())
            return
        self.ensure_raw_repl()
        # CircuitPython runs code.py after a soft reboot, even from the raw
        # REPL, then waits for a key: Ctrl-C stops the one and is the other.
        nudge = 0.3 if self.is_circuitpython() else None
        with self._lock:
            self._engine.soft_reset()
        try:
            self._drive(
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

    def is_circuitpython(self) -> bool:
        """Whether the board runs CircuitPython (cached; one short exec at
        most, no helpers: soft resets ask it)."""
        if self._identity is not None:
            return self._identity.implementation == "circuitpython"
        if self._implementation is None:
            out = self.exec("import sys\nprint(sys.implementation.name)", timeout=self.deadline)
            self._implementation = out.decode("ascii", "replace").strip()
        return self._implementation == "circuitpython"

    def identity(self, *, refresh: bool = False) -> DeviceIdentity:
        """The board's uid, platform, implementation name and version (cached)."""
        if self._identity is None or refresh:
            self._identity = parse_identity(self.call_helper("ident()"))
        return self._identity
