"""%mount through the kernel on every kind of board (the fake's VFS layer
included): import of the host's current file, reads in blocks, readline,
writes landing whole, paths kept inside the folder, the stop button during
a request, soft reset, a board that comes back, %umount."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..backends import Backend
from .test_file_commands import ok
from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "unix", "vserial", "pico", "qemu-small")


@pytest.fixture
def mounted(backend: Backend, tmp_path: Path) -> Iterator[tuple[Kernel, Path]]:
    folder = tmp_path / "host"
    folder.mkdir()
    k = Kernel()
    try:
        run = k.run(f"%connect {backend.url}", timeout=60)
        assert run.status == "ok", run.reply
        assert "mounted at /remote" in ok(k, f"%mount {folder}")
        yield k, folder
    finally:
        k.stop()


def test_import_and_read_the_hosts_current_files(mounted: tuple[Kernel, Path]) -> None:
    k, folder = mounted
    (folder / "mod_a.py").write_text("VALUE = 1\n")
    assert ok(k, "import mod_a\nprint(mod_a.VALUE)") == "1\n"
    # 20 KB of source, as a driver with its comments is (a small heap holds it)
    source = "".join(f"# {i:4} {'-' * 94}\ndef f{i}(x):\n    return x + {i}\n" for i in range(20))
    source += "".join(f"# {i:4} {'-' * 94}\n" for i in range(180))
    (folder / "mod_b.py").write_text(source + "X = 1999\n")
    assert ok(k, "import mod_b\nprint(mod_b.X)") == "1999\n"
    data = bytes(range(256)) * 40  # every byte value, 10 KB: escapes, CRC
    (folder / "data.bin").write_bytes(data)
    check = (
        "import binascii\nf = open('data.bin', 'rb')\nb = bytearray(700)\nc = 0\nn = 0\n"
        "while True:\n    k = f.readinto(b)\n    if not k:\n        break\n"
        "    c = binascii.crc32(memoryview(b)[:k], c)\n    n += k\n"
        "f.close()\nprint(n, c & 0xffffffff)"
    )
    import zlib

    assert ok(k, check) == f"{len(data)} {zlib.crc32(data)}\n"
    (folder / "lines.txt").write_text("one\ntwo\n\nthree")
    assert (
        ok(k, "print([l for l in open('lines.txt')])") == "['one\\n', 'two\\n', '\\n', 'three']\n"
    )
    assert ok(k, "f = open('lines.txt')\nf.seek(4)\nprint(repr(f.readline()), f.tell())") == (
        "'two\\n' 8\n"
    )
    assert ok(k, "import os\nprint(os.getcwd(), sorted(os.listdir()))").startswith("/remote [")
    assert "/remote" in ok(k, "%info")


def test_writes_land_whole_and_paths_stay_inside(mounted: tuple[Kernel, Path]) -> None:
    k, folder = mounted
    ok(k, "f = open('out.txt', 'w')\nfor i in range(30):\n    f.write('line %d\\n' % i)")
    assert not (folder / "out.txt").exists()  # not yet closed: nothing half-written
    ok(k, "f.close()")
    assert (folder / "out.txt").read_text() == "".join(f"line {i}\n" for i in range(30))
    ok(k, "with open('out.txt', 'a') as f:\n    f.write('more')")
    assert (folder / "out.txt").read_text().endswith("line 29\nmore")
    ok(k, "import os\nos.mkdir('sub')\nos.rename('out.txt', 'sub/moved.txt')")
    assert (folder / "sub" / "moved.txt").exists()
    ok(k, "os.remove('sub/moved.txt')\nos.rmdir('sub')")
    assert list(folder.iterdir()) == []

    outside = folder.parent / "secret.txt"
    outside.write_text("keep out")
    os.symlink(outside, folder / "link.txt")
    for path in ("../secret.txt", "/remote/../../secret.txt", "link.txt"):
        run = k.run(f"open({path!r}).read()")
        assert run.status == "error" and run.reply["ename"] == "OSError", (path, run.reply)
    run = k.run("open('missing.py').read()")
    assert run.reply["evalue"] == "[Errno 2] ENOENT"

    # A program printing a received message shaped like a request: shown as
    # output, and the host's files untouched (the request has no secret).
    (folder / "important.txt").write_text("keep me")
    message = '\x18["rm", "/important.txt"]'
    assert ok(k, f"print({message!r})") == message + "\n"
    assert (folder / "important.txt").read_text() == "keep me"


def test_stop_soft_reset_and_umount(mounted: tuple[Kernel, Path]) -> None:
    k, folder = mounted
    (folder / "big.txt").write_text("x" * 300_000)
    stopped: list[bool] = []

    def stop_when_running(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and not stopped:
            stopped.append(True)
            threading.Thread(target=k.km.interrupt_kernel).start()

    reader = (
        "print('reading')\nb = bytearray(512)\n"
        "while True:\n    f = open('big.txt', 'rb')\n    while f.readinto(b):\n        pass\n"
        "    f.close()"
    )
    run = k.run(reader, on_message=stop_when_running, timeout=60)
    assert run.reply["ename"] == "KeyboardInterrupt", run.reply
    (folder / "after.py").write_text("print('after the stop')\n")
    assert ok(k, "import after") == "after the stop\n"  # the link is intact

    ok(k, "%softreset -q")
    (folder / "again.py").write_text("print('remounted')\n")
    assert ok(k, "import again") == "remounted\n"

    assert "unmounted" in ok(k, "%umount")
    assert ok(k, "import os\nprint(os.getcwd())") == "/\n"
    assert k.run("%umount").reply["ename"] == "UsageError"


def test_mount_errors_are_clear(tmp_path: Path) -> None:
    """A folder that is not there, a bad --at, a board without a VFS to
    mount on: each one readable error, the kernel usable."""
    k = Kernel()
    try:
        assert k.run(f"%connect fake://mount-{tmp_path.name}?vfs=none").status == "ok"
        run = k.run(f"%mount {tmp_path}/nowhere")
        assert run.reply["ename"] == "MountError" and "not a directory" in run.reply["evalue"]
        run = k.run(f"%mount --at /a/b {tmp_path}")
        assert run.reply["ename"] == "UsageError"
        run = k.run(f"%mount {tmp_path}")
        assert run.reply["ename"] == "MountError" and "cannot take a mount" in run.reply["evalue"]
        assert ok(k, "print(6 * 7)") == "42\n"
        assert k.run("%umount").reply["ename"] == "UsageError"
    finally:
        k.stop()


@pytest.mark.backends("vserial", "pico", "qemu-small")
def test_a_board_that_comes_back_is_mounted_again(
    mounted: tuple[Kernel, Path], backend: Backend
) -> None:
    k, folder = mounted
    (folder / "before.py").write_text("print('before')\n")
    assert ok(k, "import before") == "before\n"
    assert backend.board is not None
    backend.board.unplug()  # the board loses power: its mount is gone with it
    assert k.run("print('gone')", timeout=30).status == "error"
    backend.board.plug()
    (folder / "after_replug.py").write_text("print('served again')\n")
    run = k.run("import after_replug", timeout=60)
    assert run.status == "ok", run.reply
    out = run.stream()
    assert "Reconnected to" in out and "mounted at /remote again" in out
    assert out.endswith("served again\n")
    assert "/remote" in ok(k, "%info")
