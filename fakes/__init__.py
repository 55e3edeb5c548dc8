"""Test doubles for IoT Kernel: the fake MicroPython board and its transport.

`iotkernel` never imports this package; the `fake://` scheme reaches it
through the `iotkernel.transports` entry point.
"""
