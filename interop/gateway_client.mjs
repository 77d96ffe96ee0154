// The TypeScript SDK v1 client (@modelcontextprotocol/sdk) against a Switchboard gateway:
// connect, list tools, make each call. Prints one JSON line.
//
// usage: node gateway_client.mjs <url> <key> <header|query> <calls-json: [[tool, arguments], ...]>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, key, where, calls] = process.argv.slice(2);
const target = new URL(url);
const options = {};
if (where === "query") {
  target.searchParams.set("apiKey", key);
} else {
  options.requestInit = { headers: { authorization: `Bearer ${key}` } };
}
const client = new Client({ name: "switchboard-gateway-interop-v1", version: "1.0.0" });
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
    server: client.getServerVersion()?.name,
    instructions: client.getInstructions() ?? null,
    tools: tools.tools.map((t) => t.name).sort(),
    results,
  }),
);
await client.close();
