"""The host side of the MicroPython REPL as a pure state machine (sans-IO).

Owns: entering the raw REPL from any state, classic raw execution, raw-paste
negotiation and its flow-control window, stdout/stderr framing, interrupt,
soft reset and leaving to the friendly REPL.

Rules: this module does no I/O, reads no clock, never sleeps, logs or prints.
The caller feeds received bytes with `receive_data()`, pulls events with
`next_event()` until it gets `NEED_DATA`, and writes whatever
`data_to_send()` returns. Commands (`execute()`, `soft_reset()`, ...) only
queue bytes and change state. Results never depend on how the device's byte
stream was split into reads. Unexpected bytes raise `DeviceProtocolError`
(what was awaited, what came); a command in the wrong state raises
`ProtocolUsageError`. After a `DeviceProtocolError` the engine is UNSYNCED
and the caller must re-enter the raw REPL.

Every state's rules are in one table, `STATES` (`states.py`; its handlers
are the engine's `_on_*` methods): what the engine reads there, whether the
device owes a prompt answer, whether a Ctrl-C reaches running code, which
commands are allowed and where the state leads.

Protocol facts: MicroPython's docs/reference/repl.rst and shared/runtime/pyexec.c.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from ..errors import DeviceProtocolError, ProtocolUsageError
from .events import (
    NEED_DATA,
    Event,
    ExecutionFinished,
    ExecutionStarted,
    FriendlyReplEntered,
    NeedData,
    OutputReceived,
    RawPasteRefused,
    RawReplEntered,
    SoftResetCompleted,
    State,
    Stream,
    UnsolicitedOutput,
)
from .states import STATES
from .wire import (
    CLASSIC_LIMIT,
    CTRL_A,
    CTRL_B,
    CTRL_C,
    CTRL_D,
    CTRL_E,
    FRIENDLY_PROMPT,
    LEGACY_PASTE_ANSWER,
    PASTE_REQUEST_ATTEMPTS,
    PASTE_REQUEST_RETRIES_PROVEN,
    RAW_BANNER,
    SOFT_REBOOT,
)


class ExecMode(enum.Enum):
    """How source is sent to the device."""

    AUTO = "auto"  # classic for small source, raw-paste for large (when supported)
    CLASSIC = "classic"
    RAW_PASTE = "raw-paste"


class ReplEngine:
    """Host-side MicroPython REPL protocol, driven by bytes in and bytes out."""

    def __init__(self, *, raw_paste_supported: bool | None = None) -> None:
        self.state = State.UNSYNCED
        # None: not known yet (try it); True: the board granted a window;
        # False: it refused (R\x00) or answered as legacy firmware twice. Only
        # what the board proved since the last `forget_capabilities()`.
        self.raw_paste_supported = raw_paste_supported
        self._paste_requests = 0  # requests sent for the current source
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._events: list[Event] = []
        # raw-paste bookkeeping
        self._paste_source = b""
        self._paste_offset = 0
        self._window_increment = 0
        self._window_remaining = 0
        # soft reset: 'OK' seen yet?
        self._reset_ok_seen = False
        self._exit_reboot_seen = False  # SystemExit's soft reboot, mid-way

    # ------------------------------------------------------------------ I/O side

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the device."""
        self._inbuf += data

    def data_to_send(self) -> bytes:
        """Bytes the host must write to the device now (possibly empty)."""
        out = bytes(self._outbuf)
        self._outbuf.clear()
        return out

    def next_event(self) -> Event | NeedData:
        """The next event, or `NEED_DATA` when more bytes are needed.

        Raises `DeviceProtocolError` when the device sent bytes the current
        state does not allow.
        """
        while not self._events and self._inbuf and self._step():
            pass
        return self._events.pop(0) if self._events else NEED_DATA

    # ------------------------------------------------------------------ queries

    @property
    def awaiting_reply(self) -> bool:
        """True when the device should answer promptly (an idle timeout applies).

        False while user code runs (it may run forever) and while idle.
        """
        if self.state is State.PASTE_SENDING:
            return self._window_remaining == 0  # the host talks while it has a window
        return STATES[self.state].awaits_reply

    @property
    def executing(self) -> bool:
        """True while the device runs code the host sent."""
        return self.state is State.STDOUT

    @property
    def interruptible(self) -> bool:
        """True when a Ctrl-C now reaches running code (ours or a program's)."""
        return STATES[self.state].interruptible

    @property
    def between_exchanges(self) -> bool:
        """True when no exchange of ours is under way (a new one may start
        after, at most, entering the raw REPL)."""
        return STATES[self.state].between_exchanges

    # ------------------------------------------------------------------ commands

    def interrupt_program(self) -> None:
        """Start resynchronising: stop whatever runs (Ctrl-C), from any state.

        Bytes until `request_raw_repl()` are reported as `UnsolicitedOutput`.
        """
        self._reset_buffers()
        self._outbuf += b"\r" + CTRL_C
        self.state = State.UNSYNCED

    def mark_unsynced(self) -> bytes:
        """Forget where the conversation stands (after a timeout, a reset or a
        lost link); nothing is sent. The next step must be `interrupt_program()`.

        Returns the device bytes not yet reported (pending output and input
        not yet parsed), in order, for a caller that wants to show them.
        """
        dropped = bytearray()
        for event in self._events:
            if isinstance(event, (OutputReceived, UnsolicitedOutput)):
                dropped += event.data
        dropped += self._inbuf
        self._events.clear()
        self._reset_buffers()
        self._inbuf.clear()
        self.state = State.UNSYNCED
        return bytes(dropped)

    def request_raw_repl(self) -> None:
        """Ask for the raw REPL (Ctrl-A); `RawReplEntered` follows the banner."""
        self._allow("request_raw_repl")
        self._reset_buffers()
        self._outbuf += b"\r" + CTRL_A
        self.state = State.ENTERING_RAW

    def execute(self, source: bytes, mode: ExecMode = ExecMode.AUTO) -> None:
        """Run `source` on the device; events: `ExecutionStarted`, output,
        `ExecutionFinished`. Control bytes Ctrl-A..Ctrl-E are refused in
        source because they would end or corrupt the framing."""
        self._allow("execute")
        bad = next((b for b in b"\x01\x02\x03\x04\x05" if b in source), None)
        if bad is not None:
            raise ProtocolUsageError(
                f"source contains the control byte {bytes([bad])!r}, which the raw REPL "
                "treats as a command; encode such bytes (e.g. '\\x04' in a string literal)"
            )
        use_paste = mode is ExecMode.RAW_PASTE or (
            mode is ExecMode.AUTO and len(source) > CLASSIC_LIMIT
        )
        if use_paste and self.raw_paste_supported is not False:
            self._paste_source = source
            self._paste_offset = 0
            self._paste_requests = 1
            self._outbuf += CTRL_E + b"A" + CTRL_A
            self.state = State.PASTE_NEGOTIATING
        else:
            self._send_classic(source)

    def forget_capabilities(self) -> None:
        """Forget what the board proved (raw-paste support): a new session,
        perhaps another board behind the same link, must prove it again."""
        self.raw_paste_supported = None

    def send_interrupt(self) -> None:
        """Send Ctrl-C to running code (or a program when unsynced/friendly)."""
        self._allow("send_interrupt")
        self._outbuf += CTRL_C

    def send_stdin(self, data: bytes) -> None:
        """Pass bytes to the running code's stdin (for `input()`)."""
        self._allow("send_stdin")
        if CTRL_C in data or CTRL_D in data:
            raise ProtocolUsageError("stdin data must not contain Ctrl-C or Ctrl-D")
        self._outbuf += data

    def soft_reset(self) -> None:
        """Reset the interpreter from the raw REPL (`main.py` is not run);
        `SoftResetCompleted` follows when the device is back at the raw prompt."""
        self._allow("soft_reset")
        self._outbuf += CTRL_D
        self._reset_ok_seen = False
        self.state = State.SOFT_RESETTING

    def leave_raw_repl(self) -> None:
        """Go to the friendly REPL (Ctrl-B); `FriendlyReplEntered` follows."""
        self._allow("leave_raw_repl")
        self._outbuf += CTRL_B
        self.state = State.LEAVING_RAW

    # ------------------------------------------------------------------ internals

    def _allow(self, command: str) -> None:
        if command not in STATES[self.state].commands:
            raise ProtocolUsageError(f"{command}() is not allowed in state {self.state.value}")

    def _reset_buffers(self) -> None:
        self._paste_source = b""
        self._paste_offset = 0
        self._window_remaining = 0

    def _fail(self, expected: str) -> None:
        """Report unexpected device bytes and drop to UNSYNCED."""
        state = self.state.value
        received = bytes(self._inbuf)
        self._inbuf.clear()
        self._reset_buffers()
        self._exit_reboot_seen = False
        self.state = State.UNSYNCED
        raise DeviceProtocolError(state, expected, received)

    def _send_classic(self, source: bytes) -> None:
        self._outbuf += source + CTRL_D
        self.state = State.CLASSIC_AWAITING_OK

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _take(self, n: int) -> bytes:
        data = bytes(self._inbuf[:n])
        del self._inbuf[:n]
        return data

    def _step(self) -> bool:
        """Consume some of the input buffer. Returns False when it needs more bytes."""
        handler: Callable[[], bool] = getattr(self, STATES[self.state].handler)
        return handler()

    # --- states where any bytes are unsolicited output

    def _on_unsolicited(self) -> bool:
        self._emit(UnsolicitedOutput(self._take(len(self._inbuf))))
        return True

    # --- waiting for a marker; the bytes before it are unsolicited output

    def _scan_for(self, marker: bytes) -> bool:
        """Emit bytes before `marker` as unsolicited; True once the marker was consumed.

        Holds back a tail that could be the start of the marker, so the result
        does not depend on how the stream was split.
        """
        index = self._inbuf.find(marker)
        if index >= 0:
            if index:
                self._emit(UnsolicitedOutput(self._take(index)))
            del self._inbuf[: len(marker)]
            return True
        keep = len(marker) - 1
        if len(self._inbuf) > keep:
            self._emit(UnsolicitedOutput(self._take(len(self._inbuf) - keep)))
        return False

    def _on_entering_raw(self) -> bool:
        if not self._scan_for(RAW_BANNER):
            return False
        self.state = State.RAW_IDLE
        self._emit(RawReplEntered())
        return True

    def _on_leaving_raw(self) -> bool:
        if not self._scan_for(FRIENDLY_PROMPT):
            return False
        self.state = State.FRIENDLY
        self._emit(FriendlyReplEntered())
        return True

    def _on_soft_resetting(self) -> bool:
        if not self._reset_ok_seen:
            if not self._expect_exact(b"OK", "'OK' acknowledging the soft reset"):
                return False
            self._reset_ok_seen = True
            return True
        if not self._scan_for(RAW_BANNER):
            return False
        self.state = State.RAW_IDLE
        self._emit(SoftResetCompleted())
        return True

    def _expect_exact(self, expected: bytes, what: str) -> bool:
        """Consume `expected` from the buffer; False if it is not complete yet."""
        have = bytes(self._inbuf[: len(expected)])
        if not expected.startswith(have):
            self._fail(what)
        if len(have) < len(expected):
            return False
        del self._inbuf[: len(expected)]
        return True

    # --- classic raw execution

    def _on_classic_awaiting_ok(self) -> bool:
        if not self._expect_exact(b"OK", "'OK' acknowledging the source"):
            return False
        self.state = State.STDOUT
        self._emit(ExecutionStarted(raw_paste=False))
        return True

    # --- raw-paste

    def _on_paste_negotiating(self) -> bool:
        first = self._inbuf[0:1]
        if first == b"R":
            if len(self._inbuf) < 2:
                return False
            answer = self._inbuf[1:2]
            if answer == b"\x00":
                # Understood but unsupported: the device prints the raw prompt again.
                if len(self._inbuf) < 3:
                    return False
                if self._inbuf[2:3] != b">":
                    self._fail("'>' after the raw-paste refusal R\\x00")
                del self._inbuf[:3]
                self._refuse_paste(b"R\x00")
                return True
            if answer != b"\x01":
                self._fail("R\\x00 or R\\x01 answering the raw-paste request")
            if len(self._inbuf) < 4:
                return False
            increment = self._inbuf[2] | (self._inbuf[3] << 8)
            if increment == 0:
                self._fail("a non-zero raw-paste window size")
            del self._inbuf[:4]
            self.raw_paste_supported = True
            self._window_increment = increment
            self._window_remaining = increment
            self.state = State.PASTE_SENDING
            self._pump_paste()
            return True
        if first == b"r":
            # Legacy firmware: the rest of the raw banner ("raw REPL; ...\r\n>").
            # Or a request that lost a byte on the way: ask again before believing it.
            if not self._expect_exact(LEGACY_PASTE_ANSWER, "the raw banner (legacy firmware)"):
                return False
            proven = self.raw_paste_supported is True
            attempts = PASTE_REQUEST_RETRIES_PROVEN + 1 if proven else PASTE_REQUEST_ATTEMPTS
            if self._paste_requests < attempts:
                self._paste_requests += 1
                self._outbuf += CTRL_E + b"A" + CTRL_A
                return True
            if proven:
                self._fail("R\\x01: this board granted raw-paste before")
            self._refuse_paste(LEGACY_PASTE_ANSWER)
            return True
        self._fail("R\\x01 (raw-paste), R\\x00 (unsupported) or the raw banner (legacy)")
        return False  # pragma: no cover - _fail raises

    def _refuse_paste(self, answer: bytes) -> None:
        self.raw_paste_supported = False
        source = self._paste_source
        self._reset_buffers()
        self.state = State.RAW_IDLE
        self._emit(RawPasteRefused(answer))
        self._send_classic(source)

    def _pump_paste(self) -> None:
        """Queue as much source as the window allows; end the data when done."""
        if self._window_remaining > 0 and self._paste_offset < len(self._paste_source):
            end = min(len(self._paste_source), self._paste_offset + self._window_remaining)
            end = _character_boundary(self._paste_source, self._paste_offset, end)
            chunk = self._paste_source[self._paste_offset : end]
            self._outbuf += chunk
            self._window_remaining -= len(chunk)
            self._paste_offset = end
        if self._paste_offset >= len(self._paste_source):
            self._outbuf += CTRL_D
            self.state = State.PASTE_AWAITING_ACK

    def _on_paste_sending(self) -> bool:
        byte = self._inbuf[0:1]
        del self._inbuf[:1]
        if byte == CTRL_A:
            self._window_remaining += self._window_increment
            self._pump_paste()
        elif byte == CTRL_D:
            # The device stopped reception (e.g. a compile error): acknowledge and
            # stop sending; its output frames follow.
            self._outbuf += CTRL_D
            self._reset_buffers()
            self.state = State.STDOUT
            self._emit(ExecutionStarted(raw_paste=True))
        else:
            self._inbuf[0:0] = byte
            self._fail("\\x01 (window grant) or \\x04 (end of reception) during raw-paste")
        return True

    def _on_paste_awaiting_ack(self) -> bool:
        byte = self._inbuf[0:1]
        if byte == CTRL_A:  # a late window grant: harmless
            del self._inbuf[:1]
            return True
        if byte != CTRL_D:
            self._fail("\\x04 acknowledging the end of raw-paste data")
        del self._inbuf[:1]
        self._reset_buffers()
        self.state = State.STDOUT
        self._emit(ExecutionStarted(raw_paste=True))
        return True

    # --- output framing

    def _on_output(self) -> bool:
        stream = Stream.STDOUT if self.state is State.STDOUT else Stream.STDERR
        index = self._inbuf.find(CTRL_D)
        if index < 0:
            self._emit(OutputReceived(self._take(len(self._inbuf)), stream))
            return True
        if index:
            self._emit(OutputReceived(self._take(index), stream))
        del self._inbuf[:1]
        self.state = State.STDERR if stream is Stream.STDOUT else State.AWAITING_PROMPT
        return True

    def _on_awaiting_prompt(self) -> bool:
        if self._exit_reboot_seen or self._inbuf[:1] == SOFT_REBOOT[:1]:
            return self._on_reboot_after_exit()
        if not self._expect_exact(b">", "the raw prompt '>' after the output frames"):
            return False
        self.state = State.RAW_IDLE
        self._emit(ExecutionFinished())
        return True

    def _on_reboot_after_exit(self) -> bool:
        """SystemExit ended the code: the firmware soft-resets and comes back
        to the raw REPL (its banner), with nothing else expected between."""
        if not self._exit_reboot_seen:
            if not self._expect_exact(SOFT_REBOOT, "the raw prompt '>' after the output frames"):
                return False
            self._exit_reboot_seen = True
        if not self._scan_for(RAW_BANNER):
            return False
        self._exit_reboot_seen = False
        self.state = State.RAW_IDLE
        self._emit(ExecutionFinished(soft_reset=True))
        return True


def _character_boundary(source: bytes, start: int, end: int) -> int:
    """Move `end` back so source[start:end] does not split a UTF-8 character.

    WebREPL carries REPL input in text frames, which peers may reject when a
    character is cut in two. Holding back at most 3 bytes never stalls the
    flow: the device's next grant always leaves room for them (window >= 4).
    When trimming would leave nothing, `end` stays (tiny windows).
    """
    if end >= len(source):
        return end
    cut = end
    # Continuation bytes are 0b10xxxxxx; step back over them to the lead byte.
    while cut > start and cut > end - 4 and (source[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > start else end
