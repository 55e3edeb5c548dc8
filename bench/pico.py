"""The emulated Pico's figures, and the two RP2040 emulators side by side.

For each emulator, on the same `pico` image (fakes.firmware), through the
same raw-REPL client over its pty:
* start: process start to the first `exec` answered;
* exec: median round trip of `exec("x = 1")` in the raw REPL;
* up / down: host-to-board bytes read by `sys.stdin.buffer.read`, and
  board-to-host bytes printed, in KB/s;
* CPU: the emulator's share of a core while idle (no program on the port,
  and with a program holding it open) and while busy (a loop);
* under load: the exec round trip again while the other core is kept busy.

    python bench/pico.py [--compare] [--json]

Without --compare only rp2040js (the emulator the tests use) is measured;
--compare adds rp2040py's own `micropython --pty` runner.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import serial

from fakes.firmware import firmware_path
from fakes.pico_board import PicoBoard

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rawrepl import RawRepl


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float, during: Callable[[], None] | None = None) -> float:
    before = cpu_seconds(pid)
    started = time.monotonic()
    if during is not None:
        during()
    else:
        time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def measure(path: str, pid: int, started: float) -> dict[str, float]:
    repl = RawRepl(path)
    result: dict[str, float] = {}
    repl.exec(b"x = 1")
    result["start_s"] = time.monotonic() - started
    result["cpu_idle_port_open"] = cpu_share(pid, 3.0)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        repl.exec(b"x = 1")
        times.append(time.perf_counter() - t)
    result["exec_ms"] = statistics.median(times) * 1000
    size = 100_000
    t = time.perf_counter()
    reply = repl.exec(b"import sys\nfor i in range(100): sys.stdout.write('x' * 1000)")
    result["down_KBps"] = (len(reply) / 1024) / (time.perf_counter() - t)
    size = 50_000
    t = time.perf_counter()
    repl.port.write(b"import sys\nb = sys.stdin.buffer.read(%d)\nprint(len(b))\x04" % size)
    repl.port.read_until(b"OK")
    # Random bytes, but no Ctrl-C: that would interrupt the reading code.
    repl.port.write(os.urandom(size).replace(b"\x03", b"!"))
    reply = repl.port.read_until(b"\x04>")
    result["up_KBps"] = (size / 1024) / (time.perf_counter() - t)
    if str(size).encode() not in reply:
        raise RuntimeError(f"upload lost bytes: {reply[-60:]!r}")

    def busy() -> None:
        # 3 s of the board's own clock (a slow emulator takes longer).
        repl.port.timeout = 120
        repl.exec(
            b"import time\nt = time.ticks_ms()\n"
            b"while time.ticks_diff(time.ticks_ms(), t) < 3000: pass"
        )

    result["cpu_busy"] = cpu_share(pid, 0, busy)
    with _load_other_core():
        times = []
        for _ in range(30):
            t = time.perf_counter()
            repl.exec(b"x = 1")
            times.append(time.perf_counter() - t)
    result["exec_ms_under_load"] = statistics.median(times) * 1000
    repl.close()
    time.sleep(1.0)
    result["cpu_idle_port_closed"] = cpu_share(pid, 3.0)
    result["rss_MB"] = _rss_mb(pid)
    return result


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _spin(stop: Any) -> None:
    while not stop.is_set():
        pass


@contextlib.contextmanager
def _load_other_core() -> Iterator[None]:
    stop = multiprocessing.Event()
    worker = multiprocessing.Process(target=_spin, args=(stop,))
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(timeout=5)


def rp2040js_case(tmp: Path) -> dict[str, float]:
    started = time.monotonic()
    with PicoBoard(tmp / "ttyPico") as board:
        assert board.pid is not None
        return measure(str(board.path), board.pid, started)


def rp2040py_case(tmp: Path) -> dict[str, float]:
    image = firmware_path("pico").with_name("firmware.uf2")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rp2040py", "micropython", "--image", str(image), "--pty"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        path = None
        deadline = time.monotonic() + 60
        while path is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"PTY REPL listening on (\S+)", line)
            if match:
                path = match.group(1)
        if path is None:
            raise RuntimeError("rp2040py did not open its pty")
        result = measure(path, proc.pid, started)
        with serial.Serial(path, timeout=3) as port:
            port.write(b"\r\x03import machine; print(machine.unique_id())\r")
            time.sleep(1)
            result["unique_id_ff"] = float(b"\\xff\\xff" in port.read(port.in_waiting or 1))
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", action="store_true", help="also measure rp2040py")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="iotk-bench-pico-") as tmp:
        results["rp2040js"] = rp2040js_case(Path(tmp))
        if args.compare:
            results["rp2040py"] = rp2040py_case(Path(tmp))
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    names = list(results)
    print(f"{'':24}" + "".join(f"{n:>14}" for n in names))
    for key in results["rp2040js"]:
        row = "".join(f"{results[n].get(key, float('nan')):>14.3f}" for n in names)
        print(f"{key:24}{row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
