"""Test doubles for IoT Kernel: the fake MicroPython board and its transport.

`iotkernel` never imports this package; the `fake://` scheme reaches it
through the `iotkernel.transports` entry point. A distribution of its own
(`fakes/pyproject.toml`, `pip install -e ./fakes`): the iotkernel wheel
installs no package named `fakes`.
"""
