"""Median per-call time of `exec("x = 1")`.

Two cases:
* unix: IoT Kernel on the unix-port MicroPython under a pty, against the
  floor: a minimal raw-REPL client written here (write source + Ctrl-D, read
  until the closing `\\x04\\x04>`) on the same interpreter.
* serial: IoT Kernel through SerialTransport on a virtual serial board, and
  mpremote's `SerialTransport.exec` on the same board (entered with resume
  semantics: no soft reset), with the ratio.
* network: the same through ser2net's RFC 2217 server on loopback, started
  as labgrid's exporter starts it (ser2net's default character delay), for
  a board of a farm: `rfc2217://127.0.0.1:PORT?ign_set_control` for both
  tools; skipped without ser2net (`apt-get install ser2net`).
* pico: the same on the emulated Raspberry Pi Pico (fakes.pico_board, its
  USB CDC REPL), and the bare raw-REPL loop on its port: the floor any
  client meets there; skipped without Node.js.
* qemu: the same on bare-metal firmware in QEMU (fakes.qemu_board, 140 KB
  heap): a UART that takes ~32 KB/s, the firmware's own REPL; skipped
  without qemu-system-arm.

    python bench/exec_latency.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pexpect

from iotkernel.device import Device
from iotkernel.transport.unixport import _child_tty_setup, micropython_command


def time_calls(call: object, calls: int) -> float:
    """Median seconds per call over `calls` calls (after a warm-up)."""
    assert callable(call)
    for _ in range(20):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def iotkernel_unix(calls: int) -> float:
    with Device.open("unix://") as device:
        return time_calls(lambda: device.exec("x = 1"), calls)


def bare_exec(fd: int) -> None:
    """One `x = 1` in the raw REPL on `fd`: nothing but the bytes the
    protocol needs."""
    os.write(fd, b"x = 1\x04")
    got = b""
    while not got.endswith(b"\x04\x04>"):
        select.select([fd], [], [], 5)
        got += os.read(fd, 4096)


def floor_unix(calls: int) -> float:
    """A bare raw-REPL loop: nothing but the bytes the protocol needs."""
    argv = micropython_command()
    child = pexpect.spawn(argv[0], argv[1:], echo=False, preexec_fn=_child_tty_setup)
    child.delaybeforesend = None
    fd = child.child_fd
    try:
        child.expect(b">>> ")
        os.write(fd, b"\r\x01")
        child.expect(b"raw REPL; CTRL-B to exit\r\n>")
        return time_calls(lambda: bare_exec(fd), calls)
    finally:
        child.close(force=True)


def compare_with_mpremote(
    url: str, port: str, ours_calls: int, theirs_calls: int
) -> dict[str, float]:
    """IoT Kernel on `url`, then mpremote's `SerialTransport.exec` on `port`
    (the same board; entered with resume semantics: no soft reset)."""
    from mpremote.transport_serial import SerialTransport as MpremoteSerial

    with Device.open(url) as device:
        ours = time_calls(lambda: device.exec("x = 1"), ours_calls)
    mp = MpremoteSerial(port)
    try:
        mp.enter_raw_repl(soft_reset=False)
        theirs = time_calls(lambda: mp.exec("x = 1"), theirs_calls)
        mp.exit_raw_repl()
    finally:
        mp.close()
    return {
        "iotkernel_ms": round(ours * 1000, 4),
        "mpremote_ms": round(theirs * 1000, 4),
        "speedup": round(theirs / ours, 1),
    }


def serial_case(calls: int) -> dict[str, float]:
    """IoT Kernel and mpremote on one virtual serial board (one after the other)."""
    from fakes.vboard import VirtualSerialBoardProcess

    with tempfile.TemporaryDirectory() as tmp:
        board = VirtualSerialBoardProcess(Path(tmp) / "ttyBENCH", board_dir=Path(tmp) / "files")
        try:
            # mpremote takes ~10 ms a call: fewer calls suffice.
            return compare_with_mpremote(board.url, str(board.path), calls, max(50, calls // 20))
        finally:
            board.stop()


def _ser2net() -> str | None:
    if shutil.which("ser2net"):
        return shutil.which("ser2net")
    return "/usr/sbin/ser2net" if os.path.exists("/usr/sbin/ser2net") else None


@contextlib.contextmanager
def ser2net_rfc2217(device: Path) -> Iterator[str]:
    """ser2net serving `device` by RFC 2217 on loopback; yields the URL."""
    program = _ser2net()
    assert program is not None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = (
        "connection: &bench\n"
        f"  accepter: telnet(rfc2217,mode=server),tcp,127.0.0.1,{port}\n"
        f"  connector: serialdev(nouucplock=true),{os.path.realpath(device)},115200n81,local\n"
    )
    server = subprocess.Popen(
        [program, "-d", "-n", "-Y", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("ser2net did not start") from None
                time.sleep(0.05)
        yield f"rfc2217://127.0.0.1:{port}?ign_set_control"
    finally:
        server.terminate()
        server.wait(timeout=10)


def network_case(calls: int) -> dict[str, float]:
    """IoT Kernel and mpremote through ser2net (RFC 2217) to one virtual board."""
    from fakes.vboard import VirtualSerialBoardProcess

    with tempfile.TemporaryDirectory() as tmp:
        board = VirtualSerialBoardProcess(Path(tmp) / "ttyNET", board_dir=Path(tmp) / "files")
        try:
            with ser2net_rfc2217(board.path) as url:
                return compare_with_mpremote(url, url, max(100, calls // 10), 30)
        finally:
            board.stop()


def qemu_case(calls: int, firmware: str = "qemu-large") -> dict[str, float] | None:
    """IoT Kernel and mpremote on one QEMU board (real firmware)."""
    from fakes.qemu_board import QemuBoard, missing_requirement

    if missing_requirement(firmware):
        return None
    with (
        tempfile.TemporaryDirectory() as tmp,
        QemuBoard(Path(tmp) / "ttyQEMU", firmware=firmware) as board,
    ):
        return compare_with_mpremote(board.url, str(board.path), max(200, calls // 4), 50)


def pico_case(calls: int) -> dict[str, float] | None:
    """IoT Kernel and mpremote on one emulated Pico (its USB CDC REPL)."""
    from fakes.pico_board import PicoBoard, missing_requirement

    if missing_requirement():
        return None
    with (
        tempfile.TemporaryDirectory() as tmp,
        PicoBoard(Path(tmp) / "ttyPico") as board,
    ):
        figures = compare_with_mpremote(board.url, str(board.path), max(200, calls // 4), 50)
        figures["floor_ms"] = round(floor_serial(board.path, max(200, calls // 4)) * 1000, 4)
        return figures


def floor_serial(port: Path, calls: int) -> float:
    """The bare raw-REPL loop on a serial port: what any client's exec costs
    there (on the emulated Pico, the board compiling and running the line)."""
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        os.write(fd, b"\r\x03\x03\x01")
        buf = b""
        deadline = time.monotonic() + 10
        while not buf.endswith(b"raw REPL; CTRL-B to exit\r\n>") and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                buf += os.read(fd, 4096)
        return time_calls(lambda: bare_exec(fd), calls)
    finally:
        os.write(fd, b"\x02")  # back to the friendly REPL, as found
        os.close(fd)


def print_comparison(
    title: str, figures: dict[str, float], time_target: str = "", speedup_target: str = ""
) -> None:
    print(title)
    print(f"  IoT Kernel      {figures['iotkernel_ms']:8.3f} ms{time_target}")
    print(f"  mpremote        {figures['mpremote_ms']:8.3f} ms")
    print(f"  IoT Kernel is   {figures['speedup']:8.1f}x faster{speedup_target}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-serial", action="store_true", help="only the unix case")
    args = parser.parse_args()
    ours = iotkernel_unix(args.calls)
    floor = floor_unix(args.calls)
    result: dict[str, dict[str, float]] = {
        "unix": {
            "iotkernel_ms": round(ours * 1000, 4),
            "floor_ms": round(floor * 1000, 4),
            "ratio": round(ours / floor, 2),
        }
    }
    if not args.skip_serial:
        result["serial"] = serial_case(args.calls)
        if _ser2net() is not None:
            result["network"] = network_case(args.calls)
        pico = pico_case(args.calls)
        if pico is not None:
            result["pico"] = pico
        qemu = qemu_case(args.calls)
        if qemu is not None:
            result["qemu"] = qemu
    if args.json:
        print(json.dumps(result))
        return 0
    r = result["unix"]
    print("exec('x = 1'), median per call")
    print("unix-port MicroPython under a pty:")
    print(f"  IoT Kernel      {r['iotkernel_ms']:8.3f} ms")
    print(f"  raw-REPL floor  {r['floor_ms']:8.3f} ms")
    print(f"  ratio           {r['ratio']:8.2f}x  (target: <= 2x)")
    if "serial" in result:
        print_comparison(
            "virtual serial board (same board for both):",
            result["serial"],
            "  (target: <= 1 ms)",
            "  (target: >= 10x)",
        )
    if "network" in result:
        print_comparison(
            "the same board through ser2net (RFC 2217 on loopback):", result["network"]
        )
    elif not args.skip_serial:
        print("network case skipped: ser2net is not installed")
    if "pico" in result:
        print_comparison(
            "emulated Pico, its USB CDC REPL (same board for both):",
            result["pico"],
            speedup_target="  (target: >= 10x)",
        )
        floor = result["pico"]["floor_ms"]
        print(f"  raw-REPL floor  {floor:8.3f} ms  (a bare client: at most")
        bound = result["pico"]["mpremote_ms"] / floor
        print(f"                  {bound:8.1f}x mpremote on this board)")
    if "qemu" in result:
        print_comparison("QEMU board, real firmware (140 KB heap):", result["qemu"])
    elif not args.skip_serial:
        print("qemu case skipped: qemu-system-arm or the firmware images are missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
