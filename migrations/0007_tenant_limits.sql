-- Per-tenant overrides of the configured rate limits (NULL = the default). Zero means
-- unlimited, as it does for the defaults.
ALTER TABLE tenants
    ADD COLUMN limit_api_rps integer CHECK (limit_api_rps >= 0),
    ADD COLUMN limit_api_burst integer CHECK (limit_api_burst >= 0),
    ADD COLUMN limit_proxy_rps integer CHECK (limit_proxy_rps >= 0),
    ADD COLUMN limit_proxy_burst integer CHECK (limit_proxy_burst >= 0),
    ADD COLUMN limit_proxy_streams integer CHECK (limit_proxy_streams >= 0);
