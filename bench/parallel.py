"""`%%connect --parallel` against `%%connect` in turn, through a real kernel.

Boards of each kind run `time.sleep(2)`; the figure is the cell's time from
execute request to reply (connecting to each board included, as a user
sees it), with `--parallel` and sequentially. Target: 4 `qemu` boards in
parallel under 3.5 s; 8 boards take little more than the slowest one.

mpremote has no parallel mode; beside each case, the same body through its
command line (`mpremote connect PORT resume exec ...`) on each board in
turn, and on all at once as a shell's `&` would start them.

    python bench/parallel.py [--json] [--only qemu|qemu-2|vserial] [--skip-mpremote]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

from iotkernel.kernel.local_transport import kernel_manager_options

BODY = "import time\ntime.sleep(2)\nprint('slept')"
# qemu-2: as many QEMU boards as this machine's 2 cores: each QEMU process
# takes a whole core even while its board idles (its REPL polls the UART),
# and a board starved of CPU runs its clock slow (BOARD.md does not say so).
CASES = {"pico": 4, "qemu": 4, "qemu-2": 2, "vserial": 8}


@contextmanager
def boards(case: str, count: int, tmp: Path) -> Iterator[list[str] | None]:
    with ExitStack() as stack:
        urls = []
        board: Any
        for i in range(count):
            if case == "pico":
                from fakes.pico_board import PicoBoard
                from fakes.pico_board import missing_requirement as pico_missing

                if pico_missing():
                    yield None
                    return
                board = PicoBoard(tmp / f"ttyP{i}", uid=bytes([0x50, 0x49, 0, 0, 0, 0, 0, i + 1]))
                stack.enter_context(board)
            elif case.startswith("qemu"):
                from fakes.qemu_board import QemuBoard, missing_requirement

                if missing_requirement("qemu-large"):
                    yield None
                    return
                board = QemuBoard(
                    tmp / f"ttyQ{i}",
                    firmware="qemu-large",
                    uid=bytes([0x51, 0x42, 0, 0, 0, 0, 0, i + 1]),
                )
                stack.enter_context(board)
            else:
                from fakes.vboard import VirtualSerialBoardProcess

                board = stack.enter_context(
                    VirtualSerialBoardProcess(
                        tmp / f"ttyV{i}", board_dir=tmp / f"v{i}", uid=bytes([0x56, i + 1])
                    )
                )
            urls.append(board.url)
        yield urls


def cell_seconds(kc: Any, code: str) -> tuple[float, str]:
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
    return time.perf_counter() - start, reply["content"]["status"]


def measure(urls: list[str]) -> dict[str, Any]:
    sockets = tempfile.TemporaryDirectory(prefix="iotk-bench-")
    km = KernelManager(kernel_name="iotkernel", **kernel_manager_options(sockets.name))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        targets = " ".join(urls)
        # Once untimed: each board's helpers go up on first use, in both modes.
        cell_seconds(kc, f"%%connect --parallel -q {targets}\nx = 1")
        parallel, status_p = cell_seconds(kc, f"%%connect --parallel -q {targets}\n{BODY}")
        sequential, status_s = cell_seconds(kc, f"%%connect -q {targets}\n{BODY}")
        assert status_p == status_s == "ok", (status_p, status_s)
        return {
            "boards": len(urls),
            "parallel_s": round(parallel, 2),
            "sequential_s": round(sequential, 2),
        }
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        sockets.cleanup()


def mpremote_seconds(urls: list[str]) -> dict[str, float]:
    """The body through mpremote's CLI on each board in turn, then all at once."""
    commands = [
        [
            sys.executable,
            "-m",
            "mpremote",
            "connect",
            url.removeprefix("serial://"),
            "resume",
            "exec",
            BODY,
        ]
        for url in urls
    ]
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    processes = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]
    try:
        codes = [process.wait(timeout=120) for process in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    parallel = time.perf_counter() - start
    assert codes == [0] * len(codes), codes
    return {
        "mpremote_parallel_s": round(parallel, 2),
        "mpremote_sequential_s": round(sequential, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=sorted(CASES))
    parser.add_argument("--skip-mpremote", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        for case, count in CASES.items():
            if args.only not in (None, case):
                continue
            tmp = Path(tmp_name) / case
            tmp.mkdir()
            with boards(case, count, tmp) as urls:
                if urls is None:
                    print(f"{case} skipped: qemu-system-arm or the firmware images are missing")
                    continue
                results[case] = measure(urls)
                if not args.skip_mpremote:
                    results[case].update(mpremote_seconds(urls))
            if not args.json:
                r = results[case]
                target = "   (target: < 3.5 s)" if case in ("qemu", "pico") else ""
                print(
                    f"{r['boards']} {case} boards, time.sleep(2): "
                    f"--parallel {r['parallel_s']:.2f} s, in turn {r['sequential_s']:.2f} s{target}"
                )
                if "mpremote_parallel_s" in r:
                    print(
                        f"  mpremote: all at once {r['mpremote_parallel_s']:.2f} s, "
                        f"in turn {r['mpremote_sequential_s']:.2f} s"
                    )
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
