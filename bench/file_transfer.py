"""File transfer side by side with mpremote, on links with a real byte rate.

Four boards, each measured for both tools in the same run:

* `pico`: the emulated Raspberry Pi Pico (its USB CDC REPL; the link is the
  emulator's USB, about 46 KB/s up);
* `qemu`: real firmware in QEMU (140 KB heap, its UART taking one byte at a
  time, a 512 KB disk);
* `vserial-115200`: the virtual serial board behind a relay paced like a
  115200-baud USB-UART bridge (11.5 KB/s each way), as most users' boards;
* `vserial`: the same board on a bare pty (as fast as the host goes).

For each: reads through `%mount` (100 KB of random bytes read in 1 KB
`readinto`s, a 25 KB text file line by line, and `import` of a 20 KB
module, timed on the board), against
`mpremote mount`; upload and download of 100 KB of random bytes and of a 100 KB
source tree (IoT Kernel's own Python modules), and on the fast pty 1 MB of
random bytes; the tree synced again unchanged (`%rsync`'s plan by
content hash, against `mpremote fs cp -r` copying it again); and 50 small
modules synced first and then unchanged, both ways. Rates as bytes
per second, and as a fraction of the link's byte rate: what a board reading
its stdin with nothing else to do takes from this host (for the paced link,
also its nominal 11520 B/s). The source tree goes up as `%rsync` sends it
(deflated where the board inflates), and with `mpremote fs cp -r`.

    python bench/file_transfer.py [--json] [--skip-mpremote] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fakes.vboard import VirtualSerialBoardProcess
from iotkernel.config import DeviceConfig, Resource
from iotkernel.device import Device
from iotkernel.files import FileService
from iotkernel.mount import MountServer
from iotkernel.sync import apply_plan, make_plan

ROOT = Path(__file__).resolve().parent.parent
CASES = ("pico", "qemu", "vserial-115200", "vserial")
NOMINAL = {"vserial-115200": 11520}


def mpremote(port: Path, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", str(port), "resume", *args],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mpremote {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return time.perf_counter() - start


def fifty_files(tmp: Path) -> Path:
    """50 small modules of a project (1 KB each), for a first sync and an
    unchanged one."""
    tree = tmp / "fifty"
    if not tree.exists():
        tree.mkdir(parents=True)
        for i in range(50):
            body = f"# module {i}\n" + "".join(f"V{j} = {i * 100 + j}\n" for j in range(90))
            (tree / f"m{i:02}.py").write_text(body[:1024])
    return tree


def source_tree(tmp: Path, size: int) -> Path:
    """About `size` bytes of real Python source: IoT Kernel's own modules."""
    tree = tmp / "srctree"
    if tree.exists():
        return tree
    total = 0
    for module in sorted((ROOT / "iotkernel").rglob("*.py")):
        if total >= size:
            break
        target = tree / module.relative_to(ROOT / "iotkernel")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = module.read_bytes()[: size - total]
        target.write_bytes(data)
        total += len(data)
    return tree


