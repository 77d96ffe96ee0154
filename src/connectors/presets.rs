//! Connector presets: known MCP servers with display data and, optionally, a pre-registered
//! OAuth client. Loaded once at start-up from `SWITCHBOARD_PRESETS` (or its alias
//! `CONNECTOR__PRESETS`), else the built-in list.

use anyhow::{Context as _, bail};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

use super::model::Metadata;
use crate::mcp::Transport;

/// A preset as configured. `client_secret` is never serialised back out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Stable identifier; defaults to a slug of the name, else of the host.
    #[serde(default)]
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub transport: Option<Transport>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<SecretString>,
}

/// A preset as listed to tenants: no client secret, only whether one is configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresetView {
    pub id: String,
    pub url: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub transport: Transport,
    pub metadata: Metadata,
    /// True when the preset supplies a pre-registered OAuth client.
    pub has_client: bool,
}

impl Preset {
    pub fn view(&self) -> PresetView {
        PresetView {
            id: self.id.clone(),
            url: self.url.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            transport: self.transport.unwrap_or_default(),
            metadata: self.metadata.clone(),
            has_client: self.client_id.is_some(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Presets {
    presets: Vec<Preset>,
}

impl Presets {
    /// `spec` is a JSON array, `@/path/to/file.json`, or `None` for the built-in presets.
    pub fn load(spec: Option<&str>) -> anyhow::Result<Self> {
        let json = match spec.map(str::trim) {
            None | Some("") => return Ok(Self::builtin()),
            Some(s) if s.starts_with('@') => std::fs::read_to_string(&s[1..])
                .with_context(|| format!("reading presets file {}", &s[1..]))?,
            Some(s) => s.to_owned(),
        };
        let presets: Vec<Preset> =
            serde_json::from_str(&json).context("presets must be a JSON array of presets")?;
        Self::new(presets)
    }

    pub fn new(mut presets: Vec<Preset>) -> anyhow::Result<Self> {
        for (i, preset) in presets.iter_mut().enumerate() {
            preset.normalise().with_context(|| format!("preset #{i} ({})", preset.url))?;
        }
        for (i, preset) in presets.iter().enumerate() {
            if presets[..i].iter().any(|p| p.id == preset.id) {
                bail!("two presets have the id {:?}; give them distinct `id`s", preset.id);
            }
        }
        Ok(Self { presets })
    }

    pub fn builtin() -> Self {
        let preset = |id: &str, url: &str, name: &str, description: &str, transport| Preset {
            id: id.into(),
            url: url.into(),
            name: Some(name.into()),
            description: Some(description.into()),
            transport: Some(transport),
            metadata: Metadata::new(),
            client_id: None,
            client_secret: None,
        };
        let http = Transport::StreamableHttp;
        Self::new(vec![
            preset(
                "stripe",
                "https://mcp.stripe.com",
                "Stripe",
                "Payment processing and financial infrastructure tools",
                http,
            ),
            preset(
                "box",
                "https://mcp.box.com",
                "Box",
                "Search, access and get insights on your Box content",
                http,
            ),
            preset(
                "github",
                "https://api.githubcopilot.com/mcp",
                "GitHub",
                "Access and interact with your GitHub repositories and code intelligence",
                http,
            ),
            preset(
                "linear",
                "https://mcp.linear.app/sse",
                "Linear",
                "Issues, projects and cycles in Linear",
                Transport::Sse,
            ),
            preset(
                "deepwiki",
                "https://mcp.deepwiki.com/mcp",
                "DeepWiki",
                "Documentation and questions about public GitHub repositories",
                http,
            ),
        ])
        .expect("built-in presets are valid")
    }

    pub fn all(&self) -> &[Preset] {
        &self.presets
    }

    /// The preset whose URL equals `url` after normalisation, if any.
    pub fn find_by_url(&self, url: &Url) -> Option<&Preset> {
        let key = match_key(url);
        self.presets.iter().find(|p| Url::parse(&p.url).is_ok_and(|u| match_key(&u) == key))
    }
}

impl Preset {
    fn normalise(&mut self) -> anyhow::Result<()> {
        let url = Url::parse(&self.url).context("url is not a valid URL")?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            bail!("url must be an http(s) URL with a host");
        }
        if self.client_secret.is_some() && self.client_id.is_none() {
            bail!("client_secret requires client_id");
        }
        // Agent Stack presets keep name and description inside `metadata`.
        self.name = self.name.take().or_else(|| self.metadata.get("name").cloned());
        self.description = self.description.take().or_else(|| self.metadata.get("description").cloned());
        if self.id.trim().is_empty() {
            let base = self.name.clone().unwrap_or_else(|| url.host_str().unwrap_or_default().to_owned());
            self.id = slug(&base);
        }
        Ok(())
    }
}

/// Scheme and host are compared case-insensitively (the URL parser lowercases them and drops
/// default ports); a trailing slash on the path does not matter.
fn match_key(url: &Url) -> String {
    let mut key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        key.push_str(&format!(":{port}"));
    }
    key.push_str(url.path().trim_end_matches('/'));
    if let Some(query) = url.query() {
        key.push('?');
        key.push_str(query);
    }
    key
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_presets_match_case_and_trailing_slash_insensitively() {
        let presets = Presets::builtin();
        let find = |u: &str| presets.find_by_url(&Url::parse(u).unwrap()).map(|p| p.id.as_str());
        assert_eq!(find("https://API.githubcopilot.com/mcp/"), Some("github"));
        assert_eq!(find("HTTPS://mcp.stripe.com/"), Some("stripe"));
        assert_eq!(find("https://mcp.stripe.com:443"), Some("stripe"));
        assert_eq!(find("https://mcp.stripe.com/other"), None);
        assert_eq!(find("http://mcp.stripe.com"), None);
        assert_eq!(presets.all().iter().find(|p| p.id == "linear").unwrap().transport, Some(Transport::Sse));
    }

    #[test]
    fn agent_stack_format_is_accepted() {
        let json = r#"[{"url":"https://mcp.box.com","client_id":"cid","client_secret":"shh",
                        "metadata":{"name":"Box Corp","description":"files"}}]"#;
        let presets = Presets::load(Some(json)).unwrap();
        let p = &presets.all()[0];
        assert_eq!((p.id.as_str(), p.name.as_deref()), ("box-corp", Some("Box Corp")));
        assert_eq!(p.description.as_deref(), Some("files"));
        assert!(p.view().has_client);
        assert!(!serde_json::to_string(&p.view()).unwrap().contains("shh"));
    }

    #[test]
    fn invalid_presets_are_refused_with_a_reason() {
        for bad in [
            "{}",
            r#"[{"url":"ftp://x"}]"#,
            r#"[{"url":"https://x","client_secret":"s"}]"#,
            r#"[{"url":"https://x","unknown":1}]"#,
            r#"[{"url":"https://a","id":"x"},{"url":"https://b","id":"x"}]"#,
        ] {
            assert!(Presets::load(Some(bad)).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn presets_load_from_a_file() {
        let path = std::env::temp_dir().join(format!("presets-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&path, r#"[{"id":"x","url":"https://x.example/mcp"}]"#).unwrap();
        let presets = Presets::load(Some(&format!("@{}", path.display()))).unwrap();
        assert_eq!(presets.all()[0].id, "x");
        std::fs::remove_file(path).unwrap();
    }
}
