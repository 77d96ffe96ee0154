// The TypeScript SDK v1 (@modelcontextprotocol/sdk) as an OAuth client of a Switchboard gateway:
// its transport meets the 401, and the SDK's `auth()` discovers the Protected Resource Metadata
// and the authorization server, registers (DCR), and sends the person to the consent page with
// PKCE. This script is that person: it submits the consent form over HTTP (signing in with a
// gateway key, then approving), hands the code back to the SDK, lists tools, then has `auth()`
// refresh the tokens and lists again. Prints one JSON line.
//
// usage: node gateway_oauth.mjs <mcp-url> <gateway-key>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, key] = process.argv.slice(2);
// Never visited: the consent's redirect is read from its Location header.
const redirectUrl = "http://127.0.0.1:9/callback";
const store = {};
const seen = {};

// The person at the browser: sign in with the key, approve, and read the code off the redirect.
async function consent(authorizationUrl) {
  const field = (html, name) => html.match(new RegExp(`name="${name}" value="([^"]+)"`))?.[1];
  const first = await fetch(authorizationUrl);
  const signIn = await first.text();
  if (first.status !== 200) throw new Error(`authorize: ${first.status} ${signIn}`);
  const action = signIn.match(/action="([^"]+)"/)[1];
  const post = (fields) => fetch(action, { method: "POST", body: new URLSearchParams(fields), redirect: "manual" });
  const consentPage = await (await post({ csrf: field(signIn, "csrf"), action: "sign_in", key })).text();
  const done = await post({ csrf: field(consentPage, "csrf"), action: "approve" });
  const back = new URL(done.headers.get("location"));
  seen.iss = back.searchParams.get("iss");
  seen.state = back.searchParams.get("state");
  return back.searchParams.get("code");
}

let code;
const provider = {
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return {
      client_name: "TypeScript SDK interop",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  state: () => "ts-sdk-state",
  clientInformation: () => store.client,
  saveClientInformation: (c) => void (store.client = c),
  tokens: () => store.tokens,
  saveTokens: (t) => void (store.tokens = t),
  saveCodeVerifier: (v) => void (store.verifier = v),
  codeVerifier: () => store.verifier,
  redirectToAuthorization: async (authorizationUrl) => {
    seen.authorization = Object.fromEntries(authorizationUrl.searchParams);
    code = await consent(authorizationUrl.href);
  },
};

const names = async (client) => (await client.listTools()).tools.map((t) => t.name).sort();
const client = new Client({ name: "switchboard-oauth-interop", version: "1.0.0" });
let transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
let unauthorized = false;
try {
  await client.connect(transport);
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
  unauthorized = true;
  await transport.finishAuth(code);
  transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await client.connect(transport);
}
const before = await names(client);
const first = store.tokens;
const refreshed = await auth(provider, { serverUrl: new URL(url) });
const second = store.tokens;
const after = await names(client);
console.log(
  JSON.stringify({
    unauthorized,
    client_id: store.client?.client_id ?? null,
    authorization: seen.authorization,
    iss: seen.iss,
    state: seen.state,
    scope: first.scope,
    before,
    refreshed,
    rotated: first.refresh_token !== second.refresh_token && first.access_token !== second.access_token,
    after,
  }),
);
await client.close();
