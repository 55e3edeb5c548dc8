"""What the emulated boards share (the QEMU board, the Pico): one emulator
process, stopped by its PID, and a port published at a stable path.

Owns the process handle's life (`url`, `pid`, `running`, stopping it with
SIGTERM and then SIGKILL), publishing a pty at the board's path atomically,
and the power and plug operations built on `start()` and `_kill()`, which
each board defines.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path
from typing import Any


class EmulatedBoard:
    """A board whose firmware runs in an emulator process, its port at `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()
        self.boots = 0

    @property
    def url(self) -> str:
        return f"serial://{self.path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Any:
        raise NotImplementedError

    def _kill(self) -> None:
        raise NotImplementedError

    def _publish(self, pty_path: str) -> None:
        """Point `path` at the pty, atomically (a reader never sees no link)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".new")
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(pty_path)
        temporary.replace(self.path)

    def _unpublish(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_symlink():
                self.path.unlink()

    def _stop_process(self) -> subprocess.Popen[bytes] | None:
        """Stop the emulator by its PID (SIGTERM, then SIGKILL); the handle."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError

    def power_cycle(self, off_time: float = 0.2) -> None:
        self.set_power(False)
        time.sleep(off_time)
        self.set_power(True)

    def set_power(self, on: bool) -> None:
        raise NotImplementedError

    def unplug(self) -> None:
        """The board vanishes: no process, no path."""
        with self._lock:
            self._kill()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
