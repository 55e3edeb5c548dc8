"""An isolated Jupyter environment for kernel tests.

Installs the kernelspec with `python -m iotkernel.install --prefix` into a
temporary directory (testing that command too), points JUPYTER_PATH at it, and
gives kernels their own XDG_DATA_HOME (the `sim` board's files, the notebook
memory), so tests never touch the user's real directories.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_ROOT: Path | None = None


def prepare() -> Path:
    """Idempotent: the temporary root of this test process's Jupyter environment."""
    global _ROOT
    if _ROOT is not None:
        return _ROOT
    root = Path(tempfile.mkdtemp(prefix="iotk-jupyter-"))
    atexit.register(shutil.rmtree, root, True)
    subprocess.run(
        [sys.executable, "-m", "iotkernel.install", "--prefix", str(root / "env")],
        check=True,
        capture_output=True,
    )
    os.environ["JUPYTER_PATH"] = str(root / "env" / "share" / "jupyter")
    os.environ["JUPYTER_CONFIG_DIR"] = str(root / "config")
    os.environ["JUPYTER_DATA_DIR"] = str(root / "data")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
    os.environ["IPYTHONDIR"] = str(root / "ipython")
    os.environ["XDG_DATA_HOME"] = str(root / "xdg")
    os.environ.pop("JPY_SESSION_NAME", None)
    _ROOT = root
    return root
