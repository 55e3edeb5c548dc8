"""An isolated Jupyter environment for kernel tests.

Installs the kernelspec with `python -m iotkernel.install --prefix` into a
temporary directory (testing that command too), points JUPYTER_PATH at it, and
gives kernels their own XDG_DATA_HOME (the `sim` board's files, the notebook
memory), so tests never touch the user's real directories. Kernels started
by tests talk over IPC sockets in that directory (`kernel_manager`), never
over TCP ports another test's process could take first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager, KernelManager

from iotkernel.kernel.local_transport import kernel_manager_options

_ROOT: Path | None = None


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    # No user configuration leaks in; advertisements only on loopback.
    os.environ["IOT_PROJECTS"] = str(root / "projects")
    os.environ["IOT_SECRETS"] = str(root / "secrets.yaml")
    settings = root / "iotkernel.yaml"
    settings.write_text(f"advert-bind: 127.0.0.1\nadvert-port: {free_udp_port()}\n")
    os.environ["IOT_SETTINGS"] = str(settings)
    os.environ.pop("JPY_SESSION_NAME", None)
    _ROOT = root
    return root


def _manager_options() -> dict[str, Any]:
    sockets = prepare() / "sockets"
    sockets.mkdir(exist_ok=True)
    private = tempfile.mkdtemp(dir=sockets)
    # The connection file too in this process's root (removed at exit):
    # jupyter_client's default is a new file in /tmp, left there by every
    # kernel that is not shut down through its manager.
    return {
        "kernel_name": "iotkernel",
        "connection_file": str(Path(private) / "connection.json"),
        **kernel_manager_options(private),
    }


def kernel_manager() -> KernelManager:
    """A manager for one IoT Kernel, on IPC sockets of its own."""
    return KernelManager(**_manager_options())


def async_kernel_manager() -> AsyncKernelManager:
    """The same for nbclient, which drives kernels asynchronously."""
    return AsyncKernelManager(**_manager_options())
