"""The load generator: several processes, each an event loop (uvloop) full
of lean peers, driven by main over one pipe per process.

Main sends ``{"id", "call", "args"}``; the process runs ``Workload.cmd_<call>``
(concurrently with other calls) and answers ``{"id", "result"}`` or
``{"id", "error"}``. Every second it also sends ``{"progress": ...}`` with its
own CPU time, so main can show progress, plot latency over time and warn when
a load-generator process is saturated (the figures would then measure the
load generator, not the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import multiprocessing.connection
import os
import resource
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["SATURATED_CPU", "LoadGenerator", "raise_open_files"]

SATURATED_CPU = 0.85  # of one core, per process
PROGRESS_SECONDS = 1.0


def raise_open_files(wanted: int = 1 << 20) -> int:
    """Raise RLIMIT_NOFILE as far as allowed (child processes inherit it); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target_hard in (max(hard, wanted), hard):
        target_soft = min(wanted, target_hard) if target_hard != resource.RLIM_INFINITY else wanted
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target_soft), target_hard))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class WorkerError(RuntimeError):
    """A load-generator process failed a command."""


class LoadGenerator:
    """``procs`` load-generator processes sharing one ``config``.

    ``on_progress(index, report)`` is called from :meth:`call` / :meth:`pump`
    whenever a process reports; ``on_tick()`` about four times a second."""

    def __init__(self, procs: int, config: dict[str, Any], *,
                 on_progress: Callable[[int, dict[str, Any]], None] | None = None,
                 on_tick: Callable[[], None] | None = None) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.procs = procs
        self.on_progress = on_progress
        self.on_tick = on_tick
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[Any] = []
        self.cpu: list[list[tuple[float, float]]] = [[] for _ in range(procs)]  # (wall, cpu seconds) samples
        self._ids = itertools.count(1)
        self._replies: dict[int, dict[str, Any]] = {}
        for index in range(procs):
            parent, child = spawn.Pipe()
            process = spawn.Process(target=_worker_main, args=(child, index, config), name=f"bench-loadgen-{index}",
                                    daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    # --- calls ----------------------------------------------------------------------
    def send(self, call: str, args: list[dict[str, Any]] | dict[str, Any] | None = None) -> list[int]:
        """Start ``call`` on every process (``args`` per process or shared); returns the call ids."""
        ids = []
        for index, pipe in enumerate(self.pipes):
            call_args = (args[index] if isinstance(args, list) else args) or {}
            call_id = next(self._ids)
            pipe.send({"id": call_id, "call": call, "args": call_args})
            ids.append(call_id)
        return ids

    def wait(self, ids: list[int], timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        while not all(i in self._replies for i in ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"load generator did not answer within {timeout:.0f}s")
            self.pump(0.25)
        results = []
        for call_id in ids:
            reply = self._replies.pop(call_id)
            if "error" in reply:
                raise WorkerError(reply["error"])
            results.append(reply["result"])
        return results

    def call(self, call: str, args: list[dict[str, Any]] | dict[str, Any] | None = None,
             timeout: float = 120.0) -> list[Any]:
        return self.wait(self.send(call, args), timeout)

    def pump(self, seconds: float) -> None:
        """Handle progress and replies for ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            ready = multiprocessing.connection.wait(self.pipes, timeout=max(0.0, min(0.25, remaining)))
            for pipe in ready:
                index = self.pipes.index(pipe)  # type: ignore[arg-type]
                try:
                    message = pipe.recv()  # type: ignore[union-attr]
                except EOFError:
                    raise WorkerError(f"load-generator process {index} exited") from None
                if "progress" in message:
                    report = message["progress"]
                    self.cpu[index].append((report["wall"], report["cpu"]))
                    if self.on_progress is not None:
                        self.on_progress(index, report)
                else:
                    self._replies[message["id"]] = message
            if self.on_tick is not None:
                self.on_tick()
            if time.monotonic() >= deadline:
                return

    # --- CPU of the load generator itself --------------------------------------------
    def cpu_between(self, start: float, end: float) -> list[float]:
        """Each process's CPU use (fraction of one core) between two wall times (monotonic)."""
        shares = []
        for samples in self.cpu:
            inside = [s for s in samples if start - 0.6 <= s[0] <= end + 0.6]
            if len(inside) < 2:
                shares.append(0.0)
                continue
            (w0, c0), (w1, c1) = inside[0], inside[-1]
            shares.append(round((c1 - c0) / (w1 - w0), 3) if w1 > w0 else 0.0)
        return shares

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, BrokenPipeError):
                pipe.send({"id": 0, "call": "exit", "args": {}})
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(2)
        for pipe in self.pipes:
            pipe.close()

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def loadgen_summary(gen: LoadGenerator, start: float, end: float) -> dict[str, Any]:
    """CPU of each load-generator process over a measured window, with a
    warning when one was saturated."""
    shares = gen.cpu_between(start, end)
    saturated = [i for i, share in enumerate(shares) if share > SATURATED_CPU]
    summary: dict[str, Any] = {"processes": gen.procs, "cpu_percent": [round(s * 100, 1) for s in shares],
                               "saturated": bool(saturated)}
    if saturated:
        summary["warning"] = (f"load-generator process(es) {saturated} above {SATURATED_CPU:.0%} of a core: "
                              "latency figures include load-generator delay; use more --procs or another machine")
    return summary


# --- inside a load-generator process -------------------------------------------------
def _worker_main(pipe: multiprocessing.connection.Connection, index: int, config: dict[str, Any]) -> None:
    raise_open_files()
    try:
        import uvloop
        uvloop.run(_serve(pipe, index, config))
    except ImportError:
        asyncio.run(_serve(pipe, index, config))


async def _serve(pipe: multiprocessing.connection.Connection, index: int, config: dict[str, Any]) -> None:
    from bench.workload import Workload

    loop = asyncio.get_running_loop()
    workload = Workload(index, config)
    inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def read_commands() -> None:
        """A thread doing blocking reads: watching the pipe with the event loop
        would make it non-blocking, and a large message then fails half-read."""
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                message = None
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message is None or message.get("call") == "exit":
                return

    threading.Thread(target=read_commands, name="bench-commands", daemon=True).start()

    def report(message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            pipe.send(message)

    async def ticker() -> None:
        while True:
            await asyncio.sleep(PROGRESS_SECONDS)
            workload.heartbeat()
            report({"progress": {**workload.progress(), "wall": time.monotonic(), "cpu": time.process_time(),
                                 "pid": os.getpid()}})

    async def run(message: dict[str, Any]) -> None:
        try:
            result = getattr(workload, "cmd_" + message["call"])(**message["args"])
            if asyncio.iscoroutine(result):
                result = await result
            report({"id": message["id"], "result": result})
        except Exception:
            report({"id": message["id"], "error": traceback.format_exc()})

    tasks: set[asyncio.Task[None]] = set()
    background = loop.create_task(ticker())
    report({"progress": {**workload.progress(), "wall": time.monotonic(), "cpu": time.process_time(),
                         "pid": os.getpid()}})
    while True:
        message = await inbox.get()
        if message is None or message["call"] == "exit":
            break
        task = loop.create_task(run(message))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    background.cancel()
    for task in list(tasks):
        task.cancel()
    with contextlib.suppress(Exception):
        await workload.cmd_close_all()
