"""The Python MCP SDK's client (2026-07-28: server/discover, then `subscriptions/listen`)
waiting for a gateway's tool-list change. Prints `{"ready": ...}` once the subscription is
acknowledged, then, on the first event, the tools it lists then; exits 1 after 30 s without one.

usage: gateway_changes.py <url> <key>
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main() -> None:
    url, key = sys.argv[1:3]
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        async with client.listen(tools_list_changed=True) as sub:
            honored = sub.honored.model_dump(by_alias=True, exclude_none=True)
            print(json.dumps({"ready": True, "protocol": client.protocol_version, "honored": honored}), flush=True)
            async with asyncio.timeout(30):
                async for _event in sub:
                    break
        tools = await client.list_tools()
        print(json.dumps({"changed": True, "tools": sorted(t.name for t in tools.tools)}), flush=True)


asyncio.run(main())
