-- Announces changed gateways on the change channel of migration 0005, as `gateway:<id>`: the
-- MCP endpoint reads a gateway's row on every request and caches it in process, by id and by
-- slug (decision 0068). A deletion is announced too (its tools and keys announce theirs).
CREATE TRIGGER gateway_announced AFTER UPDATE OR DELETE ON gateways
    FOR EACH ROW EXECUTE FUNCTION announce_change('gateway');
