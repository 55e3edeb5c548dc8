"""%run: a host file runs on the board without being copied, on every kind
of board: arguments, streamed output, tracebacks naming the file's lines,
the stop button, and -n (started, stopped by the board's next use)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .test_file_commands import ok
from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "unix", "vserial", "pico", "qemu-small")


def test_run_a_host_file(board_kernel: Kernel, tmp_path: Path) -> None:
    k = board_kernel
    program = tmp_path / "prog.py"
    program.write_text(
        "import sys\n"
        "print('args', sys.argv[1:])\n"
        "def fail(n):\n"
        "    if n > 1:\n"
        "        raise ValueError('bad %d' % n)\n"
        "ran = True\n"
        "fail(len(sys.argv))\n"
    )
    assert ok(k, f"%run {program}") == "args []\n"
    assert ok(k, "print(ran)") == "True\n"  # it ran among the cell's globals
    run = k.run(f"%run {program} one 'two words'")
    assert run.stream() == "args ['one', 'two words']\n"
    assert run.reply["ename"] == "ValueError" and run.reply["evalue"] == "bad 3"
    traceback = "\n".join(run.reply["traceback"])
    assert f'File "{program}", line 7' in traceback and f'File "{program}", line 5' in traceback
    assert not ok(k, "import os\nprint(os.listdir('/'))").count("prog.py")  # nothing copied

    run = k.run(f"%run {tmp_path}/missing.py")
    assert run.status == "error" and "missing.py" in run.reply["evalue"]


def test_the_stop_button_stops_a_running_file(board_kernel: Kernel, tmp_path: Path) -> None:
    k = board_kernel
    program = tmp_path / "loop.py"
    program.write_text("print('looping')\nwhile True:\n    pass\n")
    stopped: list[bool] = []

    def stop_when_running(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and not stopped:
            stopped.append(True)
            threading.Thread(target=k.km.interrupt_kernel).start()

    run = k.run(f"%run {program}", on_message=stop_when_running)
    assert run.reply["ename"] == "KeyboardInterrupt", run.reply
    assert ok(k, "print(6 * 7)") == "42\n"


def test_run_no_follow_returns_and_the_next_cell_stops_it(
    board_kernel: Kernel, tmp_path: Path
) -> None:
    k = board_kernel
    program = tmp_path / "server.py"
    program.write_text("import time\nprint('serving')\nwhile True:\n    time.sleep(0.01)\n")
    assert "started" in ok(k, f"%run -n {program}")
    # `%run -n` returns once the board has the code, before it ran a line;
    # give the program time to print before the next cell stops it (an
    # emulated Pico compiles it in tens of milliseconds).
    time.sleep(1.0)
    run = k.run("print(6 * 7)")
    assert run.status == "ok", run.reply
    assert "serving" in run.stream() and run.stream().endswith("42\n")
    assert "stopping the program" in run.stream("stderr")
    assert ok(k, "print(7 * 6)") == "42\n"  # stopped once, then the board is as before
