"""The pytest plugin `iotkernel`, run as users run it: pytest in a subprocess
on a project. Board test files on `sim` and on a 40 KB QEMU board (each
board-side test its own item; a failing assertion names the file and line;
a file that cannot import fails its tests in one line), the fixtures and the
marker on host-side tests, a board that dies mid-test, --board-reset none,
and an unreachable board stopping the session with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .backends import require_pico, require_qemu, require_unix_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "project"


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def board_lines(out: str, status: str) -> list[str]:
    return sorted(
        line.split("::", 1)[1].split()[0]
        for line in out.splitlines()
        if line.startswith(status + " ") and "::" in line
    )


EXAMPLE_TESTS = [
    "BoardBasics.test_clock_runs",
    "BoardBasics.test_files_round_trip",
    "BoardBasics.test_heap_has_room",
    "GreetingTest.test_default_name",
    "GreetingTest.test_given_name",
    "GreetingTest.test_rejects_a_number",
    "test_runs_on_micropython",
]


def test_the_example_project_on_sim(tmp_path: Path) -> None:
    require_unix_port()
    done = run_pytest("--board", "sim", str(EXAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert board_lines(done.stdout, "PASSED") == EXAMPLE_TESTS
    assert board_lines(done.stdout, "SKIPPED") == []  # -rA lists skips without ::
    assert "no os.uname on this port" in done.stdout  # skipIf on the board, reported


@pytest.mark.parametrize("stand_in", ["qemu", "pico"])
def test_the_example_project_on_emulated_firmware(tmp_path: Path, stand_in: str) -> None:
    """`--board qemu|pico` starts the emulated board (entry points
    iotkernel.boards) for the run and stops it at its end."""
    if stand_in == "pico":
        require_pico()
    else:
        require_qemu("qemu")
    done = run_pytest("--board", stand_in, "--board-config", "sim", str(EXAMPLE), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Firmware has os.uname(), which the unix port lacks: that test runs too.
    assert board_lines(done.stdout, "PASSED") == sorted(
        [*EXAMPLE_TESTS, "BoardBasics.test_uname_names_the_machine"]
    )


def write_project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_failing_board_side_assertion_shows_the_file_and_line(tmp_path: Path) -> None:
    require_unix_port()
    project = write_project(
        tmp_path / "proj",
        {
            "tests_on_board/test_math.py": (
                "import unittest\n"
                "\n"
                "class Maths(unittest.TestCase):\n"
                "    def test_adds(self):\n"
                "        self.assertEqual(1 + 1, 2)\n"
                "\n"
                "    def test_wrong(self):\n"
                "        print('about to fail')\n"
                "        self.assertEqual(2 + 2, 5)\n"
                "\n"
                "def helper():\n"
                "    raise ValueError('deep')\n"
                "\n"
                "def test_raises():\n"
                "    helper()\n"
            ),
            "tests_on_board/test_broken.py": (
                "import no_such_module_here\n\ndef test_x():\n    pass\n"
            ),
        },
    )
    done = run_pytest("--board", "sim", str(project), cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert board_lines(out, "PASSED") == ["Maths.test_adds"]
    assert sorted(board_lines(out, "FAILED")) == ["Maths.test_wrong", "test_raises", "test_x"]
    test_file = project / "tests_on_board" / "test_math.py"
    assert f"{test_file}:9: fail on sim: 4 != 5" in out  # the file and line of the assertion
    assert f"{test_file}:12: error on sim: ValueError: deep" in out
    assert "about to fail" in out  # what the test printed, in its report
    assert "ImportError" in out and "no_such_module_here" in out  # the file that cannot import


def test_fixtures_marker_reset_and_a_board_that_dies(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "proj",
        {
            "test_host_side.py": (
                "import pytest\n"
                "\n"
                "def test_exec_and_eval(board_exec, board_eval):\n"
                "    assert board_exec('print(6 * 7)') == '42\\n'\n"
                "    assert board_eval('[1, 2][1]') == 2\n"
                "\n"
                "def test_files(board_fs):\n"
                "    board_fs.write('/note.txt', b'kept')\n"
                "    assert board_fs.read('/note.txt') == b'kept'\n"
                "\n"
                "def test_set(board_exec):\n"
                "    board_exec('left = 1')\n"
                "\n"
                "def test_reset_between_tests(board_exec):\n"
                "    assert 'NameError' in board_exec('try:\\n    left\\nexcept NameError:\\n"
                '    print("NameError")\')\n'
                "\n"
                "@pytest.mark.board(platform='esp32')\n"
                "def test_only_on_esp32(board):\n"
                "    pass\n"
                "\n"
                "@pytest.mark.board(implementation='micropython')\n"
                "def test_on_micropython(board):\n"
                "    pass\n"
                "\n"
                "def test_board_dies(board_exec):\n"
                "    board_exec('import machine\\nmachine.bootloader()')\n"
                "\n"
                "def test_the_next_test_has_a_board(board_exec):\n"
                "    assert board_exec('print(1)') == '1\\n'\n"
            ),
        },
    )
    done = run_pytest("--board", "fake://plugin-rig", str(project), cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert board_lines(out, "FAILED") == ["test_board_dies"]
    assert board_lines(out, "PASSED") == [
        "test_exec_and_eval",
        "test_files",
        "test_on_micropython",
        "test_reset_between_tests",
        "test_set",
        "test_the_next_test_has_a_board",  # reconnected after the board died
    ]
    assert "needs platform esp32; fake://plugin-rig is fakeboard" in out

    kept = write_project(
        tmp_path / "kept",
        {
            "test_state.py": (
                "def test_set(board_exec):\n    board_exec('left = 1')\n\n"
                "def test_still_there(board_eval):\n    assert board_eval('left') == 1\n"
            )
        },
    )
    done = run_pytest(
        "--board", "fake://plugin-kept", "--board-reset", "none", str(kept), cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_unreachable_board_stops_the_session_in_one_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "proj", {"test_a.py": "def test_a(board):\n    pass\n"})
    missing = tmp_path / "no-such-port"
    done = run_pytest("--board", f"serial://{missing}", str(project), cwd=tmp_path)
    assert done.returncode == 4  # a usage error: no test ran
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and f"--board serial://{missing}: cannot connect" in errors[0]
    assert "Traceback" not in done.stderr
    # Under xdist the controller says so once, before any worker starts.
    done = run_pytest("-n", "2", "--board", f"serial://{missing}", str(project), cwd=tmp_path)
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    assert done.returncode == 4 and len(errors) == 1, done.stdout + done.stderr
    assert "a board has one port; give one --board per worker" in errors[0]


def test_without_a_board_board_tests_skip_and_fixtures_say_why(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "proj",
        {
            "tests_on_board/test_b.py": "def test_b():\n    pass\n",
            "test_h.py": "def test_h(board):\n    pass\n",
        },
    )
    done = run_pytest(str(project), cwd=tmp_path)
    assert done.returncode == 1
    assert "give --board URL|NAME|sim to run it" in done.stdout
    assert "no board: give --board URL|NAME|sim" in done.stdout


@pytest.mark.parametrize("name", ["test_a-b.py"])
def test_a_board_test_file_needs_a_module_name(tmp_path: Path, name: str) -> None:
    project = write_project(
        tmp_path / "proj", {f"tests_on_board/{name}": "def test_a():\n    pass\n"}
    )
    done = run_pytest("--collect-only", str(project), cwd=tmp_path)
    assert "must be a Python identifier" in done.stdout + done.stderr


def test_a_board_that_dies_in_a_board_file_is_reconnected_for_the_next(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "proj",
        {
            "tests_on_board/test_a_dies.py": (
                "def test_kill():\n    import machine\n    machine.bootloader()\n"
            ),
            "tests_on_board/test_b_after.py": "def test_ok():\n    assert 1 + 1 == 2\n",
        },
    )
    done = run_pytest("--board", "fake://plugin-dies", str(project), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert board_lines(done.stdout, "FAILED") == ["test_kill"]
    assert board_lines(done.stdout, "PASSED") == ["test_ok"]
    assert "TransportClosedError" in done.stdout


def test_a_different_board_at_the_same_url_is_not_used(tmp_path: Path) -> None:
    """After a replug another board answers at the board's URL: the plugin's
    reconnect checks the uid, as the kernel's does, and refuses it."""
    require_unix_port()
    from fakes.vboard import VirtualSerialBoardProcess
    from iotkernel.errors import UnexpectedBoardError
    from iotkernel.pytest_plugin import BoardHandle

    port = tmp_path / "ttyPLUG"
    first = VirtualSerialBoardProcess(port, board_dir=tmp_path / "one", uid=b"\x01\x01")
    handle = BoardHandle("rig", "", "rig")
    try:
        handle.url = first.url
        assert handle.connect().identity().uid == "0101"
        first.stop()
        handle.lost = True  # a test lost the link: the board was unplugged
        with VirtualSerialBoardProcess(port, board_dir=tmp_path / "two", uid=b"\x02\x02"):
            with pytest.raises(UnexpectedBoardError, match="uid 0202"):
                handle.connect()
            assert handle.device is None
    finally:
        handle.close()
        first.stop()
