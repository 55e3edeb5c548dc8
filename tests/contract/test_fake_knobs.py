"""Device against firmware variants the fake board can imitate.

Raw-paste supported / refused / legacy, tiny windows, output split into
random chunks, boot noise, a program running at boot, a device that stops
raw-paste reception early.
"""

from __future__ import annotations

import pytest

from fakes.fake_board import FakeBoard
from fakes.fake_transport import FakeTransport
from iotkernel.device import Device
from iotkernel.errors import DeviceException
from iotkernel.protocol import ExecMode

BIG = "".join(f"v{i} = {i}\n" for i in range(300)) + "print(v299)"


def open_board(**kwargs: object) -> tuple[Device, FakeBoard]:
    split = kwargs.pop("split", None)
    board = FakeBoard(**kwargs)  # type: ignore[arg-type]
    device = Device(FakeTransport(board, split_seed=split), idle_timeout=2, deadline=5)  # type: ignore[arg-type]
    device.connect()
    return device, board


@pytest.mark.parametrize("raw_paste", ["supported", "unsupported", "legacy"])
def test_large_source_on_every_firmware(raw_paste: str) -> None:
    device, board = open_board(raw_paste=raw_paste)
    assert device.exec(BIG).strip() == b"299"
    assert device.exec(BIG, mode=ExecMode.RAW_PASTE).strip() == b"299"
    assert board.flow_violations == 0


@pytest.mark.parametrize("window", [1, 7, 128, 4096])
def test_windows_of_any_size_are_respected(window: int) -> None:
    device, board = open_board(window=window)
    assert device.exec(BIG, mode=ExecMode.RAW_PASTE).strip() == b"299"
    assert board.flow_violations == 0


@pytest.mark.parametrize("seed", range(5))
def test_output_split_into_random_chunks(seed: int) -> None:
    device, _ = open_board(split=seed)
    out = device.exec("print('λ€😀' * 40)\nprint(bytes(range(5, 100)))")
    assert out.decode().splitlines()[0] == "λ€😀" * 40
    assert device.eval("[b'\\x00\\xff', 'ok']") == [b"\x00\xff", "ok"]


def test_boot_noise_before_the_raw_banner() -> None:
    noise = b"\x00\xffets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n" * 20
    device, _ = open_board(boot_noise=noise)
    assert device.eval("1 + 1") == 2
    assert noise[:40] in device.take_unsolicited()


def test_connect_interrupts_a_program_running_at_boot() -> None:
    program = "import time\nwhile True:\n    print('tick')\n    time.sleep(0.01)\n"
    device, _ = open_board(main_py=program)
    assert device.eval("'connected'") == "connected"
    assert b"tick" in device.take_unsolicited()


def test_device_stopping_raw_paste_reception_is_an_error_not_a_hang() -> None:
    device, _ = open_board(paste_abort_after=200)
    with pytest.raises(DeviceException) as info:
        device.exec(BIG, mode=ExecMode.RAW_PASTE)
    assert info.value.exc_type == "MemoryError"
    assert device.exec("print('still here')").strip() == b"still here"


def test_soft_reset_keeps_files_and_runs_no_main() -> None:
    device, board = open_board(main_py="print('main ran')")
    device.exec("f = open('/data.txt', 'w'); f.write('kept'); f.close()")
    device.take_unsolicited()
    device.soft_reset()
    assert board.soft_resets == 1
    assert device.eval("open('/data.txt').read()") == "kept"
    assert b"main ran" not in device.take_unsolicited()


def test_stdin_reaches_input() -> None:
    device, _ = open_board()
    chunks: list[bytes] = []
    answered: list[bool] = []

    def on_output(data: bytes, stream: object) -> None:
        chunks.append(data)
        if b"name? " in b"".join(chunks) and not answered:
            answered.append(True)
            device.send_input(b"Ada\r")

    device.exec("n = input('name? ')\nprint('hi', n)", on_output)
    assert b"hi Ada" in b"".join(chunks)
