// The MCP conformance suite's "client under test", played by Switchboard: the suite runs
// `node conformance_client.mjs <server-url>` with MCP_CONFORMANCE_SCENARIO (and, for some
// scenarios, MCP_CONFORMANCE_CONTEXT) set. This script only drives Switchboard's REST API
// (SWITCHBOARD_URL, SWITCHBOARD_KEY); every MCP request the suite's server sees comes from
// Switchboard itself: create a connector for the URL, connect (following an authorization
// URL like a browser, for auth scenarios), sync, and call every tool it found directly.
// Exits non-zero when a step fails, printing Switchboard's problem.

const [serverUrl] = process.argv.slice(2);
const { SWITCHBOARD_URL: base, SWITCHBOARD_KEY: key, MCP_CONFORMANCE_SCENARIO: scenario = "" } = process.env;
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? "{}");

async function api(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
  return json;
}

// What a person's browser does with an authorization URL: follow the authorization server's
// redirects (it auto-approves) until they reach Switchboard's callback.
async function authorize(url) {
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, { redirect: "manual" });
    const next = response.headers.get("location");
    if (!next) return response;
    url = new URL(next, url).toString();
  }
  throw new Error("too many redirects while authorizing");
}

// Arguments for a tool: the suite's own when it gives some, else one value per required property.
function argumentsFor(tool) {
  const given = (context.toolCalls ?? []).find((c) => c.name === tool.name);
  if (given) return given.arguments ?? {};
  const schema = tool.input_schema ?? {};
  const sample = { number: 1, integer: 1, string: "conformance", boolean: true, array: [], object: {} };
  return Object.fromEntries(
    (schema.required ?? []).map((name) => [name, sample[schema.properties?.[name]?.type] ?? null]),
  );
}

async function connect(id) {
  let connector = await api("POST", `/api/v1/connectors/${id}/connect`, {});
  for (let round = 0; connector.status === "pending_authorization" && round < 3; round++) {
    await authorize(connector.authorization_url);
    connector = await api("GET", `/api/v1/connectors/${id}`);
  }
  if (connector.status !== "connected") throw new Error(`not connected: ${JSON.stringify(connector)}`);
  return connector;
}

async function main() {
  const oauth = scenario.startsWith("auth/");
  const auth = oauth ? { mode: "oauth2_authorization_code" } : { mode: "none" };
  const created = await api("POST", "/api/v1/connectors", { url: serverUrl, auth, discover: oauth });
  const connector = await connect(created.id);
  await api("POST", `/api/v1/connectors/${created.id}/sync`, {});
  const tools = await api("GET", `/api/v1/connectors/${created.id}/tools?limit=200`);
  for (const summary of tools.items) {
    const tool = await api("GET", `/api/v1/connectors/${created.id}/tools/${encodeURIComponent(summary.name)}`);
    const call = { arguments: argumentsFor(tool) };
    const result = await api("POST", `/api/v1/connectors/${created.id}/tools/${encodeURIComponent(tool.name)}/call`, call);
    console.log(JSON.stringify({ tool: tool.name, result }));
  }
  console.log(JSON.stringify({ connected: connector.server_info, tools: tools.items.length }));
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
