"""Transports: moving bytes to and from boards. They know no protocol byte."""

from .base import Transport, known_schemes, open_transport, register_scheme

__all__ = ["Transport", "known_schemes", "open_transport", "register_scheme"]
