"""The `iotk` command: run code on a board from a shell, and the guided tour.

Owns argument parsing and printing for the command line; the work is done by
`Device` (and, for the tour, by the notebook machinery of the kernel).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .device import Device
from .errors import DeviceException, IotKernelError
from .protocol import Stream


def _print_output(data: bytes, stream: Stream) -> None:
    target = sys.stdout if stream is Stream.STDOUT else sys.stderr
    target.buffer.write(data)
    target.flush()


def cmd_exec(args: argparse.Namespace) -> int:
    with Device.open(args.url) as device:
        try:
            device.exec(args.code, _print_output, timeout=args.timeout)
        except DeviceException:
            return 1  # the traceback was already printed on stderr
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with Device.open(args.url) as device:
        ident = device.identity()
        for field in ("uid", "platform", "implementation", "version", "machine"):
            print(f"{field:15} {getattr(ident, field)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="iotk", description="IoT Kernel command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p_exec = sub.add_parser("exec", help="run code on a board, streaming its output")
    p_exec.add_argument("url", help="device URL, e.g. unix://, serial:///dev/ttyACM0, ws://host")
    p_exec.add_argument("code", help="MicroPython source to run")
    p_exec.add_argument("--timeout", type=float, default=None, help="stop the code after SECONDS")
    p_exec.set_defaults(func=cmd_exec)
    p_info = sub.add_parser("info", help="print a board's identity")
    p_info.add_argument("url")
    p_info.set_defaults(func=cmd_info)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except IotKernelError as exc:
        print(f"iotk: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
