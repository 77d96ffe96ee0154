// The TypeScript SDK v1 client (@modelcontextprotocol/sdk, 2025-era: initialize, then the
// standalone GET stream the SDK opens by itself) waiting for a gateway's
// `notifications/tools/list_changed`. Prints `{"ready": true}` once connected, then, on the
// first notice, the tools it lists then, and exits; exits 1 after 30 s without a notice.
//
// usage: node gateway_changes.mjs <url> <key>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, key] = process.argv.slice(2);
const client = new Client({ name: "switchboard-gateway-changes", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { authorization: `Bearer ${key}` } },
});
const changed = new Promise((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, resolve));
await client.connect(transport);
console.log(JSON.stringify({ ready: true, listChanged: client.getServerCapabilities()?.tools?.listChanged ?? null }));
const timeout = setTimeout(() => process.exit(1), 30_000);
await changed;
clearTimeout(timeout);
const tools = await client.listTools();
console.log(JSON.stringify({ changed: true, tools: tools.tools.map((t) => t.name).sort() }));
await client.close();
