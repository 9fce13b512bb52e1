"""The README's run command works from a fresh clone: it installs what it
needs, serves the demo, and a visitor and a demo agent can chat."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.support import REPO, ChatdProcess, agent_and_visitor


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", text, re.S)
    assert block, "README has no quick-start block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_gives_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    run, test = readme_commands()
    assert (run, test) == ("make run", "make test")
    ci = (REPO / ".ci" / "run").read_text()
    assert f"exec {test}" in ci


async def test_run_command_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = tmp_path / "chatd"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    run = readme_commands()[0].split()
    assert shutil.which(run[0]), f"{run[0]} is needed by the README"
    # Started inside the clone, whose own setup installs everything it needs.
    server = ChatdProcess("memory", command=run, secret="readme", cwd=clone)
    server.start(timeout=600)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            demo = await http.get("/demo")
            assert demo.status_code == 200 and "/widget/loader.js" in demo.text
            assert (await http.get("/widget/loader.js")).status_code == 200
        assert {"ana", "bo"} <= set(server.passwords), "".join(server.output)
        agent, visitor, cid = await agent_and_visitor(server)
        await visitor.send(cid, "hello from the README")
        assert (await agent.expect("message"))["body"] == "hello from the README"
        await visitor.close()
        await agent.close()
    finally:
        server.cleanup()
