// The TypeScript SDK v2 server (`@modelcontextprotocol/server` 2.4.0), for interop tests: one
// `echo` tool, served on 127.0.0.1:$PORT/mcp by the SDK's own web-standard handler.
// ERA=modern serves 2026-07-28 only (legacy requests are rejected); ERA=dual also serves
// 2025-era requests statelessly. TOKEN, when set, is the static bearer token it requires.
// Every request's MCP headers are printed as one JSON line on stdout (the tests read them).
import http from "node:http";
import { McpServer, createMcpHandler } from "@modelcontextprotocol/server";
import * as z from "zod";

const { PORT, ERA = "modern", TOKEN } = process.env;
const modernOnly = ERA === "modern";

const factory = () => {
  const server = new McpServer(
    { name: `ts-v2-${ERA}`, version: "2.4.0" },
    { ...(modernOnly ? { supportedProtocolVersions: ["2026-07-28"] } : {}), instructions: "echoes" },
  );
  server.registerTool(
    "echo",
    { description: "Echoes a message", inputSchema: z.object({ message: z.string() }) },
    async ({ message }) => ({ content: [{ type: "text", text: `echo: ${message}` }] }),
  );
  // Announces a tool list change to every open `subscriptions/listen` stream.
  server.registerTool("touch", { description: "Announces a tool list change" }, async () => {
    handler.notify.toolsChanged();
    return { content: [{ type: "text", text: "touched" }] };
  });
  return server;
};
const handler = createMcpHandler(factory, { legacy: modernOnly ? "reject" : "stateless" });

const mcpHeaders = (req) =>
  Object.fromEntries(
    Object.entries(req.headers).filter(([name]) => name.startsWith("mcp-") || name === "last-event-id"),
  );

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname !== "/mcp") {
      res.writeHead(req.url === "/" ? 200 : 404).end();
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    console.log(JSON.stringify({ method: req.method, headers: mcpHeaders(req), body: body.toString() }));
    if (TOKEN && req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="interop"' }).end();
      return;
    }
    const request = new Request(url, {
      method: req.method,
      headers: Object.entries(req.headers).filter(([, v]) => typeof v === "string"),
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    const response = await handler.fetch(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) return res.end();
    for await (const chunk of response.body) res.write(chunk);
    res.end();
  })
  .listen(Number(PORT), "127.0.0.1");
