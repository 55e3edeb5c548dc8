"""Every request gets a reply, whatever fails inside the kernel (issue: hostile
and clumsy input). Cases that once escaped to ipykernel, which logs them and
sends no reply: the cell, and every cell after it, stayed busy for ever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_kernel import Kernel


@pytest.fixture
def fake_kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = Kernel()
    try:
        assert k.run(f"%connect fake://replies-{tmp_path.name}").status == "ok"
        yield k
    finally:
        k.stop()


@pytest.mark.parametrize(
    "cell",
    [
        "%%writefile {tmp}\nprint('into a directory')",
        "%connect ws://[::1",
        "%connect ws://h:99999",
    ],
    ids=["writefile-to-a-directory", "url-with-an-open-bracket", "port-out-of-range"],
)
def test_a_failing_cell_gets_one_error_reply_and_the_next_cell_runs(
    fake_kernel: Kernel, tmp_path: Path, cell: str
) -> None:
    run = fake_kernel.run(cell.format(tmp=tmp_path), timeout=20)
    assert run.status == "error", run.reply
    assert run.reply["evalue"]
    errors = run.of_type("error")
    assert len(errors) == 1 and errors[0]["ename"] == run.reply["ename"]
    assert fake_kernel.run("print('next')").stream().strip() == "next"


def test_completion_and_inspection_always_reply(fake_kernel: Kernel) -> None:
    for code in ("", "%", "%%", "x.", "((((", "\x00", "%connect --", "é." * 500):
        reply = fake_kernel.kc.complete(code, len(code), reply=True, timeout=10)["content"]
        assert reply["status"] in ("ok", "error")
        reply = fake_kernel.kc.inspect(code, len(code), reply=True, timeout=10)["content"]
        assert reply["status"] in ("ok", "error")


def test_connecting_again_to_the_board_in_use(tmp_path: Path) -> None:
    """`%connect URL` twice: the port is the kernel's own, not busy."""
    from fakes.vboard import VirtualSerialBoardProcess

    from ..backends import require_unix_port

    require_unix_port()
    with VirtualSerialBoardProcess(tmp_path / "ttyAgain", board_dir=tmp_path / "files") as board:
        k = Kernel()
        try:
            assert k.run(f"%connect {board.url}").status == "ok"
            k.run("kept = 7")
            again = k.run(f"%connect {board.url}")
            assert again.status == "ok", again.reply
            assert k.run("print(kept)").stream().strip() == "7"  # the same board, still running
        finally:
            k.stop()
