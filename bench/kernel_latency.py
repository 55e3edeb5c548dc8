"""Median execute round trip (request to reply) of `x = 1` through jupyter_client.

For IoT Kernel on `sim` (the unix-port MicroPython) and for the stock python3
ipykernel on the host, with the ratio (target: IoT Kernel <= 2x python3).
Both kernels talk over IPC sockets, as `iotk tour` starts kernels.

The qemu case: IoT Kernel's round trip with a cell running on a QEMU board
(real firmware, 140 KB heap), beside what the same `x = 1` costs with
mpremote on that board from a terminal (`mpremote connect PORT resume exec`,
one process per command, as a user runs it). Skipped without qemu-system-arm.

    python bench/kernel_latency.py [--calls N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import KernelManager

from iotkernel.kernel.local_transport import kernel_manager_options


def round_trips(kernel_name: str, calls: int, setup: str | None) -> float:
    sockets = tempfile.TemporaryDirectory(prefix="iotk-bench-")
    km = KernelManager(kernel_name=kernel_name, **kernel_manager_options(sockets.name))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        if setup:
            kc.execute_interactive(setup, timeout=60)
        samples = []
        for i in range(calls + 20):
            start = time.perf_counter()
            msg_id = kc.execute("x = 1")
            while True:
                reply = kc.get_shell_msg(timeout=30)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            if i >= 20:  # warm-up
                samples.append(time.perf_counter() - start)
        return statistics.median(samples)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        sockets.cleanup()


def mpremote_exec(port: Path, calls: int) -> float:
    """Median wall time of `mpremote connect PORT resume exec 'x = 1'`."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", str(port), "resume", "exec", "x = 1"],
            check=True,
            capture_output=True,
        )
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def qemu_case(calls: int) -> dict[str, float] | None:
    from fakes.qemu_board import QemuBoard, missing_requirement

    if missing_requirement("qemu-large"):
        return None
    with (
        tempfile.TemporaryDirectory() as tmp,
        QemuBoard(Path(tmp) / "ttyQEMU", firmware="qemu-large") as board,
    ):
        ours = round_trips("iotkernel", calls, f"%connect {board.url}")
        theirs = mpremote_exec(board.path, 15)
    return {
        "iotkernel_qemu_ms": round(ours * 1000, 3),
        "mpremote_cli_ms": round(theirs * 1000, 3),
        "speedup": round(theirs / ours, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ours = round_trips("iotkernel", args.calls, "%connect sim")
    theirs = round_trips("python3", args.calls, None)
    result: dict[str, object] = {
        "iotkernel_sim_ms": round(ours * 1000, 3),
        "python3_ms": round(theirs * 1000, 3),
        "ratio": round(ours / theirs, 2),
    }
    qemu = qemu_case(args.calls)
    if qemu is not None:
        result["qemu"] = qemu
    if args.json:
        print(json.dumps(result))
    else:
        print("execute round trip of `x = 1` (request to reply), median")
        print(f"  IoT Kernel on sim   {result['iotkernel_sim_ms']:7.3f} ms")
        print(f"  python3 ipykernel   {result['python3_ms']:7.3f} ms")
        print(f"  ratio               {result['ratio']:7.2f}x  (target: <= 2x)")
        if qemu is None:
            print("qemu case skipped: qemu-system-arm or the firmware images are missing")
        else:
            print("on a QEMU board (real firmware, 140 KB heap):")
            print(f"  IoT Kernel cell round trip  {qemu['iotkernel_qemu_ms']:9.3f} ms")
            print(f"  mpremote resume exec (CLI)  {qemu['mpremote_cli_ms']:9.3f} ms")
            print(f"  IoT Kernel is               {qemu['speedup']:9.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
