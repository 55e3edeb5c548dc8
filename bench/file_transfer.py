"""File transfer side by side with mpremote on the same board.

Uploads of a 100 KB and a 1 MB random file (bytes/s for IoT Kernel's verified,
atomic writes and for `mpremote resume fs cp`), a 50-file tree, the same tree
again unchanged (IoT Kernel: `%rsync`'s plan by content hash; mpremote:
`fs cp -r`, which hashes file by file), and the bytes on the wire per payload
byte for random data (counted by a recording transport).

Two boards: the virtual serial board (the unix port behind a pty), and a
QEMU board running real firmware (140 KB heap, a UART taking ~32 KB/s, a
512 KB disk: 100 KB up and down, no 1 MB), skipped without qemu-system-arm.

    python bench/file_transfer.py [--json] [--skip-mpremote] [--only vserial|qemu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fakes.vboard import VirtualSerialBoardProcess
from iotkernel.config import DeviceConfig, Resource
from iotkernel.device import Device
from iotkernel.fs import FileService
from iotkernel.sync import apply_plan, make_plan
from iotkernel.transport import open_transport


class RecordingTransport:
    """Counts the bytes written to the board."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.url = inner.url
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.inner.write(data)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        return bytes(self.inner.read(max_bytes, timeout))

    def close(self) -> None:
        self.inner.close()

    def supports(self, capability: str) -> bool:
        return bool(self.inner.supports(capability))


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


def measure(url: str, port: Path, tmp: Path, sizes: dict[str, int], mp: bool) -> dict[str, Any]:
    """Every figure of one board: IoT Kernel first, then mpremote."""
    result: dict[str, Any] = {}
    blobs = {name: os.urandom(size) for name, size in sizes.items()}
    tree = tmp / "tree"
    if not tree.exists():
        for i in range(50):
            sub = tree / f"pkg{i % 5}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"mod{i}.py").write_bytes(os.urandom(1500))
    config = DeviceConfig("bench", None, (Resource(tree, install_dir="/"),))

    recording = RecordingTransport(open_transport(url))
    with Device(recording) as device:  # type: ignore[arg-type]
        device.connect()
        files = FileService(device)
        for name, data in blobs.items():
            before = recording.written
            start = time.perf_counter()
            files.write(f"/{name}.bin", data)
            elapsed = time.perf_counter() - start
            result[f"upload_{name}"] = {"iotkernel_Bps": round(len(data) / elapsed)}
            result["wire_bytes_per_payload_byte"] = round(
                (recording.written - before) / len(data), 3
            )
            start = time.perf_counter()
            assert files.read(f"/{name}.bin") == data
            elapsed = time.perf_counter() - start
            result[f"download_{name}"] = {"iotkernel_Bps": round(len(data) / elapsed)}
            files.remove(f"/{name}.bin")  # room on a small disk for mpremote's copy
        start = time.perf_counter()
        apply_plan(files, make_plan(files, config))
        result["tree_50_files"] = {"iotkernel_s": round(time.perf_counter() - start, 3)}
        start = time.perf_counter()
        plan = make_plan(files, config)
        assert plan.empty, plan.changes
        result["tree_unchanged"] = {"iotkernel_s": round(time.perf_counter() - start, 4)}
        for entry in files.tree("/"):
            if not entry.is_dir and entry.path.startswith("/pkg"):
                files.remove(entry.path)

    if mp:
        for name, data in blobs.items():
            local = tmp / f"{name}.bin"
            local.write_bytes(data)
            elapsed = mpremote(port, "fs", "cp", str(local), f":mp{name}.bin")
            entry = result[f"upload_{name}"]
            entry["mpremote_Bps"] = round(len(data) / elapsed)
            entry["ratio"] = round(entry["iotkernel_Bps"] / entry["mpremote_Bps"], 1)
            back = tmp / f"{name}.back"
            elapsed = mpremote(port, "fs", "cp", f":mp{name}.bin", str(back))
            assert back.read_bytes() == data
            entry = result[f"download_{name}"]
            entry["mpremote_Bps"] = round(len(data) / elapsed)
            entry["ratio"] = round(entry["iotkernel_Bps"] / entry["mpremote_Bps"], 1)
            mpremote(port, "fs", "rm", f":mp{name}.bin")
        # Both times into the board's root: the second copy finds /tree unchanged.
        first = mpremote(port, "fs", "cp", "-r", str(tree), ":")
        again = mpremote(port, "fs", "cp", "-r", str(tree), ":")
        result["tree_50_files"]["mpremote_s"] = round(first, 3)
        result["tree_unchanged"]["mpremote_s"] = round(again, 3)
        result["tree_unchanged"]["ratio"] = round(
            again / result["tree_unchanged"]["iotkernel_s"], 1
        )
    return result


