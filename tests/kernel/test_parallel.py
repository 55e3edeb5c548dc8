"""%%connect --parallel through the kernel, on fake, unix and virtual serial
boards: each board's output under its header in board order, a summary
table, one board's failure or hang (its own deadline) never holding the
others, ■ stopping them all, and the cells --parallel refuses."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from fakes.vboard import VirtualSerialBoardProcess

from ..backends import IN_CI, require_pico, require_unix_port
from .test_kernel import Kernel

WHO = (
    "import binascii, machine, time\n"
    "me = binascii.hexlify(machine.unique_id()).decode()[-2:]\n"
    "for i in range(3):\n"
    "    print('board', me, 'line', i)\n"
    "    time.sleep(0.05)\n"
)


@pytest.fixture(params=["fake", "unix", "vserial", "pico", "qemu-small"])
def boards(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """URLs of four boards of one kind, uids 01..04 (QEMU boards: two, one
    per core of a CI machine, as each QEMU busy-polls while it runs code)."""
    uids = [f"{i:02x}" for i in range(1, 5)]
    if request.param == "pico":
        from fakes.pico_board import PicoBoard

        require_pico()
        with ExitStack() as stack:
            yield [
                stack.enter_context(
                    PicoBoard(tmp_path / f"ttyP{uid}", uid=bytes(7) + bytes.fromhex(uid))
                ).url
                for uid in uids
            ]
        return
    if request.param == "qemu-small":
        from fakes.qemu_board import QemuBoard, missing_requirement

        missing = missing_requirement("qemu")
        if missing:
            if IN_CI:
                pytest.fail(missing)
            pytest.skip(missing)
        with ExitStack() as stack:
            yield [
                stack.enter_context(
                    QemuBoard(
                        tmp_path / f"ttyQ{uid}",
                        firmware="qemu",
                        uid=bytes(7) + bytes.fromhex(uid),
                    )
                ).url
                for uid in uids[:2]
            ]
        return
    if request.param == "fake":
        yield [f"fake://par-{tmp_path.name}-{uid}?uid={uid}" for uid in uids]
        return
    require_unix_port()
    if request.param == "unix":
        yield [f"unix://?dir={tmp_path / uid}&uid={uid}" for uid in uids]
        return
    started = [
        VirtualSerialBoardProcess(
            tmp_path / f"ttyPAR{uid}", board_dir=tmp_path / uid, uid=bytes.fromhex(uid)
        )
        for uid in uids
    ]
    try:
        yield [board.url for board in started]
    finally:
        for board in started:
            board.stop()


def sections(out: str) -> list[tuple[str, str]]:
    """(header, text) of each `----- header` section, in order."""
    parts = re.split(r"^----- ?(.*)\n", out, flags=re.M)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def test_each_board_under_its_header_in_board_order_then_a_table(
    kernel: Kernel, boards: list[str]
) -> None:
    run = kernel.run(f"%%connect --parallel {' '.join(boards)}\n{WHO}me", timeout=60)
    assert run.status == "ok", run.reply
    found = sections(run.stream())
    assert [header for header, _ in found[: len(boards)]] == boards
    for (_, text), uid in zip(found[: len(boards)], ("01", "02", "03", "04"), strict=False):
        lines = [ln for ln in text.splitlines() if ln.startswith("board ")]
        assert lines == [f"board {uid} line {i}" for i in range(3)]  # not interleaved
        assert f"'{uid}'" in text  # the trailing expression's value
    header, table = found[len(boards)]
    assert header == "" and table.splitlines()[0].split() == ["board", "status", "time"]
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [(row[0], row[1]) for row in rows] == [(url, "ok") for url in boards]


def test_a_failure_and_a_hang_hold_no_other_board(kernel: Kernel, boards: list[str]) -> None:
    body = (
        "import binascii, machine\nme = binascii.hexlify(machine.unique_id()).decode()[-2:]\n"
        "if me == '02':\n    raise ValueError('board 02 fails')\n"
        "if me == '03':\n    while True:\n        pass\n"
        "print('done on', me)"
    )
    expected = ["ok", "ValueError", "timeout", "ok"][: len(boards)]
    failing = len(expected) - expected.count("ok")
    run = kernel.run(f"%%connect --parallel --timeout 3 -q {' '.join(boards)}\n{body}", timeout=60)
    assert run.status == "error"
    assert f"{failing} of {len(boards)} devices failed" in run.reply["evalue"]
    out, err = run.stream(), run.stream("stderr")
    assert "done on 01" in out and ("done on 04" in out) == (len(boards) == 4)
    assert "ValueError: board 02 fails" in err
    assert ("no end within 3 s" in err) == ("timeout" in expected)
    statuses = [line.split()[1] for line in sections(out)[-1][1].splitlines()[1:]]
    assert statuses == expected
    # Every board is free again: the hung one was stopped.
    again = kernel.run(f"%%connect --parallel -q {' '.join(boards)}\nprint('again')", timeout=60)
    assert again.status == "ok", again.reply
    assert again.stream().count("again\n") == len(boards)


def test_the_stop_button_stops_every_board(kernel: Kernel, boards: list[str]) -> None:
    threading.Timer(2.0, kernel.km.interrupt_kernel).start()
    run = kernel.run(
        f"%%connect --parallel -q {' '.join(boards)}\nimport time\ntime.sleep(60)", timeout=40
    )
    assert run.status == "error"
    statuses = [line.split()[1] for line in sections(run.stream())[-1][1].splitlines()[1:]]
    assert statuses == ["stopped"] * len(boards)


def test_what_parallel_refuses_and_a_board_not_found(kernel: Kernel, tmp_path: Path) -> None:
    board = f"fake://par-{tmp_path.name}"
    run = kernel.run(f"%%connect --parallel {board}\n%ls\nprint(1)")
    assert run.reply["ename"] == "UsageError" and "board code only" in run.reply["evalue"]
    run = kernel.run(f"%%connect --timeout 3 {board}\nprint(1)")
    assert run.reply["ename"] == "UsageError"
    run = kernel.run(f"%%connect --parallel -q {board} no-such-board\nprint('ran')")
    assert run.status == "error" and "1 of 2 devices failed" in run.reply["evalue"]
    assert "ran" in run.stream() and "no-such-board" in run.stream("stderr")
