"""MicroPython's own test suite as a conformance check of the library.

Runs each test of `tests/basics`, `float`, `unicode` and `micropython` from
the same Debian source the firmware is built from, on the emulated Pico
(or a board given by URL), twice: through a bare raw-REPL client and
through the library (`Device.exec`), each on a freshly soft-reset
interpreter, and compares what each saw: stdout, and the traceback.
Prints the match ratio and every mismatch with its first differing line.

    python bench/conformance.py [--dirs basics,float] [--limit N] [--json]

The tests' expected outputs (CPython's, or `.exp` files) are not the point
here: a test the firmware fails fails the same way through both clients.
What would differ is what the library adds or loses between the board and
the caller (a byte, a line ending, a split UTF-8 sequence, a traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from fakes.firmware import source_tree
from fakes.pico_board import PicoBoard
from iotkernel.device import Device
from iotkernel.errors import DeviceException, DeviceTimeoutError, IotKernelError
from iotkernel.protocol import Stream

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rawrepl import RawRepl

DIRS = ("basics", "float", "unicode", "micropython")
TEST_TIMEOUT = 30.0

# Mismatches understood to come from how the code reached the board, not
# from what the library does to output. Still counted, and printed with why.
EXPLAINED = {
    "micropython/meminfo.py": (
        "heap figures: the test's 289 bytes go by raw-paste through the library "
        "(streamed into the compiler) and by classic raw mode through the bare "
        "client (held whole in a buffer while it runs): 272 bytes more in use; "
        "Device.exec(mode=ExecMode.CLASSIC) prints the bare client's figures"
    ),
}


def tests_of(dirs: list[str]) -> list[Path]:
    root = source_tree("micropython") / "tests"
    return [p for d in dirs for p in sorted((root / d).glob("*.py"))]


def through_raw_repl(path: str, tests: list[Path]) -> dict[str, tuple[bytes, bytes]]:
    results = {}
    repl = RawRepl(path, timeout=TEST_TIMEOUT)
    try:
        for test in tests:
            repl.soft_reset()
            try:
                results[test.name] = repl.run(test.read_bytes())
            except TimeoutError:
                results[test.name] = (b"", b"<timeout>")
                repl.close()
                repl = RawRepl(path, timeout=TEST_TIMEOUT)
    finally:
        repl.close()
    return results


def through_library(url: str, tests: list[Path]) -> dict[str, tuple[bytes, bytes]]:
    results = {}
    device = Device.open(url, deadline=TEST_TIMEOUT)
    try:
        for test in tests:
            device.soft_reset()
            # stdout through the callback, so a test that raises keeps the
            # output it printed before (running it again could print more
            # or less: files it made, state it left).
            stdout = bytearray()

            def keep(data: bytes, stream: Stream, out: bytearray = stdout) -> None:
                if stream is Stream.STDOUT:
                    out.extend(data)

            try:
                device.exec(test.read_bytes(), on_output=keep, timeout=TEST_TIMEOUT)
                results[test.name] = (bytes(stdout), b"")
            except DeviceTimeoutError:
                results[test.name] = (b"", b"<timeout>")
                device.close()
                device = Device.open(url, deadline=TEST_TIMEOUT)
            except DeviceException as exc:
                results[test.name] = (bytes(stdout), exc.traceback.encode())
    finally:
        device.close()
    return results


def first_difference(a: bytes, b: bytes) -> str:
    lines_a, lines_b = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(lines_a, lines_b, strict=False)):
        if x != y:
            return f"line {i + 1}: raw {x[:80]!r} / library {y[:80]!r}"
    return f"raw {len(lines_a)} lines / library {len(lines_b)} lines"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a board's URL (default: an emulated Pico)")
    parser.add_argument("--dirs", default=",".join(DIRS))
    parser.add_argument("--limit", type=int, default=0, help="only the first N tests")
    parser.add_argument("--only", default="", help="comma-separated test names, e.g. file1.py")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tests = tests_of(args.dirs.split(","))
    if args.only:
        tests = [t for t in tests if t.name in args.only.split(",")]
    if args.limit:
        tests = tests[: args.limit]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="iotk-conformance-") as tmp:
        board = None
        if args.url:
            url = args.url
            path = url.removeprefix("serial://")
        else:
            board = PicoBoard(Path(tmp) / "ttyPico").start()
            url, path = board.url, str(board.path)
        try:
            raw = through_raw_repl(path, tests)
            library = through_library(url, tests)
        except IotKernelError as exc:
            print(f"conformance: {exc}", file=sys.stderr)
            return 1
        finally:
            if board is not None:
                board.stop()
    mismatches = []
    for test in tests:
        name = test.name
        raw_out, raw_err = raw[name]
        lib_out, lib_err = library[name]
        # The library's traceback text is what the board printed, as text.
        if raw_out != lib_out:
            mismatches.append(
                (f"{test.parent.name}/{name}", "stdout", first_difference(raw_out, lib_out))
            )
        elif raw_err.replace(b"\r\n", b"\n").strip() != lib_err.replace(b"\r\n", b"\n").strip():
            mismatches.append(
                (f"{test.parent.name}/{name}", "traceback", first_difference(raw_err, lib_err))
            )
    matched = len(tests) - len(mismatches)
    ratio = matched / len(tests) if tests else 1.0
    if args.json:
        print(
            json.dumps(
                {"tests": len(tests), "matched": matched, "ratio": ratio, "mismatches": mismatches}
            )
        )
        return 0
    print(f"{len(tests)} tests from {args.dirs}, {time.monotonic() - started:.0f} s")
    print(f"matched: {matched} of {len(tests)} = {100 * ratio:.2f} %  (target >= 99.5 %)")
    for name, what, detail in mismatches:
        print(f"  MISMATCH {name} ({what}): {detail}")
        if name in EXPLAINED:
            print(f"    why: {EXPLAINED[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
