"""■ at random moments of a file transfer: the cell ends as interrupted, the
next cell shows only its own output (no protocol bytes of the cut exchange),
and the board holds the old file or the whole new one, never a part or a
temporary. The moments are drawn from a seeded generator: a failure names
the delay, and the same run repeats it."""

from __future__ import annotations

import hashlib
import os
import queue
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..backends import QemuBoards, start_backend
from ..kernel.test_kernel import Kernel

# Per backend: the file's size (a transfer of a few seconds on its link) and
# how many interrupts to try.
SIZES = {
    "fake": (3_000_000, 6),
    "unix": (3_000_000, 6),
    "pico": (100_000, 4),
    "qemu-small": (30_000, 4),
}


@pytest.fixture(params=list(SIZES))
def board(
    request: pytest.FixtureRequest, tmp_path: Path, qemu_boards: QemuBoards
) -> Iterator[tuple[str, str]]:
    with start_backend(request.param, tmp_path, qemu_boards) as backend:
        yield request.param, backend.url


def interrupt_after(kernel: Kernel, cell: str, delay: float) -> dict[str, object]:
    msg_id = kernel.kc.execute(cell, stop_on_error=False)
    time.sleep(delay)
    kernel.km.interrupt_kernel()
    reply = kernel.reply_to(msg_id)["content"]
    while True:  # the rest of that cell's messages
        try:
            kernel.kc.get_iopub_msg(timeout=0.3)
        except queue.Empty:
            return dict(reply)


def test_interrupted_transfers_leave_a_clean_board_and_a_clean_next_cell(
    board: tuple[str, str], tmp_path: Path
) -> None:
    name, url = board
    size, tries = SIZES[name]
    data = os.urandom(size)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    down = tmp_path / "down"
    down.mkdir()
    draw = random.Random(f"interrupts-{name}")
    k = Kernel()
    try:
        assert k.run(f"%connect {url}", timeout=60).status == "ok"
        k.run("import os\ntry:\n os.remove('/big.bin')\nexcept OSError:\n pass")
        for attempt in range(tries):
            delay = round(draw.uniform(0.05, 1.5), 3)
            cell = f"%cp {source} :/big.bin" if attempt % 2 == 0 else f"%cp :/big.bin {down}/"
            reply = interrupt_after(k, cell, delay)
            where = f"attempt {attempt} ({cell.split()[1][:6]}...), interrupted after {delay} s"
            assert reply["status"] in ("ok", "error"), where
            run = k.run("print('clean', 6 * 7)", timeout=60)
            assert run.stream() == "clean 42\n", (where, run.reply, run.stream("stderr"))
            state = k.run(
                "import os\n"
                "names = os.listdir('/')\n"
                "print([n for n in names if 'iotk-tmp' in n], 'big.bin' in names)",
                timeout=60,
            ).stream()
            assert state.startswith("[] "), (where, state)
            if "True" in state:  # the new file, whole, or the old one
                check = k.run(
                    "import hashlib, binascii\n"
                    "h = hashlib.sha256()\n"
                    "f = open('/big.bin', 'rb')\n"
                    "while True:\n b = f.read(512)\n if not b: break\n h.update(b)\n"
                    "f.close()\n"
                    "print(binascii.hexlify(h.digest()).decode())",
                    timeout=120,
                ).stream()
                assert check.strip() == want, where
            copies = list(down.iterdir())  # the host copy: none, or the whole file
            assert all(p.name == "big.bin" and p.read_bytes() == data for p in copies), where
    finally:
        k.stop()
