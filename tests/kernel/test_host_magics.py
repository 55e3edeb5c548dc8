"""Host-side magics through the kernel: %store, %%bash and !, %cd, %loglevel,
%gettime, %synctime, %hardreset — with their bad input."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_kernel import Kernel


@pytest.fixture
def fake_kernel(tmp_path: Path) -> Iterator[Kernel]:
    k = Kernel()
    try:
        assert k.run(f"%connect fake://host-{tmp_path.name}").status == "ok"
        yield k
    finally:
        k.stop()


def test_store_round_trip_and_host_visibility(fake_kernel: Kernel) -> None:
    k = fake_kernel
    k.run("readings = [1.5, 2.5, 3.0]\nmeta = {'unit': 'C', 'raw': b'\\x00\\xff'}")
    run = k.run("%store readings meta")
    assert run.status == "ok", run.reply
    host = k.run("%%host\nsum(readings), meta['raw']")
    assert host.of_type("execute_result")[0]["data"]["text/plain"] == "(7.0, b'\\x00\\xff')"
    assert "readings" in k.run("%store").stream()
    k.run("del readings")
    assert k.run("%store -r readings").status == "ok"
    assert k.run("readings[2]").of_type("execute_result")[0]["data"]["text/plain"] == "3.0"
    assert k.run("%store -d meta").status == "ok"
    assert "meta" not in k.run("%store").stream()
    bad = k.run("obj = object()\n%store obj")
    assert bad.status == "error" and "obj" in bad.reply["evalue"]
    assert k.run("%store -r nothing").status == "error"
    assert k.run("%store -z").status == "ok"
    assert "empty" in k.run("%store").stream()


def test_store_persists_across_kernel_restarts(fake_kernel: Kernel) -> None:
    k = fake_kernel
    k.run("level = 42\n%store level")
    k.km.restart_kernel(now=False)
    k.kc.wait_for_ready(timeout=60)
    assert k.run("%%host\nlevel").of_type("execute_result")[0]["data"]["text/plain"] == "42"


def test_bash_streams_reports_status_and_runs_in_cwd(fake_kernel: Kernel, tmp_path: Path) -> None:
    k = fake_kernel
    assert k.run(f"%cd {tmp_path}").stream().strip() == str(tmp_path)
    run = k.run("%%bash\necho one\nsleep 1\necho two")
    assert run.stream() == "one\ntwo\n"
    first = next(
        t
        for m, t in zip(run.messages, run.times, strict=True)
        if "one" in m["content"].get("text", "")
    )
    assert run.replied_at - first > 0.7  # line by line, not at the end
    assert k.run("!pwd").stream().strip() == str(tmp_path)
    failed = k.run("!exit 3")
    assert failed.status == "error" and "exit status 3" in failed.reply["evalue"]
    cell = k.run("print('board')\n!echo host\nprint('board again')")
    assert cell.stream().split() == ["board", "host", "board", "again"]
    bad = k.run("%cd /no/such/dir")
    assert bad.status == "error" and "/no/such/dir" in bad.reply["evalue"]


def test_interrupt_stops_a_shell_command(fake_kernel: Kernel) -> None:
    threading.Timer(0.8, fake_kernel.km.interrupt_kernel).start()
    start = time.monotonic()
    run = fake_kernel.run("%%bash\nsleep 30")
    assert time.monotonic() - start < 5
    assert run.status == "error" and run.reply["ename"] == "KeyboardInterrupt"


def test_loglevel(fake_kernel: Kernel) -> None:
    out = fake_kernel.run("%loglevel iotkernel.device DEBUG").stream()
    assert "iotkernel.device" in out and "DEBUG" in out
    bad = fake_kernel.run("%loglevel iotkernel LOUD")
    assert bad.status == "error" and "LOUD" in bad.reply["evalue"]


def test_board_clock(fake_kernel: Kernel) -> None:
    before = fake_kernel.run("%gettime").stream()
    assert "machine.RTC" in before
    assert time.strftime("%Y-%m-%d", time.gmtime()) not in before  # the fake starts wrong
    assert "UTC" in fake_kernel.run("%synctime").stream()
    assert time.strftime("%Y-%m-%d", time.gmtime()) in fake_kernel.run("%gettime").stream()


def test_hardreset_reboots_and_reconnects(fake_kernel: Kernel) -> None:
    fake_kernel.run("gone = 1")
    run = fake_kernel.run("%hardreset")
    assert run.status == "ok", run.reply
    assert "MicroPython" in run.stream()  # the boot output, echoed
    assert (
        fake_kernel.run("'gone' in globals()").of_type("execute_result")[0]["data"]["text/plain"]
        == "False"
    )


def test_clock_on_a_board_without_rtc(tmp_path: Path) -> None:
    from ..backends import require_unix_port

    require_unix_port()
    k = Kernel()
    try:
        assert k.run("%connect sim").status == "ok"
        assert "no machine.RTC" in k.run("%gettime").stream()
        bad = k.run("%synctime")
        assert bad.status == "error" and "no settable clock" in bad.reply["evalue"]
        assert k.run("%hardreset -q").status == "ok"
    finally:
        k.stop()


SEED_LINE = [
    *("cat", "cd", "connect", "cp", "discover", "gettime", "hardreset", "info", "loglevel"),
    *("lsmagic", "mkdirs", "name", "pip", "rdiff", "register", "rlist", "rm", "rsync"),
    *("softreset", "store", "synctime", "uid", "unregister", "upip"),
]
SEED_CELL = ["bash", "connect", "service", "ssh", "writefile"]


def test_every_magic_of_the_seed_is_listed_and_answers_help(fake_kernel: Kernel) -> None:
    kernel = fake_kernel
    listing = kernel.run("%lsmagic").stream()
    lines = listing.split("\n")
    assert lines[0] == "Line Magic:    -h shows help (e.g. %discover -h)"
    for name in SEED_LINE:
        assert any(line.startswith(f"  %{name} ") for line in lines), name
        assert f"usage: %{name}" in kernel.run(f"%{name} -h").stream(), name
    assert "  !            Pass line to bash shell for evaluation" in lines
    assert "Cell Magic:    -h shows help (e.g. %%connect -h)" in lines
    for name in SEED_CELL:
        assert any(line.startswith(f"  %%{name} ") for line in lines), name
        assert f"usage: %%{name}" in kernel.run(f"%%{name} -h\n").stream(), name


def _devices(tmp_path: Path, entry: str) -> dict[str, str]:
    devices = tmp_path / "devices"
    devices.mkdir(exist_ok=True)
    (devices / "rig.yaml").write_text(entry)
    return {"IOT_DEVICES": str(devices)}


def test_hardreset_uses_the_boards_power_switch(tmp_path: Path) -> None:
    """A board with a `hard-reset` command (here: a virtual serial board's
    power switch on loopback, cut and restored) is reset through it."""
    from fakes.vboard import VirtualSerialBoardProcess

    from ..backends import require_unix_port

    require_unix_port()
    with VirtualSerialBoardProcess(
        tmp_path / "ttyPWR", board_dir=tmp_path / "files", uid=b"\xab\xcd", power_switch=True
    ) as board:
        cycle = (
            "import time, urllib.request as u; "
            f"u.urlopen('{board.power_switch_url}/power/0'); time.sleep(0.2); "
            f"u.urlopen('{board.power_switch_url}/power/1')"
        )
        env = _devices(
            tmp_path, f'bench-board:\n  uid: abcd\n  hard-reset: {sys.executable} -c "{cycle}"\n'
        )
        k = Kernel(env=env)
        try:
            assert k.run(f"%connect {board.url}").status == "ok"
            k.run("survives = 1")
            run = k.run("%hardreset -q")
            assert run.status == "ok", run.reply
            gone = k.run("survives")
            assert gone.status == "error" and gone.reply["ename"] == "NameError"
            assert k.run("print('back')").stream().strip() == "back"
        finally:
            k.stop()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("sh -c 'echo relay stuck >&2; exit 3'", "failed (exit 3): sh -c"),
        ("no-such-reset-tool --now", "hard-reset command not found: no-such-reset-tool --now"),
    ],
)
def test_a_failing_reset_command_is_one_clear_error(
    tmp_path: Path, command: str, message: str
) -> None:
    entry = f"bench-board:\n  uid: abcd\n  hard-reset: {command}\n"
    k = Kernel(env=_devices(tmp_path, entry))
    try:
        assert k.run(f"%connect fake://reset-{tmp_path.name}?uid=abcd").status == "ok"
        run = k.run("%hardreset")
        assert run.status == "error"
        assert run.reply["ename"] == "HostCommandError"
        assert message in run.reply["evalue"]
        if "exit 3" in message:
            assert run.reply["evalue"].endswith(": relay stuck")  # what the command said
        assert k.run("print('still here')").stream().strip() == "still here"
    finally:
        k.stop()


def test_a_board_ignoring_the_stop_button_is_reset_and_reconnected(tmp_path: Path) -> None:
    """The stock QEMU image never sees Ctrl-C while code runs. The stop
    button still ends the cell: within 2 s the kernel says the board does not
    answer, resets it through its device entry's hard-reset command, and
    reconnects; the next cell runs."""
    from fakes.qemu_board import QemuBoard

    from ..backends import require_qemu

    require_qemu("qemu-stock")
    with QemuBoard(tmp_path / "ttyStock", firmware="qemu-stock") as board:
        reset = f"{sys.executable} -m fakes.qemu_board --reset {board.path}"
        # The stock image has no machine.unique_id(): the entry is found by its name.
        k = Kernel(
            env=_devices(tmp_path, f"stock-board:\n  url: {board.url}\n  hard-reset: {reset}\n")
        )
        try:
            assert k.run(f"%connect {board.url}").status == "ok"
            k.run("alive = 1")
            interrupted_at: list[float] = []

            def interrupt_when_running(msg: dict[str, object]) -> None:
                if msg["msg_type"] == "stream" and not interrupted_at:
                    interrupted_at.append(time.monotonic())
                    threading.Thread(target=k.km.interrupt_kernel).start()

            run = k.run(
                "print('running')\nwhile True: pass", timeout=60, on_message=interrupt_when_running
            )
            assert run.status == "error"
            assert run.reply["ename"] == "KeyboardInterrupt"
            said = run.stream("stderr")
            assert "did not stop within 2 s of Ctrl-C" in said
            assert "was reset through its hard-reset command" in said
            assert k.run("alive").reply["ename"] == "NameError"  # it really restarted
            assert k.run("print('back')").stream().strip() == "back"
        finally:
            k.stop()
