"""chatd's load-testing bench: ``python -m bench <scenario>``.

It speaks only the documented protocol (docs/protocol.md), drives lean
WebSocket clients from several load-generator processes, runs a
python-socketio baseline relay in the same run, and writes JSON and PNG
results. See bench/README.md.
"""

__all__: list[str] = []
