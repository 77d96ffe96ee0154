-- Scope-gated gateway tools (issue 14): each tool requires one of mcp:read, mcp:write,
-- mcp:admin; a gateway key carries a set of them. A tool outside the caller's scopes does not
-- exist for that caller.

-- The scope an operator set for the tool; NULL means derived (gateway::scopes): from the
-- alias's verb, else the upstream's annotations, else mcp:write. Derived, not stored, so a
-- rename or a sync that changes the annotations moves the default with it.
ALTER TABLE gateway_tools
    ADD COLUMN required_scope text CHECK (required_scope IN ('mcp:read', 'mcp:write', 'mcp:admin'));

-- Keys issued before scopes existed keep what they could do: read and write tools.
ALTER TABLE gateway_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{mcp:read,mcp:write}'
        CHECK (scopes <@ '{mcp:read,mcp:write,mcp:admin}'::text[] AND cardinality(scopes) > 0);