def vserial_case(tmp: Path, mp: bool) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    board = VirtualSerialBoardProcess(tmp / "ttyBENCH", board_dir=tmp / "board")
    try:
        sizes = {"100KB": 100 * 1024, "1MB": 1024 * 1024}
        return measure(board.url, board.path, tmp, sizes, mp)
    finally:
        board.stop()


def qemu_case(tmp: Path, mp: bool) -> dict[str, Any] | None:
    from fakes.qemu_board import QemuBoard, missing_requirement

    if missing_requirement("heap140k"):
        return None
    tmp.mkdir(parents=True, exist_ok=True)
    with QemuBoard(tmp / "ttyQEMU", firmware="heap140k") as board:
        return measure(board.url, board.path, tmp, {"100KB": 100 * 1024}, mp)


def show(title: str, result: dict[str, Any], targets: bool) -> None:
    print(title)
    for key in sorted(k for k in result if k.startswith(("upload_", "download_"))):
        r = result[key]
        kind, name = key.split("_", 1)
        line = f"  {kind:8} {name:6} IoT Kernel {r['iotkernel_Bps'] / 1024:8.1f} KB/s"
        if "mpremote_Bps" in r:
            line += f"   mpremote {r['mpremote_Bps'] / 1024:6.1f} KB/s   {r['ratio']:5.1f}x"
        print(line + ("   (target: >= 20x)" if targets and kind == "upload" else ""))
    t = result["tree_50_files"]
    print(f"  50-file tree        IoT Kernel {t['iotkernel_s']:7.3f} s", end="")
    print(f"   mpremote {t['mpremote_s']:6.3f} s" if "mpremote_s" in t else "")
    u = result["tree_unchanged"]
    print(f"  same tree unchanged IoT Kernel {u['iotkernel_s']:7.4f} s", end="")
    if "mpremote_s" in u:
        print(f"   mpremote {u['mpremote_s']:6.3f} s   {u['ratio']:5.1f}x", end="")
    print("   (target: <= 0.2 s and >= 20x)" if targets else "")
    print(
        f"  wire bytes per payload byte (random data): "
        f"{result['wire_bytes_per_payload_byte']:.3f}" + ("   (target: <= 1.4)" if targets else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-mpremote", action="store_true")
    parser.add_argument("--only", choices=["vserial", "qemu"])
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.only in (None, "vserial"):
            results["vserial"] = vserial_case(tmp / "vserial", not args.skip_mpremote)
        if args.only in (None, "qemu"):
            qemu = qemu_case(tmp / "qemu", not args.skip_mpremote)
            if qemu is not None:
                results["qemu"] = qemu
    if args.json:
        print(json.dumps(results))
        return 0
    if "vserial" in results:
        show("virtual serial board (same board for both tools)", results["vserial"], True)
    if "qemu" in results:
        show(
            "QEMU board, real firmware, 140 KB heap (same board for both tools)",
            results["qemu"],
            False,
        )
    elif args.only in (None, "qemu"):
        print("qemu case skipped: qemu-system-arm or the firmware images are missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