def link_rate(device: Device, count: int = 60_000) -> float:
    """Bytes a second the board takes from this host when it only reads."""
    reader = (
        "import sys\n"
        "r = sys.stdin.buffer\n"
        f"n = {count}\n"
        "print('\\x06', end='')\n"
        "while n:\n"
        "    n -= len(r.read(min(n, 2048)))\n"
    )
    payload = bytes(range(32, 127)) * (count // 95 + 1)
    started: list[float] = []

    def on_output(data: bytes, stream: Any) -> None:
        if b"\x06" in data and not started:
            started.append(time.perf_counter())
            for start in range(0, count, 1024):  # each write within the port's timeout
                device.send_input(payload[start : min(count, start + 1024)])

    device.exec(reader, on_output, timeout=120)
    return count / (time.perf_counter() - started[0])


# Timed on the board (ticks_ms): the same code under both tools' mounts.
MOUNT_READ = (
    "import time\nt = time.ticks_ms()\nf = open('random.bin', 'rb')\nb = bytearray(1024)\n"
    "n = 0\nwhile True:\n    k = f.readinto(b)\n    if not k:\n        break\n    n += k\n"
    "f.close()\nprint('timed', n, time.ticks_diff(time.ticks_ms(), t))\n"
)
MOUNT_LINES = (
    "import time\nt = time.ticks_ms()\nn = 0\nfor line in open('lines.txt'):\n    n += len(line)\n"
    "print('timed', n, time.ticks_diff(time.ticks_ms(), t))\n"
)
MOUNT_IMPORT = (
    "import time\nt = time.ticks_ms()\nimport {name}\n"
    "print('timed', {name}.SIZE, time.ticks_diff(time.ticks_ms(), t))\n"
)


def mount_folder(tmp: Path) -> Path:
    """A folder to mount: 100 KB of random bytes, and two 20 KB modules (a
    driver's worth of code and comments), one for each tool."""
    folder = tmp / "mounted"
    folder.mkdir(exist_ok=True)
    (folder / "random.bin").write_bytes(os.urandom(100 * 1024))
    (folder / "lines.txt").write_text(
        "".join(f"{i:5} reading {i * 0.37:8.2f}\n" for i in range(1087))
    )
    code = "".join(f"# {i:4} {'-' * 94}\ndef f{i}(x):\n    return x + {i}\n" for i in range(20))
    code += "".join(f"# {i:4} {'-' * 94}\n" for i in range(180))
    for name in ("mod_iotk", "mod_mp"):
        (folder / f"{name}.py").write_text(code + f"SIZE = {len(code)}\n")
    return folder


def board_timed(output: str) -> tuple[int, float]:
    """(bytes, seconds) from the `timed` line the board printed."""
    line = next(ln for ln in output.splitlines() if ln.startswith("timed "))
    _, count, ms = line.split()
    return int(count), int(ms) / 1000


def measure_mount(device: Device, folder: Path) -> dict[str, Any]:
    server = MountServer(folder)
    server.attach(device)
    try:
        count, seconds = board_timed(device.exec(MOUNT_READ).decode())
        lines, lines_seconds = board_timed(device.exec(MOUNT_LINES).decode())
        _, imported = board_timed(device.exec(MOUNT_IMPORT.format(name="mod_iotk")).decode())
    finally:
        server.detach(device)
    return {
        "mount_read_100KB": {"iotkernel_Bps": round(count / seconds)},
        "mount_lines_25KB": {"iotkernel_Bps": round(lines / lines_seconds)},
        "mount_import_20KB_s": {"iotkernel": round(imported, 3)},
    }


def mpremote_mount(port: Path, folder: Path, code: str) -> tuple[int, float] | None:
    """mpremote's figures, or None where its mount fails (it times out on
    the virtual serial board: reported, not fatal)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpremote",
            "connect",
            str(port),
            "resume",
            "mount",
            str(folder),
            "exec",
            code,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        print(f"mpremote mount failed on {port}: {done.stderr.strip().splitlines()[-1]}")
        return None
    return board_timed(done.stdout)


def timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(url: str, port: Path, tmp: Path, case: str, mp: bool) -> dict[str, Any]:
    sizes = {"100KB": 100 * 1024} | ({"1MB": 1024 * 1024} if case == "vserial" else {})
    blobs = {name: os.urandom(size) for name, size in sizes.items()}
    tree = source_tree(tmp, 100 * 1024)
    tree_bytes = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    config = DeviceConfig("bench", None, (Resource(tree, install_dir="/"),))
    result: dict[str, Any] = {}
    folder = mount_folder(tmp)
    with Device.open(url, deadline=300) as device:
        # The best of three: an emulator's first seconds run slower (its JIT
        # warming up), and a link measured low would flatter every ratio.
        rate = max(link_rate(device) for _ in range(3))
        result["link_Bps"] = round(rate)
        result.update(measure_mount(device, folder))
        files = FileService(device)
        # A session's first write asks once what the board can do (raw path,
        # inflate, its hash): done here, as %connect's first transfer would.
        files.write("/warm-up.bin", os.urandom(5000))
        files.remove("/warm-up.bin")
        for name, data in blobs.items():
            up = timed(lambda: files.write(f"/{name}.bin", data))  # noqa: B023
            got: list[bytes] = []
            down = timed(lambda: got.append(files.read(f"/{name}.bin")))  # noqa: B023
            assert got[0] == data
            result[f"upload_random_{name}"] = {"iotkernel_Bps": round(len(data) / up)}
            result[f"download_random_{name}"] = {"iotkernel_Bps": round(len(data) / down)}
            files.remove(f"/{name}.bin")  # room on a small disk for mpremote's copy
        up = timed(lambda: apply_plan(files, make_plan(files, config)))
        result["upload_source_100KB"] = {"iotkernel_Bps": round(tree_bytes / up)}
        # %rsync again with nothing changed: one listing with hashes, no transfer.
        plans: list[Any] = []
        again = timed(lambda: plans.append(make_plan(files, config)))
        assert plans[0].empty, plans[0].changes
        result["tree_unchanged_s"] = {"iotkernel": round(again, 4)}
        fifty = fifty_files(tmp)
        config50 = DeviceConfig("bench50", None, (Resource(fifty, install_dir="/"),))
        first = timed(lambda: apply_plan(files, make_plan(files, config50)))
        plans50: list[Any] = []
        again50 = timed(lambda: plans50.append(make_plan(files, config50)))
        assert plans50[0].empty, plans50[0].changes
        result["sync_50_files_first_s"] = {"iotkernel": round(first, 3)}
        result["sync_50_files_unchanged_s"] = {"iotkernel": round(again50, 4)}
        files.remove(f"/{fifty.name}", recursive=True)
        back = tmp / "back-iotk"
        down = timed(lambda: files.download_tree(f"/{tree.name}", back))
        result["download_source_100KB"] = {"iotkernel_Bps": round(tree_bytes / down)}
        files.remove(f"/{tree.name}", recursive=True)
    for entry in result.values():
        if isinstance(entry, dict) and "iotkernel_Bps" in entry:
            entry["of_link"] = round(entry["iotkernel_Bps"] / rate, 2)
            if case in NOMINAL:
                entry["of_nominal"] = round(entry["iotkernel_Bps"] / NOMINAL[case], 2)
    if mp:
        for name, data in blobs.items():
            local = tmp / f"{name}.bin"
            local.write_bytes(data)
            up = mpremote(port, "fs", "cp", str(local), f":mp{name}.bin")
            back_file = tmp / f"{name}.back"
            down = mpremote(port, "fs", "cp", f":mp{name}.bin", str(back_file))
            assert back_file.read_bytes() == data
            mpremote(port, "fs", "rm", f":mp{name}.bin")
            compare(result[f"upload_random_{name}"], len(data) / up)
            compare(result[f"download_random_{name}"], len(data) / down)
        up = mpremote(port, "fs", "cp", "-r", str(tree), ":")
        again = mpremote(port, "fs", "cp", "-r", str(tree), ":")  # finds it unchanged
        unchanged = result["tree_unchanged_s"]
        unchanged["mpremote"] = round(again, 3)
        unchanged["ratio"] = round(again / unchanged["iotkernel"], 1)
        fifty = fifty_files(tmp)
        first = mpremote(port, "fs", "cp", "-r", str(fifty), ":")
        again50 = mpremote(port, "fs", "cp", "-r", str(fifty), ":")  # unchanged: hashes
        mpremote(port, "fs", "rm", "-r", f":{fifty.name}")
        for key, took in (("sync_50_files_first_s", first), ("sync_50_files_unchanged_s", again50)):
            result[key]["mpremote"] = round(took, 3)
            result[key]["ratio"] = round(took / result[key]["iotkernel"], 1)
        down = mpremote(port, "fs", "cp", "-r", f":{tree.name}", str(tmp / "back-mp"))
        mpremote(port, "fs", "rm", "-r", f":{tree.name}")
        compare(result["upload_source_100KB"], tree_bytes / up)
        compare(result["download_source_100KB"], tree_bytes / down)
        # Last: a mount mpremote could not finish can leave the board stuck.
        for key, code in (("mount_read_100KB", MOUNT_READ), ("mount_lines_25KB", MOUNT_LINES)):
            if (timed_mp := mpremote_mount(port, folder, code)) is not None:
                compare(result[key], timed_mp[0] / timed_mp[1])
        code = MOUNT_IMPORT.format(name="mod_mp")
        if (timed_mp := mpremote_mount(port, folder, code)) is not None:
            entry = result["mount_import_20KB_s"]
            entry["mpremote"] = round(timed_mp[1], 3)
            entry["ratio"] = round(timed_mp[1] / entry["iotkernel"], 1)
    return result


def compare(entry: dict[str, Any], mpremote_Bps: float) -> None:
    entry["mpremote_Bps"] = round(mpremote_Bps)
    entry["ratio"] = round(entry["iotkernel_Bps"] / mpremote_Bps, 1)


@contextmanager
def board(case: str, tmp: Path) -> Iterator[tuple[str, Path] | None]:
    tmp.mkdir(parents=True, exist_ok=True)
    if case == "pico":
        from fakes.pico_board import PicoBoard
        from fakes.pico_board import missing_requirement as pico_missing

        if pico_missing():
            yield None
            return
        with PicoBoard(tmp / "ttyPico") as pico:
            yield pico.url, pico.path
        return
    if case == "qemu":
        from fakes.qemu_board import QemuBoard, missing_requirement

        if missing_requirement("qemu-large"):
            yield None
            return
        with QemuBoard(tmp / "ttyQEMU", firmware="qemu-large") as qemu:
            yield qemu.url, qemu.path
        return
    baud = 115200 if case == "vserial-115200" else None
    vboard = VirtualSerialBoardProcess(tmp / "ttyBENCH", board_dir=tmp / "board", baud=baud)
    try:
        yield vboard.url, vboard.path
    finally:
        vboard.stop()


TARGETS = {
    ("pico", "upload_random_100KB"): ">= 0.9 of the link",
    ("pico", "download_random_100KB"): ">= 0.9 of the link",
    ("pico", "sync_50_files_unchanged_s"): ">= 10x mpremote",
    ("qemu", "upload_random_100KB"): ">= 0.9 of the link, >= 5x mpremote",
    ("vserial-115200", "upload_random_100KB"): ">= 0.9 of the link, >= 5x mpremote",
    ("qemu", "upload_source_100KB"): ">= 2x the link",
    ("vserial-115200", "upload_source_100KB"): ">= 2x the link",
    ("vserial", "upload_random_1MB"): ">= 30x mpremote",
    ("qemu", "mount_read_100KB"): ">= 5x mpremote",
    ("vserial-115200", "mount_read_100KB"): ">= 5x mpremote",
    ("vserial", "mount_read_100KB"): ">= 5x mpremote",
}


def show(case: str, result: dict[str, Any]) -> None:
    nominal = f", nominal {NOMINAL[case]} B/s" if case in NOMINAL else ""
    print(f"{case}: link {result['link_Bps'] / 1024:.1f} KB/s (a board only reading){nominal}")
    for key, r in result.items():
        labels = {
            "tree_unchanged_s": "source tree unchanged",
            "mount_import_20KB_s": "mount + import 20 KB",
            "sync_50_files_first_s": "sync 50 files, first",
            "sync_50_files_unchanged_s": "sync 50 files, unchanged",
        }
        if key in labels:
            label = labels[key]
            line = f"  {label:24} IoT Kernel {r['iotkernel']:8.4f} s"
            if "mpremote" in r:
                line += f"   mpremote {r['mpremote']:6.3f} s   {r['ratio']:5.1f}x"
            target = TARGETS.get((case, key))
            print(line + (f"   (target: {target})" if target else ""))
            continue
        if not isinstance(r, dict):
            continue
        line = (
            f"  {key:24} IoT Kernel {r['iotkernel_Bps'] / 1024:8.1f} KB/s "
            f"({r['of_link']:4.2f} of the link)"
        )
        if "mpremote_Bps" in r:
            line += f"   mpremote {r['mpremote_Bps'] / 1024:6.1f} KB/s   {r['ratio']:5.1f}x"
        target = TARGETS.get((case, key))
        print(line + (f"   (target: {target})" if target else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-mpremote", action="store_true")
    parser.add_argument("--only", choices=CASES)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        for case in CASES:
            if args.only not in (None, case):
                continue
            with board(case, Path(tmp_name) / case) as found:
                if found is None:
                    print(f"{case} skipped: qemu-system-arm or the firmware images are missing")
                    continue
                url, port = found
                results[case] = measure(
                    url, port, Path(tmp_name) / case, case, not args.skip_mpremote
                )
    if args.json:
        print(json.dumps(results))
        return 0
    for case, result in results.items():
        show(case, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
