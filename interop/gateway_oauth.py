"""The Python MCP SDK (PyPI `mcp`) as an OAuth client of a Switchboard gateway: its
`OAuthClientProvider` meets the 401, discovers the Protected Resource Metadata and the
authorization server, registers (DCR) and sends the person to the consent page with PKCE. This
script is that person: it submits the consent form over HTTP (signing in with a gateway key,
then approving) and hands the redirect's code, state and iss back to the SDK. It lists tools,
lets the access token lapse so the SDK refreshes it, and lists again. Prints one JSON line.

usage: gateway_oauth.py <mcp-url> <gateway-key>
"""

import asyncio
import json
import re
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:9/callback"  # never visited: the Location header is read


class Memory:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def main() -> None:
    url, key = sys.argv[1:3]
    memory = Memory()
    seen: dict = {}

    def field(html: str, name: str) -> str:
        return re.search(f'name="{name}" value="([^"]+)"', html).group(1)

    async def redirect_handler(authorization_url: str) -> None:
        seen["authorization"] = {k: v[0] for k, v in parse_qs(urlparse(authorization_url).query).items()}
        async with httpx2.AsyncClient() as browser:
            first = await browser.get(authorization_url)
            assert first.status_code == 200, first.text
            action = re.search('action="([^"]+)"', first.text).group(1)
            signed_in = await browser.post(action, data={"csrf": field(first.text, "csrf"), "action": "sign_in", "key": key})
            done = await browser.post(action, data={"csrf": field(signed_in.text, "csrf"), "action": "approve"})
            back = parse_qs(urlparse(done.headers["location"]).query)
            seen["redirect"] = {k: v[0] for k, v in back.items()}

    async def callback_handler() -> AuthorizationCodeResult:
        r = seen["redirect"]
        return AuthorizationCodeResult(code=r["code"], state=r.get("state"), iss=r.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="Python SDK interop",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(url, metadata, memory, redirect_handler, callback_handler)
    async with create_mcp_http_client(auth=provider) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            before = sorted(t.name for t in (await client.list_tools()).tools)
            # The access token lapses (as an hour would make it): the provider refreshes it.
            provider.context.token_expiry_time = 1
            after = sorted(t.name for t in (await client.list_tools()).tools)
    first, last = memory.history[0], memory.history[-1]
    print(
        json.dumps(
            {
                "client_id": memory.client.client_id if memory.client else None,
                "authorization": seen.get("authorization"),
                "iss": seen["redirect"].get("iss"),
                "scope": first.scope,
                "before": before,
                "tokens_issued": len(memory.history),
                "rotated": first.refresh_token != last.refresh_token and first.access_token != last.access_token,
                "after": after,
            }
        )
    )


asyncio.run(main())
