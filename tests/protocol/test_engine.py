"""The REPL engine alone: golden transcripts, chunking invariance, and errors.

Transcripts follow MicroPython's docs/reference/repl.rst (raw and raw-paste
mode sections) and the byte sequences of shared/runtime/pyexec.c.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotkernel.errors import DeviceProtocolError, ProtocolUsageError
from iotkernel.protocol import (
    ALWAYS_ALLOWED,
    RAW_BANNER,
    STATES,
    Event,
    ExecMode,
    ExecutionFinished,
    ExecutionStarted,
    FriendlyReplEntered,
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

FRIENDLY_BANNER = (
    b"MicroPython v1.24.0 on 2024-10-25; RPi Pico with RP2040\r\n"
    b'Type "help()" for more information.\r\n>>> '
)


def drain(engine: ReplEngine) -> list[Event]:
    events: list[Event] = []
    while True:
        event = engine.next_event()
        if isinstance(event, NeedData):
            return events
        events.append(event)


def merged(events: list[Event]) -> list[Event]:
    """Join adjacent output events of one kind, so results compare across chunkings."""
    out: list[Event] = []
    for event in events:
        last = out[-1] if out else None
        if (
            isinstance(event, OutputReceived)
            and isinstance(last, OutputReceived)
            and event.stream is last.stream
        ):
            out[-1] = OutputReceived(last.data + event.data, event.stream)
            continue
        if isinstance(event, UnsolicitedOutput) and isinstance(last, UnsolicitedOutput):
            out[-1] = UnsolicitedOutput(last.data + event.data)
            continue
        out.append(event)
    return out


def feed(engine: ReplEngine, data: bytes, cuts: list[int] | None = None) -> list[Event]:
    """Feed `data` split at `cuts`; return all events."""
    points = sorted({c for c in (cuts or []) if 0 < c < len(data)})
    events: list[Event] = []
    start = 0
    for point in [*points, len(data)]:
        engine.receive_data(data[start:point])
        events += drain(engine)
        start = point
    return events


def raw_idle_engine(**kwargs: bool | None) -> ReplEngine:
    engine = ReplEngine(**kwargs)
    engine.interrupt_program()
    engine.request_raw_repl()
    engine.receive_data(b"\r\n>>> \r\n" + RAW_BANNER)
    assert drain(engine)[-1] == RawReplEntered()
    engine.data_to_send()
    return engine


# ---------------------------------------------------------------------- golden transcripts


def test_enter_raw_repl_from_a_running_program() -> None:
    engine = ReplEngine()
    engine.interrupt_program()
    assert engine.data_to_send() == b"\r\x03"
    events = feed(engine, b"tick 41\r\ntick 42\r\nTraceback (most recent call last):\r\n")
    assert merged(events) == [
        UnsolicitedOutput(b"tick 41\r\ntick 42\r\nTraceback (most recent call last):\r\n")
    ]
    engine.request_raw_repl()
    assert engine.data_to_send() == b"\r\x01"
    events = feed(engine, b"KeyboardInterrupt: \r\n>>> \r\n>>> \r\n" + RAW_BANNER)
    assert merged(events) == [
        UnsolicitedOutput(b"KeyboardInterrupt: \r\n>>> \r\n>>> \r\n"),
        RawReplEntered(),
    ]
    assert engine.state is State.RAW_IDLE


def test_classic_raw_execution_transcript() -> None:
    engine = raw_idle_engine()
    engine.execute(b"print('hi')", ExecMode.CLASSIC)
    assert engine.data_to_send() == b"print('hi')\x04"
    assert engine.awaiting_reply
    events = feed(engine, b"OKhi\r\n\x04\x04>")
    assert events == [
        ExecutionStarted(raw_paste=False),
        OutputReceived(b"hi\r\n", Stream.STDOUT),
        ExecutionFinished(),
    ]
    assert engine.state is State.RAW_IDLE


SYSTEM_EXIT_REPLY = b"OKSKIP\r\n\x04\x04MPY: soft reboot\r\n" + RAW_BANNER


@given(st.lists(st.integers(min_value=1, max_value=len(SYSTEM_EXIT_REPLY) - 1), max_size=8))
def test_system_exit_soft_reboots_back_to_the_raw_repl(cuts: list[int]) -> None:
    """pyexec.c: SystemExit ending code in the raw REPL is a forced exit;
    firmware soft-resets and prints the raw banner again, however the
    stream is split."""
    engine = raw_idle_engine()
    engine.execute(b"print('SKIP')\nraise SystemExit", ExecMode.CLASSIC)
    engine.data_to_send()
    events = merged(feed(engine, SYSTEM_EXIT_REPLY, cuts))
    assert events[0] == ExecutionStarted(raw_paste=False)
    assert events[1] == OutputReceived(b"SKIP\r\n", Stream.STDOUT)
    assert events[-1] == ExecutionFinished(soft_reset=True)
    assert all(isinstance(e, UnsolicitedOutput) for e in events[2:-1])  # the "\r\n"
    assert engine.state is State.RAW_IDLE


def test_other_bytes_after_the_output_frames_are_a_protocol_error() -> None:
    engine = raw_idle_engine()
    engine.execute(b"x = 1", ExecMode.CLASSIC)
    engine.data_to_send()
    with pytest.raises(DeviceProtocolError):
        feed(engine, b"OK\x04\x04MPY: hard reboot")


def test_traceback_arrives_on_stderr() -> None:
    engine = raw_idle_engine()
    engine.execute(b"1/0")
    tb = (
        b"Traceback (most recent call last):\r\n"
        b'  File "<stdin>", line 1, in <module>\r\n'
        b"ZeroDivisionError: divide by zero\r\n"
    )
    events = feed(engine, b"OK\x04" + tb + b"\x04>")
    assert events == [
        ExecutionStarted(raw_paste=False),
        OutputReceived(tb, Stream.STDERR),
        ExecutionFinished(),
    ]


def test_raw_paste_with_window_and_grants() -> None:
    engine = raw_idle_engine()
    source = bytes(range(32, 127)) * 5  # 475 bytes, > one window
    engine.execute(source, ExecMode.RAW_PASTE)
    assert engine.data_to_send() == b"\x05A\x01"
    # Device: supported, window increment 128, plus the initial grant.
    events = feed(engine, b"R\x01\x80\x00")
    assert events == []
    first = engine.data_to_send()
    assert first == source[:128]
    engine.receive_data(b"\x01")
    drain(engine)
    assert engine.data_to_send() == source[128:256]
    engine.receive_data(b"\x01\x01")
    drain(engine)
    rest = engine.data_to_send()
    assert rest == source[256:] + b"\x04"
    assert engine.state is State.PASTE_AWAITING_ACK
    events = feed(engine, b"\x01\x04out\x04\x04>")
    assert events == [
        ExecutionStarted(raw_paste=True),
        OutputReceived(b"out", Stream.STDOUT),
        ExecutionFinished(),
    ]
    assert engine.raw_paste_supported is True


def test_raw_paste_refused_falls_back_to_classic() -> None:
    engine = raw_idle_engine()
    engine.execute(b"x = 1", ExecMode.RAW_PASTE)
    engine.data_to_send()
    events = feed(engine, b"R\x00>")
    assert events == [RawPasteRefused(b"R\x00")]
    assert engine.data_to_send() == b"x = 1\x04"
    assert engine.raw_paste_supported is False
    assert feed(engine, b"OK\x04\x04>")[-1] == ExecutionFinished()
    # Never asked again on this connection.
    engine.execute(b"y = 2" * 100, ExecMode.AUTO)
    assert engine.data_to_send() == b"y = 2" * 100 + b"\x04"


def test_raw_paste_on_legacy_firmware() -> None:
    engine = raw_idle_engine()
    engine.execute(b"x = 1", ExecMode.RAW_PASTE)
    engine.data_to_send()
    # A lost \x05 or A gives the same answer as legacy firmware: asked again first.
    assert feed(engine, RAW_BANNER) == []
    assert engine.data_to_send() == b"\x05A\x01"
    events = feed(engine, RAW_BANNER)
    assert events == [RawPasteRefused(RAW_BANNER)]
    assert engine.data_to_send() == b"x = 1\x04"
    assert engine.raw_paste_supported is False


def test_a_lost_byte_of_the_raw_paste_request_does_not_turn_raw_paste_off() -> None:
    """The board got `A\\x01` (the \\x05 was lost) and answered with the banner."""
    engine = raw_idle_engine()
    engine.execute(b"x = 1", ExecMode.RAW_PASTE)
    engine.data_to_send()
    assert feed(engine, RAW_BANNER) == []
    assert engine.data_to_send() == b"\x05A\x01"
    feed(engine, b"R\x01\x80\x00\x01")
    assert engine.data_to_send() == b"x = 1\x04"
    assert engine.raw_paste_supported is True


def test_a_board_that_proved_raw_paste_is_never_taken_for_legacy_firmware() -> None:
    engine = raw_idle_engine()
    engine.execute(b"x = 1", ExecMode.RAW_PASTE)
    engine.data_to_send()
    feed(engine, b"R\x01\x80\x00\x01\x04" + b"OK\x04\x04>"[2:])
    assert engine.state is State.RAW_IDLE
    engine.execute(b"y = 1", ExecMode.RAW_PASTE)
    engine.data_to_send()
    for _ in range(3):
        assert feed(engine, RAW_BANNER) == []
        assert engine.data_to_send() == b"\x05A\x01"
    with pytest.raises(DeviceProtocolError):
        feed(engine, RAW_BANNER)
    assert engine.raw_paste_supported is True
    engine.forget_capabilities()  # a new session: nothing proven
    assert engine.raw_paste_supported is None


def test_device_stops_raw_paste_reception() -> None:
    engine = raw_idle_engine()
    source = b"a = 1\n" * 100
    engine.execute(source, ExecMode.RAW_PASTE)
    engine.data_to_send()
    feed(engine, b"R\x01\x20\x00\x01")
    engine.data_to_send()
    events = feed(engine, b"\x04")
    assert events == [ExecutionStarted(raw_paste=True)]
    assert engine.data_to_send() == b"\x04"  # acknowledged, nothing more sent
    tb = b"Traceback (most recent call last):\r\nMemoryError: memory allocation failed\r\n"
    events = feed(engine, b"\x04" + tb + b"\x04>")
    assert events == [OutputReceived(tb, Stream.STDERR), ExecutionFinished()]


def test_soft_reset_transcript() -> None:
    engine = raw_idle_engine()
    engine.soft_reset()
    assert engine.data_to_send() == b"\x04"
    events = feed(engine, b"OK\r\nMPY: soft reboot\r\n" + RAW_BANNER)
    assert merged(events) == [UnsolicitedOutput(b"\r\nMPY: soft reboot\r\n"), SoftResetCompleted()]
    assert engine.state is State.RAW_IDLE


def test_leave_to_friendly_repl() -> None:
    engine = raw_idle_engine()
    engine.leave_raw_repl()
    assert engine.data_to_send() == b"\x02"
    events = feed(engine, b"\r\n" + FRIENDLY_BANNER)
    assert merged(events)[-1] == FriendlyReplEntered()
    assert engine.state is State.FRIENDLY


def test_interrupt_running_code() -> None:
    engine = raw_idle_engine()
    engine.execute(b"while True: pass")
    engine.data_to_send()
    feed(engine, b"OK")
    assert engine.executing and not engine.awaiting_reply
    engine.send_interrupt()
    assert engine.data_to_send() == b"\x03"
    events = feed(engine, b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04>")
    assert events[-1] == ExecutionFinished()


def test_stdin_passes_through_while_running() -> None:
    engine = raw_idle_engine()
    engine.execute(b"input()")
    engine.data_to_send()
    feed(engine, b"OK")
    engine.send_stdin(b"42\r")
    assert engine.data_to_send() == b"42\r"
    with pytest.raises(ProtocolUsageError):
        engine.send_stdin(b"\x04")


def test_control_bytes_in_source_are_refused() -> None:
    engine = raw_idle_engine()
    for byte in b"\x01\x02\x03\x04\x05":
        with pytest.raises(ProtocolUsageError):
            engine.execute(b"x = 1" + bytes([byte]))
    assert engine.state is State.RAW_IDLE


def test_small_source_goes_classic_large_goes_raw_paste() -> None:
    engine = raw_idle_engine()
    engine.execute(b"x = 1")
    assert engine.state is State.CLASSIC_AWAITING_OK
    engine = raw_idle_engine()
    engine.execute(b"x = 1\n" * 100)
    assert engine.state is State.PASTE_NEGOTIATING


# ---------------------------------------------------------------------- flow control


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=2000),
    window=st.integers(min_value=1, max_value=300),
    data=st.data(),
)
def test_raw_paste_never_exceeds_the_window(size: int, window: int, data: st.DataObject) -> None:
    """The host sends at most what the device granted, whatever the grant timing."""
    engine = raw_idle_engine()
    source = (b"#" * size) or b"x"
    engine.execute(source, ExecMode.RAW_PASTE)
    engine.data_to_send()
    engine.receive_data(b"R\x01" + window.to_bytes(2, "little"))
    drain(engine)
    granted = window
    sent = b""
    while engine.state is State.PASTE_SENDING:
        sent += engine.data_to_send()
        assert len(sent.rstrip(b"\x04")) <= granted
        grants = data.draw(st.integers(min_value=1, max_value=3))
        engine.receive_data(b"\x01" * grants)
        granted += grants * window
        drain(engine)
    sent += engine.data_to_send()
    assert sent == source + b"\x04"


# ---------------------------------------------------------------------- chunking invariance

SESSION = (
    b"boot noise \xff\xfe\r\n>>> \r\n" + RAW_BANNER,  # entering raw
    b"OK\xce\xbb line 1\r\nline\x042\r\n\x04>",  # classic exec with stderr
    b"R\x01\x10\x00\x01\x01\x01\x01\x04out\x04\x04>",  # raw-paste exec
    b"OK\r\nMPY: soft reboot\r\nboot.py says hi\r\n" + RAW_BANNER,  # soft reset
)


def run_session(split: Callable[[bytes], list[int]]) -> list[Event]:
    engine = ReplEngine()
    events: list[Event] = []
    engine.interrupt_program()
    engine.request_raw_repl()
    events += feed(engine, SESSION[0], split(SESSION[0]))
    engine.execute(b"print(1)", ExecMode.CLASSIC)
    events += feed(engine, SESSION[1], split(SESSION[1]))
    engine.execute(b"#" * 50, ExecMode.RAW_PASTE)
    events += feed(engine, SESSION[2], split(SESSION[2]))
    engine.soft_reset()
    events += feed(engine, SESSION[3], split(SESSION[3]))
    return merged(events)


def test_session_whole_equals_byte_by_byte() -> None:
    whole = run_session(lambda data: [])
    byte_by_byte = run_session(lambda data: list(range(1, len(data))))
    assert whole == byte_by_byte
    assert whole[-1] == SoftResetCompleted()
    assert OutputReceived(b"line", Stream.STDERR) not in whole  # framing split stdout/stderr
    assert OutputReceived(b"2\r\n", Stream.STDERR) in whole


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_session_random_splits_give_the_same_events(data: st.DataObject) -> None:
    expected = run_session(lambda d: [])

    def split(chunk: bytes) -> list[int]:
        return data.draw(st.lists(st.integers(min_value=1, max_value=max(1, len(chunk) - 1))))

    assert run_session(split) == expected


# ---------------------------------------------------------------------- unexpected input


def engine_in(state: State) -> ReplEngine:
    """An engine brought to `state` by the normal protocol steps."""
    engine = raw_idle_engine()
    if state is State.CLASSIC_AWAITING_OK:
        engine.execute(b"x", ExecMode.CLASSIC)
    elif state is State.PASTE_NEGOTIATING:
        engine.execute(b"x", ExecMode.RAW_PASTE)
    elif state is State.PASTE_SENDING:
        engine.execute(b"x" * 400, ExecMode.RAW_PASTE)
        feed(engine, b"R\x01\x10\x00")
    elif state is State.PASTE_AWAITING_ACK:
        engine.execute(b"x", ExecMode.RAW_PASTE)
        feed(engine, b"R\x01\x10\x00")
    elif state is State.AWAITING_PROMPT:
        engine.execute(b"x", ExecMode.CLASSIC)
        feed(engine, b"OK\x04\x04")
    elif state is State.SOFT_RESETTING:
        engine.soft_reset()
    assert engine.state is state
    engine.data_to_send()
    return engine


STRICT_STATES = [state for state, rule in STATES.items() if rule.strict]


def test_the_state_table_covers_every_state() -> None:
    assert set(STATES) == set(State)
    for state, rule in STATES.items():
        assert rule.reads, state
        assert rule.leads_to, f"{state} leads nowhere"
        assert set(ALWAYS_ALLOWED) <= rule.commands
        assert callable(getattr(ReplEngine, rule.handler, None)), rule.handler
    # Every state can be reached from UNSYNCED through the table's edges.
    reached, frontier = {State.UNSYNCED}, [State.UNSYNCED]
    while frontier:
        for _, target in STATES[frontier.pop()].leads_to:
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(State)


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_commands_follow_the_state_table(state: State) -> None:
    """Each command is refused exactly where the table does not allow it."""
    commands: dict[str, Callable[[ReplEngine], None]] = {
        "request_raw_repl": lambda engine: engine.request_raw_repl(),
        "execute": lambda engine: engine.execute(b"x"),
        "soft_reset": lambda engine: engine.soft_reset(),
        "leave_raw_repl": lambda engine: engine.leave_raw_repl(),
        "send_interrupt": lambda engine: engine.send_interrupt(),
        "send_stdin": lambda engine: engine.send_stdin(b"x"),
    }
    for name, command in commands.items():
        engine = ReplEngine()
        engine.state = state
        if name in STATES[state].commands:
            command(engine)
        else:
            with pytest.raises(ProtocolUsageError):
                command(engine)


@pytest.mark.parametrize("state", STRICT_STATES, ids=lambda s: s.value)
@pytest.mark.parametrize("garbage", [b"X", b"\xff\x00", b"Traceback", b"\x02"])
def test_unexpected_bytes_raise_a_typed_error(state: State, garbage: bytes) -> None:
    engine = engine_in(state)
    engine.receive_data(garbage)
    with pytest.raises(DeviceProtocolError) as info:
        drain(engine)
    assert info.value.state == state.value
    assert info.value.expected
    assert garbage in info.value.received
    assert engine.state is State.UNSYNCED  # must resync before the next command


def test_bad_raw_paste_answers_are_typed_errors() -> None:
    for answer in (b"R\x02", b"R\x00X", b"R\x01\x00\x00", b"rX"):
        engine = engine_in(State.PASTE_NEGOTIATING)
        engine.receive_data(answer)
        with pytest.raises(DeviceProtocolError):
            drain(engine)


def test_states_where_anything_goes_report_unsolicited_output() -> None:
    engine = raw_idle_engine()
    assert feed(engine, b"timer says hi\r\n") == [UnsolicitedOutput(b"timer says hi\r\n")]


@pytest.mark.parametrize(
    "state", [s for s in State if s is not State.RAW_IDLE], ids=lambda s: s.value
)
def test_commands_in_the_wrong_state_are_usage_errors(state: State) -> None:
    engine = ReplEngine()
    engine.state = state
    for command in (engine.soft_reset, engine.leave_raw_repl, lambda: engine.execute(b"x")):
        with pytest.raises(ProtocolUsageError):
            command()


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(min_size=1, max_size=300).filter(
        lambda t: not any(c in t for c in "\x01\x02\x03\x04\x05")
    ),
    window=st.integers(min_value=4, max_value=64),
)
def test_raw_paste_chunks_do_not_split_characters(text: str, window: int) -> None:
    engine = raw_idle_engine()
    source = text.encode()
    engine.execute(source, ExecMode.RAW_PASTE)
    engine.data_to_send()
    engine.receive_data(b"R\x01" + window.to_bytes(2, "little"))
    drain(engine)
    sent = b""
    while engine.state is State.PASTE_SENDING:
        chunk = engine.data_to_send()
        chunk.decode()  # every write is whole characters
        sent += chunk
        engine.receive_data(b"\x01")
        drain(engine)
    sent += engine.data_to_send()
    assert sent == source + b"\x04"
