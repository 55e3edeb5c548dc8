"""The file service on every backend: round trips, atomic writes, hostile boards."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

import pytest

from fakes.faults import FaultyTransport
from iotkernel.device import Device
from iotkernel.errors import DeviceException, DeviceOSError, IotKernelError
from iotkernel.files import FileError, FileService, UnsafePathError, safe_local_path
from iotkernel.transport import open_transport

from ..backends import Backend

# hil/ re-runs this suite on the board under test (--leave-to-hil).
pytestmark = pytest.mark.hil_suite


class TestFileContract:
    "Files on the board: verified, atomic, whatever the link does."

    @pytest.fixture
    def files(self, device: Device) -> FileService:
        service = FileService(device)
        service.remove("/t", recursive=True, missing_ok=True)
        service.mkdirs("/t")
        return service

    @pytest.mark.parametrize(
        ("name", "data"),
        [
            ("empty", b""),
            ("binary", bytes(range(256)) * 4),
            ("text", "λ → €\n".encode() * 100),
            ("one-chunk-plus-one", os.urandom(4097)),
            # What a board prints when it boots, and the REPL's framing bytes: a
            # raw download must not take them for a reboot or an end of output.
            ("boot-banner", b'Type "help()" for more information.\r\n\x04\x1e\x10>' * 120),
        ],
    )
    def test_round_trip(self, files: FileService, name: str, data: bytes) -> None:
        path = f"/t/{name}.bin"
        digest = files.write(path, data)
        assert files.read(path) == data
        entry = files.stat(path)
        assert entry is not None and entry.size == len(data) and not entry.is_dir
        assert digest == files.hash(path)

    def test_large_file(self, backend: Backend, device: Device, files: FileService) -> None:
        """1 MiB, or on a small board's disk 40% of its free space (100 KB at
        least); 256 KB on the emulated Pico, whose emulated USB carries about
        46 KB/s (1 MiB there is a 35 s test crossing the same chunk edges)."""
        block_size, _, _, free_blocks = device.eval("__import__('os').statvfs('/')[:4]")
        largest = 256 * 1024 if backend.name == "pico" else 1024 * 1024
        size = max(100 * 1024, min(largest, block_size * free_blocks * 2 // 5))
        data = os.urandom(size)
        files.write("/t/big.bin", data)
        assert files.read("/t/big.bin") == data

    def test_frames_are_unescaped_in_machine_code_where_the_port_compiles_it(
        self, backend: Backend, device: Device, files: FileService
    ) -> None:
        """Firmware with a native emitter (the unix port, the Pico, the QEMU
        board) unescapes raw frames with viper code; the fakes (CPython) with
        the portable loop. Both carry every escaped byte."""
        data = b"\x10\x03\x04\x01" * 20_000
        files.write("/t/escapes.bin", data)
        assert files.read("/t/escapes.bin") == data
        compiled = device.eval("__import__('sys').modules['__iotk']['unescv'] is not None")
        assert compiled is (backend.name not in ("fake", "circuitpython"))

    @staticmethod
    def _names(device: Device, directory: str) -> list[str]:
        """What the board's own `os.listdir` sees (no filter of ours)."""
        names = device.eval(f"__import__('os').listdir({directory!r})")
        return sorted(str(name) for name in names)

    def test_a_write_leaves_no_temporary_behind(
        self, backend: Backend, device: Device, files: FileService
    ) -> None:
        """A write goes through a temporary in a directory of its own beside
        the target (`.iotk-tmp`); once it ends, new file or replacement, in
        a subdirectory or at the root, neither is left."""
        written: set[str] = set()
        for name in ("a.py", "b.py", "a.py"):
            files.write(f"/t/{name}", name.encode() * 100)
            written.add(name)
            assert self._names(device, "/t") == sorted(written)
        files.write("/t-root.bin", b"root")
        try:
            assert "t-root.bin" in self._names(device, "/")
            assert not [n for n in self._names(device, "/") if "iotk-tmp" in n]
        finally:
            files.remove("/t-root.bin")
        if backend.drive is None:  # (a drive is written by the host, not the board)
            device.helpers.write_begin("/t/cut")
            device.helpers.write_abort("/t/cut")  # a write given up: nothing left
        assert self._names(device, "/t") == ["a.py", "b.py"]

    def test_a_batch_keeps_the_temporaries_directory_until_it_ends(
        self, backend: Backend, device: Device, files: FileService
    ) -> None:
        """Many writes in a row share their temporaries' directory (on littlefs
        a rename out of a nearly empty directory is cheap); it is never listed
        as a user's file, and goes when the batch ends."""
        files.mkdirs("/t/lib")
        with files.batch():
            for number in range(3):
                files.write(f"/t/lib/m{number}.py", b"x = %d\n" % number)
            kept = self._names(device, "/t/lib")
            assert [e.path for e in files.tree("/t")] == [
                "/t/lib",
                "/t/lib/m0.py",
                "/t/lib/m1.py",
                "/t/lib/m2.py",
            ]
        if backend.drive is None:  # a drive is written by the host, not the board
            assert kept == [".iotk-tmp", "m0.py", "m1.py", "m2.py"]
        assert self._names(device, "/t/lib") == ["m0.py", "m1.py", "m2.py"]
        assert [files.read(f"/t/lib/m{n}.py") for n in range(3)] == [
            b"x = %d\n" % n for n in range(3)
        ]

    def test_a_batch_a_lost_host_left_open_ends_with_the_next_session(
        self, device: Device, files: FileService
    ) -> None:
        """A host gone in the middle of a batch never ends it: the next host
        session does, so its single writes leave no directory behind."""
        lost = files.batch()
        lost.__enter__()
        try:
            files.write("/t/a.py", b"a")
            device.connect()  # another host session on the same interpreter
            FileService(device).write("/t/b.py", b"b")
            assert self._names(device, "/t") == ["a.py", "b.py"]
        finally:
            lost.__exit__(None, None, None)

    def test_a_write_where_no_temporaries_directory_can_be_made(
        self, backend: Backend, device: Device, files: FileService
    ) -> None:
        """A file of the user's named `.iotk-tmp`: the temporary goes beside
        the target instead, and the user's file is left alone (on a drive the
        host writes, its own temporaries never use that name)."""
        if backend.drive is not None:  # read-only to the board's code: made through the drive
            (backend.drive / "t" / ".iotk-tmp").write_text("mine")
        else:
            device.exec("f = open('/t/.iotk-tmp', 'w')\nf.write('mine')\nf.close()")
        with files.batch():
            files.write("/t/new.py", b"new")
        files.write("/t/new.py", b"newer")
        assert files.read("/t/new.py") == b"newer"
        assert device.eval("open('/t/.iotk-tmp').read()") == "mine"
        assert self._names(device, "/t") == [".iotk-tmp", "new.py"]
        assert [e.path for e in files.tree("/t")] == ["/t/new.py"]
        if backend.drive is not None:
            return  # the host writes a drive: no temporaries' directory is ever made there
        # An empty temporaries' directory a cut write left does not stop the
        # removal of a directory that looks empty (%rmdir, %rm).
        for remove in (files.rmdir, files.remove):
            device.exec("import os\nos.mkdir('/t/gone')\nos.mkdir('/t/gone/.iotk-tmp')")
            remove("/t/gone")
            assert files.stat("/t/gone") is None

    def test_unicode_names(self, files: FileService) -> None:
        files.mkdirs("/t/dïr ü")
        files.write("/t/dïr ü/ñämé €.txt", b"ok")
        assert [e.path for e in files.tree("/t")] == ["/t/dïr ü", "/t/dïr ü/ñämé €.txt"]
        assert files.read("/t/dïr ü/ñämé €.txt") == b"ok"

    def test_tree_with_hashes_in_one_call(self, files: FileService) -> None:
        for i in range(20):
            files.write(f"/t/f{i:02}.txt", str(i).encode())
        entries = files.tree("/t", hashes=True)
        assert len(entries) == 20
        assert all(e.hash and e.hash.startswith(("sha256:", "crc32:")) for e in entries)

    def test_overwrite_replaces_content(self, files: FileService) -> None:
        files.write("/t/x", b"old content that is longer")
        files.write("/t/x", b"new")
        assert files.read("/t/x") == b"new"

    def test_mkdirs_remove_rename(self, files: FileService) -> None:
        files.mkdirs("/t/a/b/c")
        files.mkdirs("/t/a/b/c")  # again: no error
        files.write("/t/a/b/c/f", b"1")
        files.rename("/t/a/b/c/f", "/t/a/g")
        assert files.read("/t/a/g") == b"1"
        with pytest.raises(FileError) as info:
            files.remove("/t/a")
        assert "/t/a" in str(info.value)
        files.remove("/t/a", recursive=True)
        assert files.stat("/t/a") is None
        files.remove("/t/a", missing_ok=True)

    def test_errors_name_the_file_and_the_reason(self, files: FileService) -> None:
        with pytest.raises(FileError) as info:
            files.read("/t/missing.txt")
        assert "/t/missing.txt" in str(info.value) and "no such file" in str(info.value)
        with pytest.raises(FileError) as info:
            files.write("/no/such/dir/f", b"x")
        assert "/no/such/dir/f" in str(info.value)

    def test_a_reinstall_of_the_helpers_closes_the_files_left_open(
        self, files: FileService, backend: Backend
    ) -> None:
        """A transfer cut mid-way leaves its temporary open on the board; when the
        helpers are installed again, that file is closed, never left to the
        garbage collector (an unclosed littlefs file freed hangs the filesystem)."""
        device = files.device
        if backend.drive is not None:  # read-only to the board's code: none is ever open
            with pytest.raises(DeviceOSError) as refused:
                device.helpers.write_begin("/t/cut")
            assert refused.value.errno == errno.EROFS
            return
        device.helpers.write_begin("/t/cut")  # a transfer that never ends
        device.exec("held = __import__('sys').modules['__iotk']['W']['/t/cut']")
        device.exec("del __import__('sys').modules['__iotk']['VERSION']")  # as a cut install
        device.connect()  # a new session: the helpers' version is checked again
        FileService(device).write("/t/other", b"x")  # and they are installed anew
        with pytest.raises(DeviceException):
            device.exec("held.write(b'more')")  # closed by the new install
        device.exec("del held")

    def test_file_helpers_arrive_with_the_first_file_operation(self, device: Device) -> None:
        """A session that only runs code compiles the core helpers alone (a
        third of the source: on a small heap, room left for the user's
        code); the first file operation brings the file helpers."""
        namespace = "__import__('sys').modules['__iotk']"
        device.soft_reset()
        assert device.eval("6 * 7") == 42
        assert device.eval(f"sorted(k for k in ('VERSION', 'FILES') if k in {namespace})") == [
            "VERSION"
        ]
        FileService(device).tree("/")
        assert device.eval(f"'FILES' in {namespace} and 'wbegin' in {namespace}") is True
        # A reconnect checks both groups' versions and installs neither again
        # (a file install would make a new open-files table).
        device.exec(f"held = {namespace}['W']")
        device.connect()
        FileService(device).tree("/")
        assert device.eval(f"{namespace}['W'] is held") is True
        device.exec("del held")

    def test_helpers_do_not_touch_user_globals(self, device: Device, files: FileService) -> None:
        before = device.eval("sorted(globals().keys())")
        files.write("/t/g", b"x")
        files.tree("/t", hashes=True)
        assert device.eval("sorted(globals().keys())") == before

    @pytest.mark.parametrize("raw", [True, False], ids=["raw-path", "base64-path"])
    def test_a_transfer_cut_at_any_chunk_leaves_the_old_file(
        self, backend: Backend, raw: bool
    ) -> None:
        """Cut the link after N chunks (or N sevenths of the raw frames), for
        every N: the old file survives intact."""
        transport_options = {
            k: v for k, v in backend.options.items() if k not in ("idle_timeout", "deadline")
        }
        old, new = b"old" * 1000, os.urandom(5 * 512 + 100)  # 6 chunks of 512
        with backend.open() as device:
            setup = FileService(device)
            setup.mkdirs("/t")
            setup.write("/t/victim", old)
            raw = raw and setup.board.raw_path()  # WebREPL and the fake board have only base64
        # The base64 path: after N chunk calls (helper pieces naming them only
        # make a cut come earlier). The raw path sends as the board's
        # acknowledgements allow, in writes of no fixed count: after N sevenths
        # of the file's bytes, so every cut falls before its end.
        cuts = range(7) if not raw else [n * len(new) // 7 for n in range(7)]
        for cut_after in cuts:
            inner = open_transport(backend.url, **transport_options)
            cutter = FaultyTransport(
                inner, seed=0, rate=0, cut_transfer_after=cut_after, cut_by_bytes=raw
            )
            device = Device(cutter, idle_timeout=2, deadline=5)
            try:
                if backend.drive is not None:
                    # Written on the host's drive: no transfer to cut. Cut the
                    # board's check of it: the file is whole, old or new.
                    with contextlib.suppress(IotKernelError):
                        FileService(device, chunk_size=512).write("/t/victim", new)
                else:
                    with pytest.raises(IotKernelError):
                        FileService(device, chunk_size=512, raw_transfers=raw).write(
                            "/t/victim", new
                        )
            finally:
                device.close()
            with backend.open() as device:
                check = FileService(device)
                if backend.drive is not None:
                    assert check.read("/t/victim") in (old, new), f"cut after {cut_after}"
                    check.write("/t/victim", old)
                else:
                    assert check.read("/t/victim") == old, f"cut after {cut_after} chunks"

    def test_a_one_round_trip_write_cut_leaves_the_old_file(self, backend: Backend) -> None:
        """A file small enough for one chunk goes in one round trip: cut there."""
        transport_options = {
            k: v for k, v in backend.options.items() if k not in ("idle_timeout", "deadline")
        }
        with backend.open() as device:
            FileService(device).remove("/t", recursive=True, missing_ok=True)
            FileService(device).mkdirs("/t")
            FileService(device).write("/t/small", b"old")
        inner = open_transport(backend.url, **transport_options)
        cutter = FaultyTransport(inner, seed=0, rate=0, cut_transfer_after=0)
        device = Device(cutter, idle_timeout=2, deadline=5)
        try:
            with pytest.raises(IotKernelError):
                FileService(device).write("/t/small", b"new content")
        finally:
            device.close()
        with backend.open() as device:
            files = FileService(device)
            assert files.read("/t/small") == b"old"
            assert [e.path for e in files.tree("/t")] == ["/t/small"]

    @pytest.mark.parametrize("raw", [True, False], ids=["raw-path", "base64-path"])
    def test_faulty_transfers_never_corrupt(self, backend: Backend, raw: bool) -> None:
        """Under random faults a write ends verified or with an error, and a read
        back on a clean link always finds either the old or the new content."""
        transport_options = {
            k: v for k, v in backend.options.items() if k not in ("idle_timeout", "deadline")
        }
        old = b"previous" * 100
        with backend.open() as device:
            FileService(device).mkdirs("/t")
            FileService(device).write("/t/f", old)
        outcomes = {"ok": 0, "error": 0}
        injected = 0
        for seed in range(12):
            new = os.urandom(3000 + seed)
            faulty = FaultyTransport(
                open_transport(backend.url, **transport_options), seed=seed, rate=0.05
            )
            device = Device(faulty, idle_timeout=0.5, deadline=4)
            try:
                FileService(device, chunk_size=1024, raw_transfers=raw).write("/t/f", new)
                outcomes["ok"] += 1
                expected = new
            except IotKernelError:
                outcomes["error"] += 1
                expected = None
            finally:
                device.close()
            with backend.open() as clean:
                content = FileService(clean).read("/t/f")
            injected += len(faulty.faults)
            assert content in (old, new), f"seed {seed}: corrupted file ({faulty.faults})"
            if expected is not None:
                assert content == new
            old = content
        # Faults were injected (the test proves something), and they hit
        # transfers: some writes failed, each leaving the old file.
        assert injected > 0 and outcomes["error"] > 0, outcomes

    def test_download_refuses_paths_escaping_the_destination(self, tmp_path: Path) -> None:
        for rogue in ("../evil", "/etc/passwd", "a/../../evil", "a\x00b", "a\\..\\b", ""):
            with pytest.raises(UnsafePathError):
                safe_local_path(tmp_path, rogue)
        (tmp_path / "link").symlink_to("/tmp")
        with pytest.raises(UnsafePathError):
            safe_local_path(tmp_path, "link/escape")
        assert safe_local_path(tmp_path, "ok/file.txt") == tmp_path.resolve() / "ok" / "file.txt"

    @pytest.mark.parametrize(
        "name",
        [
            "/t/target.py\x00.evil",
            "/t/lib\\x.py",
            "/t/target.py.iotk-tmp",
            "/t/.iotk-tmp/target.py",
            "/t/../target.py",
            "t/x",
        ],
        ids=[
            "nul",
            "backslash",
            "our-temporary-suffix",
            "our-temporaries-dir",
            "dot-dot",
            "relative",
        ],
    )
    def test_a_write_refuses_names_that_would_land_elsewhere(
        self, files: FileService, name: str
    ) -> None:
        """The unix port cuts a name at NUL: writing /t/target.py\\x00.evil would
        overwrite /t/target.py, and not atomically (the temporary's name is cut too)."""
        files.write("/t/target.py", b"kept")
        with pytest.raises(UnsafePathError):
            files.write(name, b"evil")
        assert files.read("/t/target.py") == b"kept"
        assert [e.path for e in files.tree("/t")] == ["/t/target.py"]
