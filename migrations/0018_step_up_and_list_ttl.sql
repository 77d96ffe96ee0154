-- Step-up (SEP-835): the scopes an upstream last said a request needs beyond the grant's
-- (a 403 `insufficient_scope`); empty when none. The next connect asks for them too.
ALTER TABLE connectors ADD COLUMN scope_required text[] NOT NULL DEFAULT '{}';
-- The `ttlMs` of the last tools/list (MCP 2026-07-28 caching hints): when the periodic
-- resync is due for this connector (never sooner than the worker's floor). NULL: none given.
ALTER TABLE connectors ADD COLUMN tools_ttl_ms bigint;
