"""rsync by content hash on every backend: add, update, delete, exclude, no change."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotkernel.config import DeviceConfig, Resource
from iotkernel.device import Device
from iotkernel.files import FileService
from iotkernel.sync import apply_plan, make_plan

from ..backends import Backend

# hil/ re-runs this suite on the board under test (--leave-to-hil).
pytestmark = pytest.mark.hil_suite


def config_for(project: Path) -> DeviceConfig:
    return DeviceConfig(
        "board",
        None,
        (
            Resource(project / "lib", install_dir="/lib", unpack=True, exclude=("test_*",)),
            Resource(project / "app", install_dir="/"),
        ),
    )


def actions(plan: object) -> list[tuple[str, str]]:
    return [(c.action, c.board_path) for c in plan.changes]  # type: ignore[attr-defined]


class TestSyncContract:
    "%rsync's plans and their application on the board."

    @pytest.fixture
    def project(self, tmp_path: Path) -> Path:
        root = tmp_path / "project"
        (root / "lib" / "pkg").mkdir(parents=True)
        (root / "lib" / "a.py").write_text("A = 1\n")
        (root / "lib" / "pkg" / "b.py").write_text("B = 2\n")
        (root / "lib" / "test_a.py").write_text("excluded\n")
        (root / "app").mkdir()
        (root / "app" / "main.py").write_text("print('app')\n")
        return root

    def test_rsync_add_update_delete_exclude_and_no_change(
        self, device: Device, project: Path
    ) -> None:
        files = FileService(device)
        for path in ("/lib", "/app", "/keep.txt"):
            files.remove(path, recursive=True, missing_ok=True)
        files.write("/keep.txt", b"outside every managed directory")
        config = config_for(project)

        plan = make_plan(files, config)
        assert actions(plan) == [
            ("ADD", "/app/main.py"),
            ("ADD", "/lib/a.py"),
            ("ADD", "/lib/pkg/b.py"),
        ]
        apply_plan(files, plan)
        assert files.read("/lib/pkg/b.py") == b"B = 2\n"
        assert make_plan(files, config).empty  # "Directories match"

        (project / "lib" / "a.py").write_text("A = 100\n")  # same size class, new content
        (project / "lib" / "pkg" / "b.py").unlink()
        files.write("/lib/stray.py", b"not on the host")
        files.write("/lib/test_board.py", b"excluded: left alone")
        plan = make_plan(files, config)
        assert actions(plan) == [
            ("UPDATE", "/lib/a.py"),
            ("DELETE", "/lib/pkg/b.py"),
            ("DELETE", "/lib/stray.py"),
        ]
        assert actions(make_plan(files, config, upload_only=True)) == [("UPDATE", "/lib/a.py")]
        apply_plan(files, plan)
        assert files.read("/lib/a.py") == b"A = 100\n"
        assert files.stat("/lib/stray.py") is None
        assert files.stat("/lib/test_board.py") is not None  # excluded files are not managed
        assert files.read("/keep.txt") == b"outside every managed directory"  # root never managed
        assert make_plan(files, config).empty

    def test_unchanged_tree_costs_a_constant_number_of_round_trips(
        self, device: Device, project: Path
    ) -> None:
        files = FileService(device)
        files.remove("/lib", recursive=True, missing_ok=True)
        for i in range(30):
            (project / "lib" / f"m{i}.py").write_text(f"X = {i}\n")
        config = config_for(project)
        apply_plan(files, make_plan(files, config))
        execs = []
        original = device.exec

        def counting(*args: object, **kwargs: object) -> bytes:
            execs.append(1)
            return original(*args, **kwargs)  # type: ignore[arg-type]

        device.exec = counting  # type: ignore[method-assign]
        assert make_plan(files, config).empty
        assert len(execs) == 1  # one listing with hashes, whatever the number of files


class TestCompiledSyncContract:
    "%rsync --mpy: foo.py goes up as foo.mpy for the board's bytecode; the board imports it."

    @pytest.fixture
    def project(self, tmp_path: Path) -> Path:
        root = tmp_path / "project"
        (root / "lib" / "pkg").mkdir(parents=True)
        (root / "lib" / "mpya.py").write_text("A = 6 * 7\n\ndef twice(x):\n    return 2 * x\n")
        (root / "lib" / "pkg" / "__init__.py").write_text("")
        (root / "lib" / "pkg" / "mpyb.py").write_text("B = 'bee'\n")
        (root / "lib" / "data.txt").write_text("not python\n")
        (root / "app").mkdir()
        (root / "app" / "main.py").write_text("print('app')\n")
        return root

    def test_compiled_resources_pair_py_with_mpy_and_import(
        self, device: Device, project: Path, backend: Backend
    ) -> None:
        files = FileService(device)
        for path in ("/lib", "/app"):
            files.remove(path, recursive=True, missing_ok=True)
        files.mkdirs("/lib")
        files.write("/lib/mpya.py", b"A = 'stale source that would shadow the .mpy'\n")
        config = config_for(project)

        plan = make_plan(files, config, compile_all=True)
        assert actions(plan) == [
            ("ADD", "/app/main.py"),  # run by name: stays source
            ("ADD", "/lib/data.txt"),
            ("ADD", "/lib/mpya.mpy"),
            ("ADD", "/lib/pkg/__init__.mpy"),
            ("ADD", "/lib/pkg/mpyb.mpy"),
            ("DELETE", "/lib/mpya.py"),  # the source twin shadows the .mpy on import
        ]
        # Uploading only still removes a shadowing twin, and nothing else.
        uploads = actions(make_plan(files, config, upload_only=True, compile_all=True))
        assert ("DELETE", "/lib/mpya.py") in uploads
        assert [a for a in uploads if a[0] == "DELETE"] == [("DELETE", "/lib/mpya.py")]
        apply_plan(files, plan)
        compiled = files.read("/lib/mpya.mpy")
        assert compiled[:2] == b"M\x06"
        assert files.stat("/lib/mpya.py") is None
        assert make_plan(files, config, compile_all=True).empty  # compared compiled to compiled
        # Without --mpy the same folders want sources back: the pairing is undone.
        assert ("DELETE", "/lib/mpya.mpy") in actions(make_plan(files, config))

        (project / "lib" / "mpya.py").write_text("A = 43\n")
        assert actions(make_plan(files, config, compile_all=True)) == [("UPDATE", "/lib/mpya.mpy")]

        if backend.runs_bytecode:
            apply_plan(files, make_plan(files, config, compile_all=True))
            out = device.exec(
                "import sys\nif '/lib' not in sys.path: sys.path.insert(0, '/lib')\n"
                "import mpya, pkg.mpyb\nprint(mpya.A, pkg.mpyb.B, mpya.__file__)\n"
                "del sys.modules['mpya'], sys.modules['pkg.mpyb'], sys.modules['pkg']"
            )
            assert out.split() == [b"43", b"bee", b"/lib/mpya.mpy"]

    def test_mpy_true_on_a_resource_compiles_only_that_resource(
        self, device: Device, project: Path
    ) -> None:
        files = FileService(device)
        for path in ("/lib", "/app"):
            files.remove(path, recursive=True, missing_ok=True)
        config = DeviceConfig(
            "board",
            None,
            (
                Resource(project / "lib", install_dir="/lib", unpack=True, mpy=True),
                Resource(project / "app", install_dir="/"),
            ),
        )
        (project / "app" / "util.py").write_text("U = 1\n")
        assert actions(make_plan(files, config)) == [
            ("ADD", "/app/main.py"),
            ("ADD", "/app/util.py"),
            ("ADD", "/lib/data.txt"),
            ("ADD", "/lib/mpya.mpy"),
            ("ADD", "/lib/pkg/__init__.mpy"),
            ("ADD", "/lib/pkg/mpyb.mpy"),
        ]
