// The TypeScript SDK v2 client (@modelcontextprotocol/client, 2026-07-28 first) against a Switchboard gateway:
// connect, list tools, make each call. Prints one JSON line.
//
// usage: node gateway_client_v2.mjs <url> <key> <header|query> <calls-json: [[tool, arguments], ...]>
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, key, where, calls] = process.argv.slice(2);
const target = new URL(url);
const options = {};
if (where === "query") {
  target.searchParams.set("apiKey", key);
} else {
  options.requestInit = { headers: { authorization: `Bearer ${key}` } };
}
const client = new Client({ name: "switchboard-gateway-interop-v2", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(target, options);
await client.connect(transport);
const tools = await client.listTools();
const results = [];
for (const [name, args] of JSON.parse(calls)) {
  results.push(await client.callTool({ name, arguments: args }));
}
console.log(
  JSON.stringify({
    session: transport.sessionId ?? null,
    protocol: transport.protocolVersion ?? null,
    server: client.getServerVersion?.()?.name ?? null,
    instructions: client.getInstructions?.() ?? null,
    tools: tools.tools.map((t) => t.name).sort(),
    results,
  }),
);
await client.close();
