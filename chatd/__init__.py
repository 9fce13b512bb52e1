"""chatd: a real-time customer-service chat server."""

__version__ = "0.1.0"
