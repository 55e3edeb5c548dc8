"""%mount answers only its own code, within bounds.

A program that prints untrusted data (an MQTT payload, a UART line, a web
page) must never reach the host's files: a line shaped like a request is
output unless it carries the mount's secret. And whatever the board sends,
the host stays bounded (line length, JSON depth, open files, answer size,
non-regular files, host operations' time), ■ ends every wait at once, and
the next cell runs clean. On the fake board and on firmware (the 40 KB QEMU
board: the board side's heap budget).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotkernel import mount as mount_module
from iotkernel.device import Device
from iotkernel.errors import DeviceKeyboardInterrupt, DeviceOSError
from iotkernel.inband import SECRET_LENGTH
from iotkernel.mount import MAX_OPEN_WRITES, MountServer

pytestmark = pytest.mark.backends("fake", "qemu-small", "pico")

ENODEV, EMFILE, ETIMEDOUT = 19, 24, 110


@pytest.fixture
def served(device: Device, tmp_path: Path) -> Iterator[tuple[Device, Path, MountServer]]:
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "important.txt").write_text("keep me")
    (folder / "analysis.py").write_text("print('the real analysis')\n")
    server = MountServer(folder, at="/hostdir")
    server.attach(device)
    try:
        yield device, folder, server
    finally:
        server.close()


def printed(line: str) -> str:
    """Board code printing `line` as a program printing received data would
    (its bytes as they are, with no end of its own)."""
    return f"import sys\nsys.stdout.write({line!r})\n"


def forged(secret: str, *request: object) -> str:
    return "\x18" + secret + json.dumps(list(request)) + "\n"


def assert_clean(device: Device) -> None:
    """The next cell runs, sees no stale bytes, and the mount still works."""
    assert device.exec("print('next', 6 * 7)").strip() == b"next 42"
    assert device.exec("print(open('important.txt').read())").strip() == b"keep me"


def test_printed_requests_change_nothing(served: tuple[Device, Path, MountServer]) -> None:
    device, folder, server = served
    old_secret = server._secret
    device.soft_reset()  # a new secret for the mount that comes back
    assert server._secret != old_secret
    payloads = [
        '\x18["rm", "/important.txt"]\n',  # the old format, no secret
        forged("0" * SECRET_LENGTH, "rm", "/important.txt"),  # a wrong secret
        forged(old_secret, "rm", "/important.txt"),  # replayed from the earlier mount
        forged(old_secret, "wo", "/analysis.py", "w"),
        forged("", "mv", "/analysis.py", "/x.py"),
    ]
    refused_before = server.refused_lines
    for payload in payloads:
        out = device.exec(printed(payload) + "import time\ntime.sleep(0.2)")
        assert out == payload.encode().replace(b"\n", b"\r\n") or out == payload.encode()
    assert server.refused_lines == refused_before + len(payloads)
    assert (folder / "important.txt").read_text() == "keep me"
    assert (folder / "analysis.py").read_text() == "print('the real analysis')\n"
    assert sorted(p.name for p in folder.iterdir()) == ["analysis.py", "important.txt"]
    assert_clean(device)


def test_the_secret_is_never_printed(served: tuple[Device, Path, MountServer]) -> None:
    device, _, server = served
    shown = device.exec(
        "import sys\nprint(sys.modules['__iotk_mount'])\nprint(globals())\n"
        "print(open('important.txt').read())\nprint(__import__('os').listdir('.'))"
    )
    assert server._secret.encode() not in shown
    assert "__iotk_mount" not in device.exec("print(list(globals()))").decode()


def test_an_endless_request_line_is_output(served: tuple[Device, Path, MountServer]) -> None:
    device, _, _ = served
    # A request-shaped start, then 9,000 spaces and no newline: output as it
    # comes (past the line limit), never held or parsed.
    out = device.exec(
        printed('\x18["st", "/important.txt"')
        + "for i in range(150):\n    sys.stdout.write(' ' * 60)"
    )
    assert out.startswith(b'\x18["st"') and len(out) == 9000 + len('\x18["st", "/important.txt"')
    # The same with no end at all, the program still running: its output
    # comes before it ends, and a stop ends it.
    stop = threading.Timer(1.0, device.interrupt)
    stop.start()
    seen = bytearray()
    with pytest.raises(DeviceKeyboardInterrupt):
        device.exec(
            "import sys\nsys.stdout.write('\\x18[')\nwhile True:\n    sys.stdout.write(' ' * 64)",
            on_output=lambda data, stream: seen.extend(data),
            timeout=30,
        )
    stop.cancel()
    assert len(seen) > 4096
    assert_clean(device)


def test_open_files_are_bounded(served: tuple[Device, Path, MountServer]) -> None:
    device, folder, _ = served
    descriptors = len(os.listdir("/proc/self/fd"))
    out = device.exec(
        "files = []\nerr = None\n"
        "for i in range(200):\n"
        "    try:\n"
        "        files.append(open('f%d.txt' % i, 'w'))\n"
        "    except OSError as e:\n"
        "        err = e.args[0]\n"
        "        break\n"
        "print(len(files), err)\n"
        "for f in files:\n    f.close()\nfiles = None"
    )
    assert out.split() == [str(MAX_OPEN_WRITES).encode(), str(EMFILE).encode()]
    assert len(os.listdir("/proc/self/fd")) <= descriptors + 2
    assert len(list(folder.glob("f*.txt"))) == MAX_OPEN_WRITES  # closed: written whole
    assert not list(folder.glob(".*"))  # no temporary left
    assert_clean(device)


def test_a_big_listing_comes_in_pages(served: tuple[Device, Path, MountServer]) -> None:
    device, folder, _ = served
    big = folder / "big"
    big.mkdir()
    names = [f"{i:05}-{'n' * 90}.txt" for i in range(800)]  # ~80 KB of JSON whole
    for name in names:
        (big / name).touch()
    out = device.exec(
        "import os\nn = c = 0\nfor e in os.ilistdir('big'):\n    n += 1\n    c += len(e[0])\n"
        "print(n, c)"
    )
    assert out.split() == [b"800", str(sum(map(len, names))).encode()]
    assert_clean(device)


def test_non_regular_files_are_refused(served: tuple[Device, Path, MountServer]) -> None:
    device, folder, _ = served
    os.mkfifo(folder / "pipe")
    for code in (
        "open('pipe').read()",
        "open('pipe', 'rb').read(10)",
        "open('pipe', 'w').write('x')",
        "open('pipe', 'a').write('x')",
    ):
        started = time.monotonic()
        with pytest.raises(DeviceOSError) as refused:
            device.exec(code, timeout=30)
        assert refused.value.device_errno == ENODEV, code
        assert time.monotonic() - started < 10
    assert (folder / "pipe").exists()
    assert_clean(device)


def test_a_hung_host_operation_has_a_deadline_and_a_stop(
    served: tuple[Device, Path, MountServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    device, _, server = served
    device.exec("import os")  # before: an import looks on the mount too
    # A hung network filesystem, injected: stat never returns.
    release = threading.Event()
    server._ops["st"] = lambda path: release.wait(60)
    monkeypatch.setattr(mount_module, "HOST_OP_DEADLINE", 1.0)
    try:
        with pytest.raises(DeviceOSError) as timed_out:
            device.exec("os.stat('important.txt')", timeout=30)
        assert timed_out.value.device_errno == ETIMEDOUT
        # ■ while the host waits: the wait ends at once, and the cell with it.
        monkeypatch.setattr(mount_module, "HOST_OP_DEADLINE", 60.0)
        stop = threading.Timer(0.5, device.interrupt)
        stop.start()
        started = time.monotonic()
        with pytest.raises(DeviceKeyboardInterrupt):
            device.exec("os.stat('important.txt')", timeout=30)
        assert time.monotonic() - started < 5
    finally:
        release.set()
        del server._ops["st"]
        server._ops["st"] = server._stat
        server._stuck = 0
    assert_clean(device)


def test_a_stop_while_the_board_reads_an_answer_leaves_no_stale_bytes(
    served: tuple[Device, Path, MountServer],
) -> None:
    device, folder, _ = served
    (folder / "data.bin").write_bytes(os.urandom(200_000))
    for delay in (0.05, 0.2, 0.5):
        stop = threading.Timer(delay, device.interrupt)
        stop.start()
        with pytest.raises(DeviceKeyboardInterrupt):
            device.exec(
                "while True:\n    f = open('data.bin', 'rb')\n"
                "    while f.read(512):\n        pass\n    f.close()",
                timeout=30,
            )
        stop.cancel()
        assert_clean(device)
