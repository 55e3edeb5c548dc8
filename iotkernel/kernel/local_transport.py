"""How our own tools reach the kernels they start: over local IPC sockets.

jupyter_client's default is TCP on 127.0.0.1 with ports picked by binding
port 0 and releasing it before the kernel binds them: any other process can
take such a port in between, and the kernel then dies at start ("Address
already in use"). Unix-domain sockets in a directory of our own have no such
window, and no other user on the machine can connect to them. Used by
`iotk tour` and by the test suite; where the platform has no Unix sockets
(Windows) the default TCP transport stays.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def kernel_manager_options(sockets_dir: str | Path) -> dict[str, Any]:
    """KernelManager keyword arguments: IPC sockets named `DIR/kernel-N`.

    `sockets_dir` must be private to one kernel manager (a fresh temporary
    directory): jupyter_client numbers the sockets after the names it finds
    unused there, which is only safe while no one else creates names there.
    """
    if os.name != "posix":
        return {}
    return {"transport": "ipc", "ip": str(Path(sockets_dir) / "kernel")}
