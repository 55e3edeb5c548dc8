"""Compiled sync and auto-sync, measured on real firmware (QEMU) and the unix port.

For each board: a 20 KB library of three modules synced as source and as
`.mpy` (`%rsync` / `%rsync --mpy`: bytes sent, seconds), then each way
imported from the board's flash (timed on the board with `ticks_ms`, and
the heap it took, `gc.mem_free()` before and after, collected), and the
check `%autosync` makes before a cell when nothing changed (one hashed
listing; the compiled plan's sources come from the host's compile cache).

    python bench/compiled_sync.py [--json] [--only qemu|qemu-small|unix]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iotkernel.config import DeviceConfig, Resource
from iotkernel.device import Device
from iotkernel.errors import DeviceException
from iotkernel.files import FileService
from iotkernel.sync import apply_plan, make_plan

CASES = ("qemu", "qemu-small", "unix")
FIRMWARE = {"qemu": "qemu-large", "qemu-small": "qemu"}
MODULES = ("sensors", "filters", "report")


def library(folder: Path) -> Path:
    """Three modules of driver-like code, about 20 KB of source in all."""
    lib = folder / "benchlib"
    lib.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(MODULES):
        parts = [f'"""The {name} part of a benchmark library."""\n\nSCALE = {number + 2}\n']
        for i in range(20):
            parts.append(
                f"\n\nclass Channel{i}:\n"
                f'    """Channel {i}: a reading, smoothed and scaled."""\n\n'
                f"    def __init__(self, pin={i}):\n"
                "        self.pin = pin\n        self.history = []\n\n"
                "    def add(self, value):\n"
                "        # Keep the last eight readings for the moving average.\n"
                "        self.history.append(value * SCALE)\n"
                "        if len(self.history) > 8:\n"
                "            self.history.pop(0)\n"
                "        return sum(self.history) / len(self.history)\n"
            )
        parts.append(f"\n\nREADY = {number + 1}\n")
        (lib / f"{name}.py").write_text("".join(parts))
    return lib


IMPORT_ALL = (
    "import gc, sys, time\n"
    "if '/benchlib' not in sys.path: sys.path.append('/benchlib')\n"
    "for m in {modules!r}:\n    sys.modules.pop(m, None)\n"
    "gc.collect()\nfree = gc.mem_free()\nt = time.ticks_ms()\n"
    "import sensors, filters, report\n"
    "ms = time.ticks_diff(time.ticks_ms(), t)\ngc.collect()\n"
    "print('timed', ms, free - gc.mem_free(), sensors.READY + filters.READY + report.READY)\n"
    "for m in {modules!r}:\n    sys.modules.pop(m, None)\n"
    "del sensors, filters, report\n"
)


def import_cost(device: Device) -> tuple[float, int] | str:
    """(seconds, heap bytes) of importing the library, timed on the board;
    the error when it cannot (a source too large to compile on a small heap)."""
    try:
        out = device.exec(IMPORT_ALL.format(modules=MODULES), timeout=120).decode()
    except DeviceException as exc:
        device.soft_reset()  # a clean heap for what follows
        return str(exc).splitlines()[-1]
    line = next(ln for ln in out.splitlines() if ln.startswith("timed "))
    _, ms, heap, ready = line.split()
    assert ready == "6", out
    return int(ms) / 1000, int(heap)


def timed(action: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def measure(url: str, tmp: Path) -> dict[str, Any]:
    lib = library(tmp)
    source_bytes = sum(p.stat().st_size for p in lib.glob("*.py"))
    config = DeviceConfig("bench", None, (Resource(lib, install_dir="/"),))
    result: dict[str, Any] = {"source_bytes": source_bytes}
    with Device.open(url, deadline=300) as device:
        files = FileService(device)
        files.remove("/benchlib", recursive=True, missing_ok=True)
        for label, compiled in (("source", False), ("mpy", True)):
            plan = make_plan(files, config, compile_all=compiled)
            sent = plan.bytes_to_send()
            seconds, _ = timed(lambda: apply_plan(files, plan))  # noqa: B023
            imported = import_cost(device)
            check_s, again = timed(lambda: make_plan(files, config, compile_all=compiled))  # noqa: B023
            assert again.empty, again.changes
            result[label] = {
                "bytes_sent": sent,
                "sync_s": round(seconds, 3),
                "import": imported
                if isinstance(imported, str)
                else {"s": round(imported[0], 3), "heap_bytes": imported[1]},
                "unchanged_check_s": round(check_s, 4),
            }
        files.remove("/benchlib", recursive=True, missing_ok=True)
    return result


@contextmanager
def board(case: str, tmp: Path) -> Iterator[str | None]:
    if case == "unix":
        yield f"unix://?dir={tmp / 'unix-board'}"
        return
    from fakes.qemu_board import QemuBoard, missing_requirement

    if missing_requirement(FIRMWARE[case]):
        yield None
        return
    with QemuBoard(tmp / "ttyQEMU", firmware=FIRMWARE[case]) as qemu:
        yield qemu.url


def show(case: str, result: dict[str, Any]) -> None:
    print(f"{case}: a library of {result['source_bytes'] / 1024:.1f} KB of source")
    for label in ("source", "mpy"):
        r = result[label]
        imported = r["import"]
        if isinstance(imported, str):
            shown = f"import fails: {imported}"
        else:
            shown = f"import {imported['s']:6.3f} s, heap {imported['heap_bytes'] / 1024:5.1f} KB"
        print(
            f"  {label:6} sent {r['bytes_sent'] / 1024:5.1f} KB in {r['sync_s']:6.3f} s; "
            f"{shown}; autosync check, nothing changed {r['unchanged_check_s'] * 1000:6.1f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=CASES)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        for case in CASES:
            if args.only not in (None, case):
                continue
            tmp = Path(tmp_name) / case
            tmp.mkdir()
            with board(case, tmp) as url:
                if url is None:
                    print(f"{case} skipped: qemu-system-arm or the firmware images are missing")
                    continue
                results[case] = measure(url, tmp)
            if not args.json:
                show(case, results[case])
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
