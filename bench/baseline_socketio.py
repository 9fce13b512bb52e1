"""The baseline: a minimal python-socketio relay for the same job.

A visitor and an agent join a room per conversation; a ``msg`` is emitted to
the room through ``AsyncRedisManager`` (Redis pub/sub, as a multi-node
deployment needs) and acknowledged once published; ``typing`` and ``read``
are relayed the same way. Nothing is stored, numbered or replayed, so it
does strictly less than chatd: a durable chatd should still beat it.

Run by the bench: ``python -m bench.baseline_socketio --port P --redis-url URL
--channel NAME`` (uvicorn with uvloop, like chatd).
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn

__all__ = ["build_app", "main"]


def build_app(redis_url: str, channel: str) -> Any:
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins="*",
                               transports=["websocket"])

    @sio.on("join")
    async def join(sid: str, data: dict[str, Any]) -> bool:
        for room in data["rooms"]:
            await sio.enter_room(sid, room)
        return True

    @sio.on("msg")
    async def msg(sid: str, data: dict[str, Any]) -> bool:
        await sio.emit("msg", data, room=data["room"], skip_sid=sid)
        return True

    @sio.on("typing")
    async def typing(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("typing", data, room=data["room"], skip_sid=sid)

    @sio.on("read")
    async def read(sid: str, data: dict[str, Any]) -> None:
        await sio.emit("read", data, room=data["room"], skip_sid=sid)

    async def health(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return socketio.ASGIApp(sio, other_asgi_app=health)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_socketio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--channel", default="chatdbench-socketio")
    args = parser.parse_args(argv)
    uvicorn.run(build_app(args.redis_url, args.channel), host=args.host, port=args.port, loop="uvloop",
                http="httptools", ws="websockets-sansio", ws_per_message_deflate=False, log_level="warning",
                access_log=False, lifespan="off")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
