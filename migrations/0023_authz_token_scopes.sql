-- An access token issued by a refresh with a narrower `scope` (RFC 6749 §6) carries its own
-- scopes; null means the grant's (every code exchange, every refresh without `scope`). The
-- grant, and so its refresh tokens, keep the scopes consented to.
ALTER TABLE authz_tokens ADD COLUMN scopes text[]
    CHECK (scopes <@ '{mcp:read,mcp:write,mcp:admin}'::text[] AND cardinality(scopes) > 0);
