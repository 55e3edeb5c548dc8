"""%mount's library layer on every backend: a MountServer attached to a
Device serves the board's imports, reads and writes from a host folder,
keeps paths inside it, comes back after a soft reset, and detaches."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from iotkernel.device import Device
from iotkernel.errors import DeviceOSError
from iotkernel.mount import MountServer

# hil/ re-runs this suite on the board under test (--leave-to-hil).
pytestmark = pytest.mark.hil_suite


class TestMountContract:
    "A host folder as a board filesystem, through the device API."

    @pytest.fixture
    def served(self, device: Device, tmp_path: Path) -> tuple[Device, Path, MountServer]:
        folder = tmp_path / "served"
        folder.mkdir()
        server = MountServer(folder, at="/hostdir")
        try:
            server.attach(device)
        except Exception as exc:
            pytest.fail(f"{device.url} cannot take a mount: {exc}")
        return device, folder, server

    def test_import_read_write_and_detach(self, served: tuple[Device, Path, MountServer]) -> None:
        device, folder, server = served
        (folder / "hostmod.py").write_text("def triple(x):\n    return 3 * x\n")
        assert device.exec("import hostmod\nprint(hostmod.triple(14))").strip() == b"42"
        data = bytes(range(256)) * 12  # every byte value: escapes and CRC
        (folder / "all.bin").write_bytes(data)
        out = device.exec(
            "import binascii\nb = bytearray(256)\nc = n = 0\nf = open('all.bin', 'rb')\n"
            "while True:\n    k = f.readinto(b)\n    if not k:\n        break\n"
            "    c = binascii.crc32(memoryview(b)[:k], c)\n    n += k\n"
            "f.close()\nprint(n, c & 0xffffffff)\nb = None"
        )
        assert out.split() == [str(len(data)).encode(), str(zlib.crc32(data)).encode()]
        device.exec("with open('made.txt', 'w') as f:\n    f.write('from the board')")
        assert (folder / "made.txt").read_text() == "from the board"
        (folder.parent / "outside.txt").write_text("not served")
        (folder / "link.txt").symlink_to(folder.parent / "outside.txt")
        with pytest.raises(DeviceOSError):  # a symlink out of the folder is refused
            device.exec("open('link.txt').read()")
        assert server.requests > 0

        device.soft_reset()
        (folder / "after_reset.py").write_text("print('still mounted')\n")
        assert device.exec("import after_reset").strip() == b"still mounted"

        server.detach(device)
        assert device.exec("import os\nprint(os.getcwd())").strip() == b"/"
        with pytest.raises(DeviceOSError):
            device.exec("import os\nos.stat('/hostdir/made.txt')")
