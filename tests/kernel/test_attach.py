"""%connect --no-interrupt through the kernel on fake, vserial and qemu-small:
attached to a program already running on the board, the cell follows its
output and stops nothing; the next cell that runs code stops the program."""

from __future__ import annotations

import re

import pytest

from iotkernel.device import Device

from ..backends import Backend
from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "vserial", "pico", "qemu-small")

PROGRAM = "import time\nn = 0\nwhile True:\n    print('tick', n)\n    n += 1\n    time.sleep(0.1)\n"


def leave_running(backend: Backend, k: Kernel) -> None:
    """The board runs PROGRAM with no host attached. A fake board lives in
    the kernel's process and boots, running /main.py, on each connection."""
    if backend.drive is not None:  # saved over USB, as a CircuitPython user does
        (backend.drive / "code.py").write_text(PROGRAM)
        return
    if backend.name == "fake":
        assert k.run(f"%connect {backend.url}").status == "ok"
        assert k.run(f"with open('/main.py', 'w') as f:\n    f.write({PROGRAM!r})").status == "ok"
        return
    device = Device.open(backend.url)
    try:
        device.start(PROGRAM)
    finally:
        device.close()


def test_attach_follows_a_running_program_and_the_next_cell_stops_it(
    backend: Backend,
) -> None:
    k = Kernel()
    try:
        leave_running(backend, k)
        run = k.run(f"%connect {backend.url} --no-interrupt --for 2", timeout=60)
        assert run.status == "ok", run.reply
        out = run.stream()
        assert "without interrupting it" in out and "stopped following" in out
        ticks = [int(n) for n in re.findall(r"tick (\d+)", out)]
        assert len(ticks) >= 3, out
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # one program, running on
        if backend.drive is not None:
            # CircuitPython starts its REPL in a fresh VM: the program's
            # variables are gone, but the cell stops it and runs.
            cell = k.run("print('after', 1 + 1)", timeout=60)
            assert cell.status == "ok" and cell.stream().endswith("after 2\n"), cell.reply
            return
        cell = k.run("print('count', n)", timeout=60)
        assert cell.status == "ok", cell.reply
        count = int(re.findall(r"count (\d+)", cell.stream())[0])
        assert count > ticks[-1]  # it ran on after the following stopped, until this cell
        assert k.run("print(n == n)").stream().strip().endswith("True")  # stopped: n stays
        assert k.run("%connect --for 1 " + backend.url).reply["ename"] == "UsageError"
    finally:
        k.stop()
