//! Registry authentication: WWW-Authenticate challenges, Basic credentials and Bearer
//! tokens (fetched from the realm the registry names, cached per scope set until expiry).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

/// What the user gave us to authenticate with. Debug never prints secrets.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token from `docker login` (auth.json `identitytoken`).
    IdentityToken {
        username: String,
        token: String,
    },
    /// `--src-registry-token`: used as the Bearer token as it is.
    BearerToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => write!(f, "Anonymous"),
            Credentials::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
            Credentials::IdentityToken { username, .. } => {
                write!(
                    f,
                    "IdentityToken {{ username: {username:?}, token: <redacted> }}"
                )
            }
            Credentials::BearerToken(_) => write!(f, "BearerToken(<redacted>)"),
        }
    }
}

impl Credentials {
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            _ => None,
        }
    }
}

/// One challenge from a WWW-Authenticate header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// Scope the registry asked for (e.g. on insufficient_scope).
        scope: Option<String>,
        /// `error="insufficient_scope"` and the like.
        error: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` and `Basic realm="…"`.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out = Vec::new();
    let trimmed = header.trim();
    let (scheme, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => out.push(Challenge::Basic),
        "bearer" => {
            if let Some(realm) = params.get("realm") {
                out.push(Challenge::Bearer {
                    realm: realm.clone(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                    error: params.get("error").cloned(),
                });
            }
        }
        _ => {}
    }
    out
}

/// `key="quoted, value",key2=token` pairs.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// A token endpoint's answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    pub fn into_token(self) -> Option<(String, Duration)> {
        let token = if self.token.is_empty() {
            self.access_token
        } else {
            self.token
        };
        if token.is_empty() {
            return None;
        }
        // The distribution spec's default lifetime is 60 s.
        let lifetime = Duration::from_secs(self.expires_in.filter(|s| *s > 0).unwrap_or(60));
        Some((token, lifetime))
    }
}

/// Bearer tokens by scope set, dropped a little before they expire.
#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<String, (String, Instant)>,
}

impl TokenCache {
    pub fn get(&self, scopes: &str) -> Option<&str> {
        self.tokens
            .get(scopes)
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(t, _)| t.as_str())
    }

    pub fn insert(&mut self, scopes: &str, token: String, lifetime: Duration) {
        let margin = Duration::from_secs(5).min(lifetime / 2);
        self.tokens.insert(
            scopes.to_string(),
            (token, Instant::now() + lifetime - margin),
        );
    }

    pub fn forget(&mut self, scopes: &str) {
        self.tokens.remove(scopes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            vec![Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
                error: None,
            }]
        );
        assert_eq!(
            parse_challenges(r#"Basic realm="x""#),
            vec![Challenge::Basic]
        );
        let c = parse_challenges(r#"Bearer realm="r",error="insufficient_scope""#);
        assert!(
            matches!(&c[0], Challenge::Bearer { error: Some(e), .. } if e == "insufficient_scope")
        );
        assert!(parse_challenges("Negotiate abc").is_empty());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credentials::BearerToken("tok".into())).contains("tok"));
    }

    #[test]
    fn tokens_expire() {
        let mut cache = TokenCache::default();
        cache.insert("s", "t".into(), Duration::from_secs(60));
        assert_eq!(cache.get("s"), Some("t"));
        cache.insert("z", "t".into(), Duration::from_millis(0));
        assert_eq!(cache.get("z"), None);
    }

    #[test]
    fn token_response_defaults() {
        let r: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(r.into_token(), Some(("a".into(), Duration::from_secs(60))));
        let r: TokenResponse = serde_json::from_str(r#"{}"#).unwrap();
        assert_eq!(r.into_token(), None);
    }
}
