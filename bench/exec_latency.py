"""Median per-call time of `exec("x = 1")`.

Two cases:
* unix: IoT Kernel on the unix-port MicroPython under a pty, against the
  floor: a minimal raw-REPL client written here (write source + Ctrl-D, read
  until the closing `\\x04\\x04>`) on the same interpreter.
* serial: IoT Kernel through SerialTransport on a virtual serial board, and
  mpremote's `SerialTransport.exec` on the same board (entered with resume
  semantics: no soft reset), with the ratio.

    python bench/exec_latency.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import sys
import tempfile
import time
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

        def one() -> None:
            os.write(fd, b"x = 1\x04")
            buf = b""
            while not buf.endswith(b"\x04\x04>"):
                select.select([fd], [], [], 5)
                buf += os.read(fd, 4096)

        return time_calls(one, calls)
    finally:
        child.close(force=True)


def serial_case(calls: int) -> dict[str, float]:
    """IoT Kernel and mpremote on one virtual serial board (one after the other)."""
    from mpremote.transport_serial import SerialTransport as MpremoteSerial

    from fakes.vboard import VirtualSerialBoardProcess

    with tempfile.TemporaryDirectory() as tmp:
        board = VirtualSerialBoardProcess(Path(tmp) / "ttyBENCH", board_dir=Path(tmp) / "files")
        try:
            with Device.open(board.url) as device:
                ours = time_calls(lambda: device.exec("x = 1"), calls)
            theirs_calls = max(50, calls // 20)  # ~10 ms each: fewer calls suffice
            mp = MpremoteSerial(str(board.path))
            try:
                mp.enter_raw_repl(soft_reset=False)
                theirs = time_calls(lambda: mp.exec("x = 1"), theirs_calls)
                mp.exit_raw_repl()
            finally:
                mp.close()
        finally:
            board.stop()
    return {
        "iotkernel_ms": round(ours * 1000, 4),
        "mpremote_ms": round(theirs * 1000, 4),
        "speedup": round(theirs / ours, 1),
    }


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
        s = result["serial"]
        print("virtual serial board (same board for both):")
        print(f"  IoT Kernel      {s['iotkernel_ms']:8.3f} ms  (target: <= 1 ms)")
        print(f"  mpremote        {s['mpremote_ms']:8.3f} ms")
        print(f"  IoT Kernel is   {s['speedup']:8.1f}x faster  (target: >= 10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
