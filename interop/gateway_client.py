"""The Python MCP SDK's client against a Switchboard gateway: connect (server/discover, or the
initialize handshake in `legacy` mode), list tools, make each call (a protocol error is reported
as `{"error": message}`). Prints one JSON line.

usage: gateway_client.py <url> <key> <header|query> <auto|legacy> <calls-json: [[tool, arguments], ...]>
"""

import asyncio
import json
import sys

from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def call(client: Client, name: str, args: dict) -> dict:
    """The tool's result, or a protocol error (an unknown tool) as `{"error": message}`."""
    try:
        result = await client.call_tool(name, args)
    except MCPError as e:
        return {"error": e.error.message}
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def main() -> None:
    url, key, where, mode, calls = sys.argv[1:6]
    if where == "query":
        url = f"{url}?apiKey={key}"
        http = create_mcp_http_client()
    else:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        tools = await client.list_tools()
        results = [await call(client, name, args) for name, args in json.loads(calls)]
        print(
            json.dumps(
                {
                    "protocol": client.protocol_version,
                    "server": client.server_info.name if client.server_info else None,
                    "instructions": client.instructions,
                    "tools": sorted(t.name for t in tools.tools),
                    "results": results,
                }
            )
        )


asyncio.run(main())
