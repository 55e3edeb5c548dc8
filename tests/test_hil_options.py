"""hil/ against a board given by URL, reset from outside by --hard-reset.

The board is a virtual serial board whose power switch listens on loopback;
the command given to hil/ cuts and restores its power, as `uhubctl` or a
PDU's client would on a desk.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from fakes.vboard import VirtualSerialBoardProcess

from .backends import require_unix_port

ROOT = Path(__file__).parents[1]
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:xdist")


def _hil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "hil/test_hardware.py", "-v", *PLUGINS_OFF, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_hil_resets_a_given_board_with_the_hard_reset_command(tmp_path: Path) -> None:
    require_unix_port()
    with VirtualSerialBoardProcess(
        tmp_path / "ttyDESK", board_dir=tmp_path / "files", power_switch=True
    ) as board:
        cycle = (
            f'{sys.executable} -c "import time, urllib.request as u; '
            f"u.urlopen('{board.power_switch_url}/power/0'); time.sleep(0.2); "
            f"u.urlopen('{board.power_switch_url}/power/1')\""
        )
        result = _hil(f"--board={board.url}", f"--hard-reset={cycle}")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "test_hard_reset_by_power_switch_or_reset_line PASSED" in result.stdout
        # Without the command, the same check skips and says why.
        result = _hil(f"--board={board.url}", "-rs")
        assert result.returncode == 0, result.stdout[-3000:]
        assert "test_hard_reset_by_power_switch_or_reset_line SKIPPED" in result.stdout
        assert "no power switch or reset line" in result.stdout


def test_a_failing_hard_reset_command_fails_the_check_clearly(tmp_path: Path) -> None:
    require_unix_port()
    with VirtualSerialBoardProcess(tmp_path / "ttyDESK", board_dir=tmp_path / "files") as board:
        result = _hil(
            f"--board={board.url}",
            "--hard-reset=sh -c 'echo hub not found >&2; exit 2'",
            "-k",
            "hard_reset_by_power",
        )
        assert result.returncode == 1
        assert "HostCommandError" in result.stdout
        assert "failed (exit 2)" in result.stdout and "hub not found" in result.stdout


def _collected(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *PLUGINS_OFF, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        # Not traced: collecting every test module under coverage took 15 s.
        env={k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"},
    )
    assert result.returncode in (0, 5), result.stdout[-3000:] + result.stderr[-2000:]
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_what_is_left_to_hil_is_what_hil_runs() -> None:
    """`--leave-to-hil` drops only the contract classes hil/ re-runs, and only
    on the named backends: a contract class hil/ did not import would lose
    its firmware runs without a word."""
    import hil.test_contract
    import hil.test_files

    def classes(module: ModuleType) -> set[str]:
        return {
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and name.startswith("Test")
        }

    rerun = classes(hil.test_contract) | classes(hil.test_files)
    marked = set()
    for path in sorted((ROOT / "tests" / "contract").glob("test_*.py")):
        module = importlib.import_module(f"tests.contract.{path.stem}")
        if getattr(getattr(module, "pytestmark", None), "name", None) == "hil_suite":
            marked |= {n for n in classes(module) if vars(module)[n].__module__ == module.__name__}
    assert marked == rerun
    everywhere = _collected("tests/contract")
    left = _collected("tests/contract", "--leave-to-hil=vserial,pico")
    dropped = everywhere - left
    assert dropped and all(
        node.split("::")[1] in rerun and ("[vserial" in node or "[pico" in node) for node in dropped
    )
    assert any("[qemu-small" in node for node in left)  # a backend not named keeps them
    # A case that runs only on backends all left to hil/ (firmware-only) is
    # deselected, not reported as a skip with an empty parameter set.
    all_left = _collected("tests/contract", "--leave-to-hil=vserial,pico,qemu-small")
    firmware_only = {n for n in everywhere if "system_exit" in n}
    assert firmware_only and not (firmware_only & all_left)
    assert not any("NOTSET" in node for node in all_left)
