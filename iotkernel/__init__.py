"""IoT Kernel: run MicroPython code on microcontrollers, from Python and Jupyter.

Layers (each imports only those below it): `protocol` (sans-IO REPL engine) ->
`transport` (moving bytes) -> `device` (engine + transport, deadlines) ->
services -> `kernel`. Nothing here imports `fakes`.
"""

import logging

from .errors import IotKernelError

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["IotKernelError", "__version__"]
