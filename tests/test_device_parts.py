"""The pieces Device is built from: the exchange's timers, the reset
strategy's order of means, and the helper client's quoting."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotkernel.device import Device, board_literal
from iotkernel.device.client import helper_expression
from iotkernel.device.exchange import (
    INTERRUPT_ANSWER_TIMEOUT,
    INTERRUPT_FLOOD_TIMEOUT,
    Expired,
    _Timers,
)
from iotkernel.errors import DeviceException, NoResetMeansError
from iotkernel.hardreset import ResetMeans, ResetStrategy
from iotkernel.kernel.session import BoardSession
from iotkernel.util import Deadline

# -- the timers of an exchange (the table in exchange.py's header)


def test_nothing_owed_and_no_deadline_wakes_within_a_quarter_second() -> None:
    timers = _Timers(idle=5.0, deadline=None)
    assert 0 < timers.wait(awaiting=False, interrupt_sent_at=None) <= 0.25


def test_the_idle_timer_counts_only_while_a_reply_is_owed() -> None:
    timers = _Timers(idle=1.0, deadline=None)
    timers.last_progress = time.monotonic() - 60  # silent for a minute, owing nothing
    timers.wait(awaiting=False, interrupt_sent_at=None)  # restarts the idle timer
    assert timers.wait(awaiting=True, interrupt_sent_at=None) > 0
    timers.last_progress = time.monotonic() - 1.5
    with pytest.raises(Expired) as expired:
        timers.wait(awaiting=True, interrupt_sent_at=None)
    assert expired.value.timer == "idle"


def test_a_passed_deadline_runs_out_even_while_bytes_flow() -> None:
    timers = _Timers(idle=5.0, deadline=Deadline.after(-1.0))
    timers.received(b"output")
    with pytest.raises(Expired) as expired:
        timers.wait(awaiting=False, interrupt_sent_at=None)
    assert expired.value.timer == "deadline"


def test_the_interrupt_timer_counts_from_the_later_of_ctrl_c_and_the_last_byte() -> None:
    now = time.monotonic()
    timers = _Timers(idle=5.0, deadline=None)
    timers.last_data = now  # output still arriving: it drains first
    sent_at = now - INTERRUPT_ANSWER_TIMEOUT - 1
    assert timers.wait(awaiting=False, interrupt_sent_at=sent_at) > 0
    timers.last_data = now - INTERRUPT_ANSWER_TIMEOUT - 0.5  # silent since
    with pytest.raises(Expired) as expired:
        timers.wait(awaiting=False, interrupt_sent_at=sent_at)
    assert expired.value.timer == "interrupt"


def test_a_flood_after_ctrl_c_runs_out_at_the_flood_limit() -> None:
    now = time.monotonic()
    timers = _Timers(idle=5.0, deadline=None)
    timers.last_data = now  # still printing...
    with pytest.raises(Expired) as expired:  # ...long after Ctrl-C
        timers.wait(awaiting=False, interrupt_sent_at=now - INTERRUPT_FLOOD_TIMEOUT - 0.1)
    assert expired.value.timer == "interrupt"


# -- the reset strategy


@pytest.fixture
def fake() -> Iterator[Device]:
    device = Device.open(f"fake://strategy-{uuid.uuid4().hex[:8]}")
    yield device
    device.close()


def test_a_board_that_answers_is_reset_by_its_firmware_and_reconnected(fake: Device) -> None:
    strategy = ResetStrategy(fake)
    assert [means.how for means in strategy.means()] == ["its firmware's reset call"]
    fake.exec("survives = 1")
    how, _boot = strategy.reset()
    assert how == "its firmware's reset call"
    with pytest.raises(DeviceException, match="NameError"):
        fake.exec("survives")


def test_a_stuck_board_without_a_switch_or_lines_has_no_means(fake: Device) -> None:
    strategy = ResetStrategy(fake, firmware=False)
    assert strategy.means() == []
    with pytest.raises(NoResetMeansError):
        strategy.reset()
    assert ResetStrategy(fake, rts_only=True).means() == []  # no DTR/RTS lines here


def test_a_switch_comes_first_and_a_failing_means_passes_to_the_next(fake: Device) -> None:
    pressed: list[str] = []
    switch = ResetMeans("the rig's switch", lambda: pressed.append("switch"))
    strategy = ResetStrategy(fake, external=switch)
    assert [means.how for means in strategy.means()] == ["the rig's switch"]
    how, _boot = strategy.reset()
    assert (how, pressed) == ("the rig's switch", ["switch"])
    assert fake.eval("1 + 1") == 2  # reconnected after the switch


def test_the_unix_port_is_reset_by_a_new_process(tmp_path: Path) -> None:
    with Device.open(f"unix://?dir={tmp_path}") as device:
        strategy = ResetStrategy(device)
        assert [means.how for means in strategy.means()] == ["a new process"]
        device.exec("survives = 1")
        assert strategy.reset()[0] == "a new process"
        with pytest.raises(DeviceException, match="NameError"):
            device.exec("survives")


# -- the helper client's quoting


def test_helper_arguments_are_quoted_and_stored_values_are_literals() -> None:
    assert helper_expression("stat", "/a'b\n") == 'stat("/a\'b\\n")'
    assert helper_expression("rows", ["/"], True) == "rows(['/'], True)"
    assert board_literal({"k": [1, b"\x00", None]}) == "{'k': [1, b'\\x00', None]}"
    with pytest.raises(TypeError):
        board_literal({1, 2})


# -- one file service per board session


def test_the_kernel_session_keeps_one_file_service_per_board(tmp_path: Path) -> None:
    session = BoardSession(tmp_path / "notebooks.json", remember=False)
    try:
        first = session.connect(f"fake://session-a-{uuid.uuid4().hex[:8]}")
        files = session.files(first)
        files.write("/a.txt", b"x" * 3000)
        learned = files.profile.chunk
        assert learned is not None and files.profile.hash_kind is not None
        assert session.files(first) is files  # what it learned stays for the next magic
        second = session.connect(f"fake://session-b-{uuid.uuid4().hex[:8]}")
        other = session.files(second)
        assert other is not files and other.profile.chunk is None  # another board: learned anew
    finally:
        session.close()
