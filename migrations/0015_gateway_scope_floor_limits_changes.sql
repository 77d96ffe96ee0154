-- Gateway review fixes and issue 13's remaining pieces.

-- What the upstream's annotations said of a gateway tool when it was added (decision 0062):
-- a later sync may tighten the derived scope, never loosen it below this. NULL = they said
-- nothing (the default, mcp:write, is the floor then). Existing tools take what their
-- catalog entry says now, with the rule of gateway::scopes::by_annotations (only a JSON
-- `true` counts; destructive wins over read-only).
ALTER TABLE gateway_tools
    ADD COLUMN annotation_scope text CHECK (annotation_scope IN ('mcp:read', 'mcp:write', 'mcp:admin'));
UPDATE gateway_tools g
SET annotation_scope = CASE
        WHEN t.annotations -> 'destructiveHint' = 'true'::jsonb THEN 'mcp:admin'
        WHEN t.annotations -> 'readOnlyHint' = 'true'::jsonb THEN 'mcp:read'
    END
FROM tools t
WHERE t.connector_id = g.connector_id AND t.name = g.tool_name;

-- A gateway's override of the configured rate limit per gateway key (NULL = the default;
-- a rate of 0 = unlimited, as for tenants' limits).
ALTER TABLE gateways
    ADD COLUMN key_rps integer CHECK (key_rps >= 0),
    ADD COLUMN key_burst integer CHECK (key_burst >= 0);

-- What a gateway's MCP clients see changed: its tools (added, changed, removed), or the
-- catalog of a connector they come from (a sync). Announced on the change channel of
-- migration 0005 as `gateway_tools:<gateway id>` and `connector_tools:<connector id>`, so
-- every replica can send `notifications/tools/list_changed` to the clients it holds open.
-- Postgres folds identical notifications of one transaction into one: a bulk add or a sync
-- is announced once.
CREATE FUNCTION announce_gateway_tools() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('switchboard_changes', 'gateway_tools:' || COALESCE(NEW.gateway_id, OLD.gateway_id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER gateway_tools_announced AFTER INSERT OR UPDATE OR DELETE ON gateway_tools
    FOR EACH ROW EXECUTE FUNCTION announce_gateway_tools();

CREATE FUNCTION announce_connector_tools() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('switchboard_changes', 'connector_tools:' || COALESCE(NEW.connector_id, OLD.connector_id));
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER connector_tools_announced AFTER INSERT OR UPDATE OR DELETE ON tools
    FOR EACH ROW EXECUTE FUNCTION announce_connector_tools();
