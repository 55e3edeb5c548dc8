"""IoT Kernel: run MicroPython code on microcontrollers, from Python and Jupyter.

Layers (each imports only those below it): `protocol` (sans-IO REPL engine) ->
`transport` (moving bytes) -> `device` (engine + transport, deadlines, the
board helpers) -> `files` -> services (sync, mount, registry, variables,
resets, reconnecting) -> `kernel`. Nothing here imports `fakes`; the
import-linter contract in pyproject.toml holds it.
"""

import logging

from .errors import IotKernelError

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["IotKernelError", "__version__"]
