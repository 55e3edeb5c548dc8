"""mpremote's file commands through the kernel, on every kind of board:
%df %tree %sha256sum %touch %rmdir, and %cp's hash-skip and -f."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "unix", "vserial", "pico", "qemu-small")


@pytest.fixture(autouse=True)
def no_cmds_left(board_kernel: Kernel) -> None:
    """The board keeps its files between tests: start without /cmds."""
    board_kernel.run("%rm -r -f :cmds")


def ok(k: Kernel, line: str) -> str:
    run = k.run(line, timeout=60)
    assert run.status == "ok", (line, run.reply)
    return run.stream()


def test_df_tree_sha256sum_touch_rmdir(board_kernel: Kernel, tmp_path: Path) -> None:
    k = board_kernel
    usage = ok(k, "%df").splitlines()
    assert usage[0].split() == ["mount", "size", "used", "free", "use%"]
    mount, size, used, free, _ = usage[1].split()
    assert mount == "/" and int(size) >= int(used) >= 0 and int(free) > 0
    assert "K" in ok(k, "%df -H") or "M" in ok(k, "%df -H") or "G" in ok(k, "%df -H")

    data = b"x" * 1500
    (tmp_path / "a.bin").write_bytes(data)
    ok(k, f"%cp {tmp_path}/a.bin :cmds/sub/a.bin")
    ok(k, "%touch :cmds/empty.txt :cmds/sub/a.bin")  # an existing file keeps its bytes
    ok(k, "%mkdirs :cmds/gone")
    drawn = ok(k, "%tree -s :cmds")
    assert drawn.splitlines() == [
        ":/cmds",
        "├── [     0]  empty.txt",
        "├── gone",
        "└── sub",
        "    └── [  1500]  a.bin",
    ]
    assert "[  1.5K]  a.bin" in ok(k, "%tree -H :cmds")
    assert ok(k, "%sha256sum :cmds/sub/a.bin :cmds/empty.txt").splitlines() == [
        f"{hashlib.sha256(data).hexdigest()}  :/cmds/sub/a.bin",
        f"{hashlib.sha256(b'').hexdigest()}  :/cmds/empty.txt",
    ]
    ok(k, "%rmdir :cmds/gone")
    assert "gone" not in ok(k, "%tree :cmds")
    run = k.run("%rmdir :cmds/sub")
    assert run.status == "error" and "/cmds/sub" in run.reply["evalue"]
    run = k.run("%tree :nowhere")
    assert run.status == "error" and "no such directory" in run.reply["evalue"]


def test_cp_skips_unchanged_files_unless_forced(board_kernel: Kernel, tmp_path: Path) -> None:
    k = board_kernel
    project = tmp_path / "proj"
    (project / "lib").mkdir(parents=True)
    (project / "main.py").write_text("print(1)\n")
    (project / "lib" / "util.py").write_text("X = 2\n")
    assert ok(k, f"%cp -r {project} :cmds").count(" -> :") == 2
    assert ok(k, f"%cp -r {project} :cmds") == ""  # nothing changed: nothing sent
    (project / "lib" / "util.py").write_text("X = 3\n")
    assert ok(k, f"%cp -r {project} :cmds").splitlines() == [
        f"{project}/lib/util.py -> :/cmds/proj/lib/util.py"
    ]
    assert ok(k, f"%cp -r -f {project} :cmds").count(" -> :") == 2

    assert "(unchanged)" in ok(k, f"%cp {project}/main.py :cmds/proj/")
    assert " -> :" in ok(k, f"%cp -f {project}/main.py :cmds/proj/")

    back = tmp_path / "back"
    back.mkdir()
    assert ok(k, f"%cp -r :cmds/proj {back}").count(" -> ") == 2
    assert ok(k, f"%cp -r :cmds/proj {back}") == ""
    assert "(unchanged)" in ok(k, f"%cp :cmds/proj/main.py {back}/proj/main.py")
    (back / "proj" / "main.py").write_text("edited on the host\n")
    ok(k, f"%cp :cmds/proj/main.py {back}/proj/main.py")
    assert (back / "proj" / "main.py").read_text() == "print(1)\n"
