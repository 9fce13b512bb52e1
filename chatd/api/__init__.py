"""The HTTP API (``/api/v1``) and the health and metrics endpoints."""

from chatd.api.routes import api_routes

__all__ = ["api_routes"]
