-- Announces changed tenants on the change channel of migration 0005, as `tenant:<id>`: whether
-- a tenant logs tool payloads is read on every tool call and cached in process (decision 0065).
CREATE TRIGGER tenant_announced AFTER UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION announce_change('tenant');
