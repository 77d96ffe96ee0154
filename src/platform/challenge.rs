//! `WWW-Authenticate` parsing per RFC 9110 §11.6.1: several challenges per header, each a
//! scheme with either a token68 or comma-separated `name=value` parameters whose values may
//! be quoted strings containing commas and escapes. A `split(',')` gets all of that wrong.

/// One challenge, e.g. `Bearer resource_metadata="…", scope="a b"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub token68: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }
}

/// Parses every challenge in the given header values. Malformed parts end the parse of
/// that value; what was read before them is kept (servers in the wild are sloppy).
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        Parser { s: value.as_bytes(), i: 0 }.challenges(&mut out);
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    /// Skips whitespace and empty list elements (`, ,`).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    out.push(*self.s.get(self.i + 1)?);
                    self.i += 2;
                }
                c => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// If a `name = value` parameter starts here, reads it; otherwise leaves the position.
    fn param(&mut self) -> Option<(String, String)> {
        let start = self.i;
        let parsed = (|| {
            let name = self.token()?;
            self.skip_ws();
            (self.peek()? == b'=').then_some(())?;
            self.i += 1;
            self.skip_ws();
            let value = if self.peek()? == b'"' { self.quoted()? } else { self.token()? };
            self.skip_ws();
            matches!(self.peek(), None | Some(b',')).then_some((name, value))
        })();
        if parsed.is_none() {
            self.i = start;
        }
        parsed
    }

    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_token68_char) {
            self.i += 1;
        }
        while self.peek() == Some(b'=') {
            self.i += 1;
        }
        self.skip_ws();
        if self.i > start && matches!(self.peek(), None | Some(b',')) {
            Some(String::from_utf8_lossy(&self.s[start..self.i]).trim_end().to_owned())
        } else {
            self.i = start;
            None
        }
    }

    fn challenges(&mut self, out: &mut Vec<Challenge>) {
        self.skip_separators();
        while let Some(scheme) = self.token() {
            let mut challenge = Challenge { scheme, token68: None, params: Vec::new() };
            self.skip_ws();
            if let Some(param) = self.param() {
                challenge.params.push(param);
                // Further parameters belong to this challenge until a bare token (the next
                // scheme) appears.
                loop {
                    self.skip_separators();
                    match self.param() {
                        Some(param) => challenge.params.push(param),
                        None => break,
                    }
                }
            } else if let Some(token68) = self.token68() {
                challenge.token68 = Some(token68);
            }
            out.push(challenge);
            self.skip_separators();
            if self.peek().is_some_and(|c| !is_tchar(c)) {
                return; // malformed: stop, keep what we have
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(header: &str) -> Vec<Challenge> {
        parse([header])
    }

    #[test]
    fn bearer_with_resource_metadata_and_scope() {
        let c = one(
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read files:write""#,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].is_bearer());
        assert_eq!(
            c[0].param("resource_metadata"),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(c[0].param("SCOPE"), Some("files:read files:write"));
    }

    #[test]
    fn quoted_commas_and_escapes_stay_inside_the_value() {
        let c = one(r#"Bearer realm="a, b", error_description="say \"hi\", then go", error=invalid_token"#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert_eq!(c[0].param("error_description"), Some(r#"say "hi", then go"#));
        assert_eq!(c[0].param("error"), Some("invalid_token"));
    }

    #[test]
    fn several_schemes_in_one_header_and_across_headers() {
        let c = one(r#"DPoP algs="ES256 PS256", Bearer resource_metadata="https://a/x", Basic realm="r""#);
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["DPoP", "Bearer", "Basic"]);
        assert_eq!(c[1].param("resource_metadata"), Some("https://a/x"));
        assert_eq!(c[0].param("algs"), Some("ES256 PS256"));

        let c = parse([r#"Basic realm="x""#, r#"Bearer scope="s""#]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].param("scope"), Some("s"));
    }

    #[test]
    fn token68_and_bare_schemes() {
        let c = one(
            "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHg==, Bearer",
        );
        assert_eq!(c.len(), 2);
        assert!(c[0].token68.as_deref().unwrap().ends_with("=="));
        assert!(c[1].is_bearer() && c[1].params.is_empty());
        assert_eq!(one("Bearer").len(), 1);
    }

    #[test]
    fn spacing_and_empty_elements_are_tolerated() {
        let c = one(r#" ,Bearer  realm = "r" , , scope=a ,"#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("realm"), Some("r"));
        assert_eq!(c[0].param("scope"), Some("a"));
    }

    #[test]
    fn garbage_yields_what_parsed_and_never_panics() {
        for junk in [
            "",
            "\"",
            "=",
            "Bearer =",
            "Bearer realm=\"unterminated",
            "Bearer a=b=c",
            "\u{0}\u{1}",
            "Bearer , =",
        ] {
            let _ = one(junk);
        }
        assert!(one("").is_empty());
        assert_eq!(one(r#"Bearer realm="unterminated"#)[0].scheme, "Bearer");
    }
}
