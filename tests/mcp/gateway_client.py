"""The official Python SDK's MCP client (`mcp` from PyPI, pinned by
scripts/test.sh) driving `mend mcp serve` over stdio, for the gateway's
tests (issue 17; crates/mend-cli/tests/gateway.rs). The same PLAN and
output as gateway-client.mjs:

    python gateway_client.py PLAN.json
"""

import json
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client, types


async def main(path: str) -> None:
    plan = json.load(open(path))
    params = StdioServerParameters(command=plan["command"], args=plan.get("args", []), env=plan.get("env"))
    info = types.Implementation(name=plan["client"], version="1.0.0")

    async def elicit(context, params):  # noqa: ARG001 (the SDK's signature)
        return types.ElicitResult(action="accept", content={"option": plan["elicit"]})

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, client_info=info, elicitation_callback=elicit if plan.get("elicit") else None) as s:
            await s.initialize()
            for step in plan["steps"]:
                t0 = time.monotonic()
                try:
                    if step["op"] == "list":
                        r = await s.list_tools()
                        out = {"op": "list", "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in r.tools]}
                    else:
                        progress: list[str] = []

                        async def on_progress(p, total, message):  # noqa: ARG001
                            progress.append(message or str(p))

                        r = await s.call_tool(
                            step["name"],
                            step.get("arguments", {}),
                            read_timeout_seconds=step.get("timeout_ms", 60000) / 1000,
                            progress_callback=on_progress,
                        )
                        out = {
                            "op": "call",
                            "result": r.model_dump(mode="json", by_alias=True, exclude_none=True),
                            "progress": progress,
                            "ms": int((time.monotonic() - t0) * 1000),
                        }
                except Exception as e:  # a protocol error is a result of the test
                    out = {"op": step["op"], "error": str(e), "ms": int((time.monotonic() - t0) * 1000)}
                print(json.dumps(out), flush=True)


anyio.run(main, sys.argv[1])
