// The MCP conformance suite's "client under test", played by Switchboard: the suite runs
// `node conformance_client.mjs <server-url>` with MCP_CONFORMANCE_SCENARIO (and, for some
// scenarios, MCP_CONFORMANCE_CONTEXT) set. This script only drives Switchboard's REST API
// (SWITCHBOARD_URL, SWITCHBOARD_KEY); every MCP request the suite's server sees comes from
// Switchboard itself: create a connector for the URL, connect (following an authorization
// URL like a browser, for auth scenarios), sync, and call every tool it found directly.
// When Switchboard answers that the upstream wants an authorization the connector lacks
// (`needs_authorization`: a late 401, a changed authorization server; `insufficient_scope`:
// step-up), it connects again (Switchboard chooses the scopes and the authorization server)
// and retries, at most three times. Exits non-zero when a step fails, printing the problem.

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
  if (!response.ok) {
    const error = new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    error.code = json?.code;
    throw error;
  }
  return json;
}

// The problems that connecting again can answer.
const REAUTHORIZE = new Set(["needs_authorization", "insufficient_scope", "connector_not_connected"]);

async function withAuthorization(id, step) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (!REAUTHORIZE.has(error.code) || attempt >= 3) throw error;
      console.log(JSON.stringify({ reauthorizing: error.code }));
      await connect(id);
    }
  }
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

// Arguments for a tool: the suite's own when it gives some, else one value per required
// property. A null the suite gives for an optional property is left out: Switchboard checks
// arguments against the tool's schema (null is not a boolean), and for the upstream an
// omitted argument and a null one mean the same (no Mcp-Param-* header either way).
function argumentsFor(tool) {
  const given = (context.toolCalls ?? []).find((c) => c.name === tool.name);
  if (given) return Object.fromEntries(Object.entries(given.arguments ?? {}).filter(([, v]) => v !== null));
  const schema = tool.input_schema ?? {};
  const sample = { number: 1, integer: 1, string: "conformance", boolean: true, array: [], object: {} };
  return Object.fromEntries(
    (schema.required ?? []).map((name) => [name, sample[schema.properties?.[name]?.type] ?? null]),
  );
}

// Connects (through the browser when it is pending). The first sync runs as the connect
// ends; if it finds that the upstream moved to another authorization server, the connector
// is disconnected again (`authorization_server_changed`) and is connected once more.
async function connect(id) {
  for (let round = 0; round < 3; round++) {
    let connector = await api("POST", `/api/v1/connectors/${id}/connect`, {});
    if (connector.status === "pending_authorization") {
      await authorize(connector.authorization_url);
      connector = await api("GET", `/api/v1/connectors/${id}`);
    }
    if (connector.status === "connected") return connector;
    if (connector.disconnect_reason?.code !== "authorization_server_changed") {
      throw new Error(`not connected: ${JSON.stringify(connector)}`);
    }
  }
  throw new Error("still not connected after three rounds");
}

// The connector's auth: OAuth for auth scenarios, with the suite's pre-registered client
// when it gives one.
function authFor() {
  if (!scenario.startsWith("auth/")) return { mode: "none" };
  const mode = scenario.includes("client-credentials") ? "oauth2_client_credentials" : "oauth2_authorization_code";
  const client = context.client_id ? { client_id: context.client_id, client_secret: context.client_secret } : {};
  return { mode, ...client };
}

async function main() {
  const auth = authFor();
  const created = await api("POST", "/api/v1/connectors", { url: serverUrl, auth, discover: auth.mode !== "none" });
  const id = created.id;
  const connector = await connect(id);
  await withAuthorization(id, () => api("POST", `/api/v1/connectors/${id}/sync`, {}));
  const tools = await api("GET", `/api/v1/connectors/${id}/tools?limit=200`);
  for (const summary of tools.items) {
    const tool = await api("GET", `/api/v1/connectors/${id}/tools/${encodeURIComponent(summary.name)}`);
    const call = { arguments: argumentsFor(tool) };
    const path = `/api/v1/connectors/${id}/tools/${encodeURIComponent(tool.name)}/call`;
    const result = await withAuthorization(id, () => api("POST", path, call));
    console.log(JSON.stringify({ tool: tool.name, result }));
  }
  console.log(JSON.stringify({ connected: connector.server_info, tools: tools.items.length }));
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
