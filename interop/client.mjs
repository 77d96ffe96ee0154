// A real MCP client (the TypeScript SDK's) driven through Switchboard's proxy by the interop
// tests: connect, list tools, call `echo`, and run a long operation while timing its
// progress notifications. Prints one JSON line with what happened.
//
// usage: node client.mjs <url> <streamable_http|sse> <api-key>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, transport, key] = process.argv.slice(2);

// Our API key on every request the transport makes (the SSE GET and the POSTs alike).
const withKey = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

const target = new URL(url);
const channel =
  transport === "sse"
    ? new SSEClientTransport(target, { fetch: withKey })
    : new StreamableHTTPClientTransport(target, { fetch: withKey });

const client = new Client({ name: "switchboard-interop", version: "1.0.0" });
await client.connect(channel);
const tools = await client.listTools();
const echo = await client.callTool({ name: "echo", arguments: { message: "hello through the proxy" } });

const started = Date.now();
const progress = [];
await client.callTool(
  { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 4 } },
  undefined,
  { onprogress: () => progress.push(Date.now() - started), timeout: 30000 },
);

console.log(
  JSON.stringify({
    server: client.getServerVersion(),
    tools: tools.tools.map((t) => t.name),
    echo: echo.content,
    progress_ms: progress,
  }),
);
await client.close();
