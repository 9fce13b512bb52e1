"""``python -m bench <scenario> [options]`` (also ``chatd-bench``).

Scenarios: ``idle``, ``chat``, ``ramp``, ``storm``, ``multinode``; see
bench/README.md. Every run is bounded (``--max-seconds``), targets loopback
unless ``--url`` is given, shows a progress line on stderr and writes
``result.json`` plus PNG plots into ``--out/<scenario>-<timestamp>/``.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shlex
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench.chatload import UsageError
from bench.loadgen import raise_open_files
from bench.monitor import Monitor, ProgressLine
from bench.report import results_dir, write_json
from bench.scenarios import SCENARIOS

__all__ = ["RunContext", "main"]


class BenchTimeout(Exception):
    """The run passed ``--max-seconds``."""


class RunContext:
    """What every scenario gets: its options, results folder, run id and monitor."""

    def __init__(self, args: argparse.Namespace, out_dir: Path, monitor: Monitor) -> None:
        self.args = args
        self.out_dir = out_dir
        self.monitor = monitor
        self.run_id = secrets.token_hex(3)

    def loadgen_config(self) -> dict[str, Any]:
        args = self.args
        local = not args.url or all("127.0.0.1" in u or "localhost" in u for u in args.url)
        return {"format": args.format, "typing_probability": args.typing, "read_probability": args.read,
                "body_bytes": args.body_bytes, "concurrency": args.concurrency,
                # Each process connects from its own loopback address: its own ephemeral port range.
                "local_hosts": [f"127.0.0.{10 + i}" for i in range(args.procs)] if local else [None]}


def _common(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target (default: the bench starts chatd on 127.0.0.1)")
    target.add_argument("--url", action="append", default=[],
                        help="ws://host:port of a running chatd node (repeat for several); nothing is started")
    target.add_argument("--admin-id", default="admin", help="admin agent for --url (creates the bench agents)")
    target.add_argument("--admin-password", default=os.environ.get("CHATD_BENCH_ADMIN_PASSWORD", ""),
                        help="its password (or CHATD_BENCH_ADMIN_PASSWORD)")
    target.add_argument("--admin-token", default="", help="or an admin token instead of a password")
    target.add_argument("--server-pid", type=int, action="append", default=[],
                        help="with --url on this machine: pids to read server CPU/RSS from")
    target.add_argument("--measure-redis", action="store_true",
                        help="with --url: read Redis CPU from --redis-url's INFO")
    target.add_argument("--engine", choices=("redis", "memory"), default="redis", help="engine of started chatd")
    target.add_argument("--workers", type=int, default=1, help="worker processes of started chatd (redis engine)")
    target.add_argument("--redis-url", default="redis://127.0.0.1:6379/8",
                        help="Redis for started chatd and the baseline (keys under a per-run prefix)")
    load = parser.add_argument_group("load generator")
    load.add_argument("--procs", type=int, default=2, help="load-generator processes")
    load.add_argument("--concurrency", type=int, default=40,
                      help="connection attempts in flight per process (keep the total under the server's Redis pool)")
    load.add_argument("--format", choices=("json", "msgpack"), default="json", help="chatd wire format")
    load.add_argument("--typing", type=float, default=0.5, help="chance a message is preceded by a typing frame")
    load.add_argument("--read", type=float, default=0.5, help="chance a received message gets a read receipt")
    load.add_argument("--body-bytes", type=int, default=64, help="message body size")
    out = parser.add_argument_group("output")
    out.add_argument("--out", default="results", help="results root folder")
    out.add_argument("--max-seconds", type=float, default=600, help="hard bound on the whole run")
    out.add_argument("--quiet", action="store_true", help="no progress line")
    out.add_argument("--profile", action="store_true",
                     help="record py-spy profiles of the local servers during measured steps (idle: while connecting)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="scenario", required=True)
    for name, module in SCENARIOS.items():
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        _common(sub)
    return parser


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def _warnings(node: Any) -> list[str]:
    """Every ``warning`` anywhere in the result (e.g. a saturated load generator)."""
    if isinstance(node, dict):
        found = [str(node["warning"])] if "warning" in node else []
        return found + [w for key, value in node.items() if key not in ("warning", "timeline")
                        for w in _warnings(value)]
    if isinstance(node, list):
        return [w for item in node for w in _warnings(item)]
    return []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = SCENARIOS[args.scenario]
    raise_open_files()
    out_dir = results_dir(args.out, args.scenario)
    progress = ProgressLine(enabled=not args.quiet)
    monitor = Monitor(args.scenario, progress)
    ctx = RunContext(args, out_dir, monitor)

    def timeout(_sig: int, _frame: FrameType | None) -> None:
        raise BenchTimeout(f"the run passed --max-seconds {args.max_seconds:g}")

    def interrupted(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, timeout)
    # SIGTERM, and SIGINT even when started in the background (where it is inherited as ignored),
    # stop the run through the same clean-up as Ctrl-C: servers stopped, Redis keys deleted.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    signal.setitimer(signal.ITIMER_REAL, args.max_seconds)
    started = time.time()
    result: dict[str, Any] = {
        "scenario": args.scenario, "command": "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)), "machine": _machine(),
        "options": {k: v for k, v in vars(args).items() if k not in ("admin_password", "admin_token")},
        "run_id": ctx.run_id,
    }
    status = 0
    try:
        result.update(module.run(ctx))
    except UsageError as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        progress.finish()
        shutil.rmtree(out_dir, ignore_errors=True)
        print(f"python -m bench {args.scenario}: error: {exc}", file=sys.stderr)
        return 2
    except BenchTimeout as exc:
        result["error"] = str(exc)
        status = 3
    except KeyboardInterrupt:
        result["error"] = "interrupted"
        status = 130
    except Exception as exc:  # recorded with the partial timeline, then reported
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
        status = 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    result["seconds"] = round(time.time() - started, 1)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["timeline"] = monitor.timeline
    plots: list[Path] = []
    try:
        plots = [p for p in module.plot(ctx, result) if p] if "error" not in result else []
    except Exception as exc:  # a plot must never cost the figures
        result["plot_error"] = repr(exc)
    result["plots"] = [p.name for p in plots]
    path = write_json(out_dir / "result.json", result)
    progress.finish()
    for warning in sorted(set(_warnings(result))):
        print(f"warning: {warning}", file=sys.stderr)
    print(module.headline(result) if "error" not in result else f"{args.scenario}: {result['error']}")
    print(f"results: {path}" + "".join(f"\n         {p}" for p in plots))
    if "error" not in result and result.get("ok") is False:
        status = status or 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
