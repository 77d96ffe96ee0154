// A TypeScript SDK client against a Switchboard gateway: `v1` is @modelcontextprotocol/sdk,
// `v2` is @modelcontextprotocol/client. Connect, list tools, make each call (a protocol error is
// reported as `{error}`); prints one JSON line.
//
// usage: node gateway_client.mjs <v1|v2> <url> <key> <header|query> <calls-json: [[tool, arguments], ...]>
const [sdk, url, key, where, calls] = process.argv.slice(2);
const { Client, StreamableHTTPClientTransport } =
  sdk === "v2"
    ? await import("@modelcontextprotocol/client")
    : {
        ...(await import("@modelcontextprotocol/sdk/client/index.js")),
        ...(await import("@modelcontextprotocol/sdk/client/streamableHttp.js")),
      };

const target = new URL(url);
const options = {};
if (where === "query") {
  target.searchParams.set("apiKey", key);
} else {
  options.requestInit = { headers: { authorization: `Bearer ${key}` } };
}
const client = new Client({ name: `switchboard-gateway-interop-${sdk}`, version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(target, options);
await client.connect(transport);
const tools = await client.listTools();
const results = [];
for (const [name, args] of JSON.parse(calls)) {
  // A protocol error (an unknown tool) is reported, not thrown: tests compare it.
  results.push(await client.callTool({ name, arguments: args }).catch((e) => ({ error: String(e.message) })));
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
