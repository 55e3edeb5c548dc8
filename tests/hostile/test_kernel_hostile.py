"""The kernel, driven through jupyter_client, against hostile and clumsy input:
malformed requests, a rogue board, odd magic arguments, a background shell
job. Every request gets its reply within a bound, bad input is one typed
error, and the next cell runs."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..kernel.test_kernel import Kernel
from . import rogue


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = Kernel()
    try:
        yield k
    finally:
        k.stop()


@pytest.fixture
def fake_url(tmp_path: Path) -> str:
    return f"fake://hostile-{tmp_path.name}"


@pytest.fixture
def on_fake(kernel: Kernel, fake_url: str) -> Kernel:
    """The shared kernel, connected to a fresh fake board of this test."""
    assert kernel.run(f"%connect {fake_url}").status == "ok"
    return kernel


def request(kernel: Kernel, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """Send a raw shell request; its reply's content."""
    msg = kernel.kc.session.msg(msg_type, content)
    kernel.kc.shell_channel.send(msg)
    reply = kernel.reply_to(msg["header"]["msg_id"])
    assert reply["msg_type"] == msg_type.replace("_request", "_reply")
    return dict(reply["content"])


def assert_next_cell_runs(kernel: Kernel) -> None:
    assert kernel.run("print('next', 6 * 7)").stream().strip() == "next 42"


@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("is_complete_request", {}),
        ("execute_request", {"silent": False}),
        ("complete_request", {"code": 5}),
        ("inspect_request", {"code": "x", "cursor_pos": "end"}),
        ("history_request", {"hist_access_type": "range", "session": "x"}),
    ],
    ids=[
        "is-complete-without-code",
        "execute-without-code",
        "complete-of-a-number",
        "inspect-at-text",
        "history-of-nonsense",
    ],
)
def test_a_malformed_request_gets_a_reply(
    on_fake: Kernel, msg_type: str, content: dict[str, Any]
) -> None:
    reply = request(on_fake, msg_type, content)
    assert reply["status"] in ("ok", "error")
    assert_next_cell_runs(on_fake)


def rogue_cell(source: str) -> str:
    """A cell that makes the connected board a rogue one (see rogue.py)."""
    return f"exec({source!r}, __import__('sys').modules['__iotk'])"


@pytest.mark.parametrize(
    ("hostile", "cell", "ename"),
    [
        (rogue.listing("['/a' * 600, False, 1, 0, None]"), "%rlist /", "MalformedReplyError"),
        (rogue.listing("['/x', False, 'big', 0, None]"), "%rlist /", "MalformedReplyError"),
        (rogue.deep_reply(200_000), "%store kept", "HelperReplyError"),
    ],
    ids=["long-names", "size-is-text", "deep-json"],
)
def test_a_rogue_board_reply_is_one_typed_error(
    on_fake: Kernel, fake_url: str, hostile: str, cell: str, ename: str
) -> None:
    assert on_fake.run("kept = 1\n%rlist /").status == "ok"  # the helpers are in place
    assert on_fake.run(rogue_cell(hostile)).status == "ok"
    run = on_fake.run(cell, timeout=30)
    assert run.status == "error", run.reply
    assert run.reply["ename"] == ename, run.reply
    assert len(run.of_type("error")) == 1
    on_fake.run("%softreset")  # the real helpers again
    assert_next_cell_runs(on_fake)


def test_a_board_with_a_rogue_identity_is_not_connected(kernel: Kernel, tmp_path: Path) -> None:
    """A board keeps its interpreter across connections (a virtual serial
    board here): one whose identity is hostile is refused at %connect."""
    from fakes.vboard import VirtualSerialBoardProcess

    from ..backends import require_unix_port

    require_unix_port()
    with VirtualSerialBoardProcess(tmp_path / "ttyRogue", board_dir=tmp_path / "files") as board:
        assert kernel.run(f"%connect {board.url}").status == "ok"
        assert kernel.run(rogue_cell(rogue.IDENT_UID_LIST)).status == "ok"
        run = kernel.run(f"%connect {board.url}", timeout=30)
        assert run.reply.get("ename") == "MalformedReplyError", run.reply
        assert "uid" in run.reply["evalue"]
        assert kernel.run("%lsmagic").status == "ok"


def test_a_rogue_clock_and_rogue_names(on_fake: Kernel) -> None:
    cell = (
        "import machine\n"
        "class RTC:\n    def datetime(self): return ('y', 1)\n"
        "machine.RTC = RTC\n"
        "globals()['evil\\x1b[2Jname'] = 1\n"
        "ordinary_name = 2"
    )
    assert on_fake.run(cell).status == "ok"
    run = on_fake.run("%gettime")
    assert run.reply["ename"] == "MalformedReplyError", run.reply
    reply = on_fake.kc.complete("ordinary", 8, reply=True, timeout=10)["content"]
    assert reply["matches"] == ["ordinary_name"]
    reply = on_fake.kc.complete("evil", 4, reply=True, timeout=10)["content"]
    assert reply["matches"] == []


