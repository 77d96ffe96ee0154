// The seed's Ticket System as a real REST server nobody here wrote: json-server 0.17 with a
// `tickets` collection and a `me` object under /api/v1, behind a check of the X-API-Key header.
// Prints one JSON line per request as it arrived (method, raw path and query, JSON body, key).
//
// usage: node tickets_server.mjs <port> <api-key>...
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const jsonServer = require("json-server");
const [port, ...keys] = process.argv.slice(2);

const server = jsonServer.create();
const router = jsonServer.router({
  me: { email: "agent@example.com" },
  tickets: [{ id: "T-1", title: "Printer on fire", status: "open", assignee: "a@example.com" }],
});
server.use(jsonServer.bodyParser);
server.use((req, res, next) => {
  const [path, query] = req.originalUrl.split(/\?(.*)/s);
  const body = req.is("application/json") ? req.body : null;
  const api_key = req.get("x-api-key") ?? null;
  console.log(JSON.stringify({ method: req.method, path, query: query ?? null, body, api_key }));
  if (!keys.includes(api_key)) {
    return res.status(401).json({ error: "bad api key" });
  }
  next();
});
server.use(jsonServer.rewriter({ "/api/v1/*": "/$1" }));
server.use(router);
server.listen(Number(port), "127.0.0.1");
