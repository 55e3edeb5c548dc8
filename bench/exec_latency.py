"""Median per-call time of `exec("x = 1")`: IoT Kernel vs. the floor.

The floor is a minimal raw-REPL client written here (write source + Ctrl-D,
read until the closing `\\x04\\x04>`), against the same unix-port MicroPython
under a pty. Prints both medians and their ratio; `--json` for machines.

    python bench/exec_latency.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import sys
import time

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    ours = iotkernel_unix(args.calls)
    floor = floor_unix(args.calls)
    result = {
        "unix": {
            "iotkernel_ms": round(ours * 1000, 4),
            "floor_ms": round(floor * 1000, 4),
            "ratio": round(ours / floor, 2),
        }
    }
    if args.json:
        print(json.dumps(result))
    else:
        r = result["unix"]
        print("exec('x = 1') median per call, unix-port MicroPython under a pty")
        print(f"  IoT Kernel      {r['iotkernel_ms']:8.3f} ms")
        print(f"  raw-REPL floor  {r['floor_ms']:8.3f} ms")
        print(f"  ratio           {r['ratio']:8.2f}x  (target: <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