def test_a_failed_machine_reset_is_not_reported_as_a_reset(on_fake: Kernel) -> None:
    assert on_fake.run("import machine\nmachine.reset = lambda: 1 / 0").status == "ok"
    run = on_fake.run("%hardreset", timeout=30)
    assert run.status == "error", run.stream()
    assert run.reply["ename"] == "ResetFailedError"
    assert "ZeroDivisionError" in run.reply["evalue"]
    assert "Reset" not in run.stream()
    assert_next_cell_runs(on_fake)


def test_wait_of_not_a_number_is_refused(on_fake: Kernel) -> None:
    for value in ("nan", "inf", "-1", "soon"):
        run = on_fake.run(f"%connect nowhere --wait {value}", timeout=10)
        assert run.reply["ename"] == "UsageError", run.reply


def test_register_never_echoes_a_password(on_fake: Kernel) -> None:
    run = on_fake.run("%register ws://admin:hunter2@127.0.0.1:9", timeout=20)
    assert run.status == "error"
    shown = run.reply["evalue"] + "".join(run.reply["traceback"]) + run.stream("stderr")
    assert "hunter2" not in shown and "***@127.0.0.1:9" in shown


def test_names_a_write_must_not_use(on_fake: Kernel, tmp_path: Path) -> None:
    source = tmp_path / "payload.py"
    source.write_text("evil = 1\n")
    assert on_fake.run(f"%cp {source} :/target.py").status == "ok"
    for name, problem in (
        ("/target.py\x00.evil", "NUL"),
        ("/lib\\x.py", "backslash"),
        ("/target.py.iotk-tmp", "kept for transfers"),
    ):
        run = on_fake.run(f"%cp {source} ':{name}'")
        assert run.reply.get("ename") == "UnsafePathError", (name, run.reply)
        assert problem in run.reply["evalue"]
    listing = on_fake.run("import os\nprint(sorted(os.listdir('/')))").stream()
    assert "iotk-tmp" not in listing and "evil" not in listing


def test_a_background_shell_job_does_not_hold_the_cell(kernel: Kernel, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    started = time.monotonic()
    run = kernel.run(f"!echo started; sleep 40 & echo $! > {pid_file}", timeout=20)
    took = time.monotonic() - started
    try:
        assert run.status == "ok" and run.stream().strip() == "started"
        assert took < 10, f"the cell waited {took:.1f} s for a background job"
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture
def cut_short_index() -> Iterator[str]:
    """An index on loopback whose every reply promises 1000 bytes and sends 10."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"hashes"')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_an_index_reply_cut_short_is_a_package_error(on_fake: Kernel, cut_short_index: str) -> None:
    run = on_fake.run(f"%mip install greet --index {cut_short_index}", timeout=30)
    assert run.reply.get("ename") == "PackageError", run.reply
    assert "broken HTTP reply" in run.reply["evalue"]
    assert_next_cell_runs(on_fake)


def test_a_download_to_where_the_host_cannot_write_is_a_file_error(
    on_fake: Kernel, tmp_path: Path
) -> None:
    assert on_fake.run("open('/kept.txt', 'w').write('kept')").status == "ok"
    for destination in ("/proc/iotk-cannot-be-here", str(tmp_path / "no-such-dir" / "x" / "\x00")):
        run = on_fake.run(f"%cp :/kept.txt '{destination}'")
        assert run.reply.get("ename") in ("FileError", "UsageError"), run.reply
    assert not list(tmp_path.rglob("*.iotk-tmp"))
    assert_next_cell_runs(on_fake)


def test_run_and_cp_read_only_regular_files_at_once(on_fake: Kernel, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    big = tmp_path / "big.py"
    with big.open("wb") as file:
        file.truncate(2 * 1024 * 1024)  # sparse: over %run's 1 MB
    for magic, target, says in (
        ("%run", fifo, "not a regular file"),
        ("%run", "/dev/zero", "not a regular file"),
        ("%run", tmp_path, "is a directory"),
        ("%run", big, "larger than 1.0MB"),
        ("%cp", fifo, "not a regular file"),
    ):
        started = time.monotonic()
        cell = f"{magic} {target}" + (" :/x.py" if magic == "%cp" else "")
        run = on_fake.run(cell, timeout=10)
        assert run.reply.get("ename") == "FileError", (cell, run.reply)
        assert says in run.reply["evalue"], (cell, run.reply)
        assert time.monotonic() - started < 5
    assert_next_cell_runs(on_fake)
