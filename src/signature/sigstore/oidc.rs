//! Getting the OIDC ID token Fulcio certifies a key for, in the three `oidcMode`s of
//! containers-sigstore-signing-params.yaml(5), as sigstore's `oauthflow` does:
//! `staticToken` (read without verification: Fulcio verifies it), `deviceGrant`
//! (RFC 8628 with PKCE) and `interactive` (authorization code with PKCE, redirected to a
//! loopback listener, or pasted by hand when no browser opens). Tokens obtained from the
//! issuer are verified against its published keys before use.

use std::io::Write;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::http::http_client;
use crate::policy::json::go_quote;

/// A token and the subject (verified email, else `sub`) Fulcio will certify.
#[derive(Debug, Clone)]
pub struct IdToken {
    pub raw: String,
    pub subject: String,
}

fn b64url() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The claims sigstore reads; `email_verified` may be a string, as some issuers send it.
#[derive(Deserialize, Default)]
struct Claims {
    #[serde(default)]
    email: String,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    iss: String,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nonce: Option<String>,
}

/// `subjectFromClaims`.
fn subject_of(c: &Claims) -> Result<String, String> {
    if !c.email.is_empty() {
        let verified = matches!(&c.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&c.email_verified, Some(serde_json::Value::String(s)) if s == "true" || s == "True");
        if !verified {
            return Err("not verified by identity provider".into());
        }
        return Ok(c.email.clone());
    }
    if c.sub.is_empty() {
        return Err("no subject found in claims".into());
    }
    Ok(c.sub.clone())
}

/// The three parts of a compact JWS.
struct Jws<'a> {
    header: serde_json::Value,
    claims: Claims,
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn parse_jws(raw: &str) -> Result<Jws<'_>, String> {
    let parts: Vec<&str> = raw.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("go-jose/go-jose: compact JWS format must have three parts".into());
    };
    let decode = |p: &str| {
        b64url()
            .decode(p.trim_end_matches('='))
            .map_err(|e| e.to_string())
    };
    let header: serde_json::Value =
        serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
    let claims: Claims = serde_json::from_slice(&decode(payload)?).map_err(|e| e.to_string())?;
    Ok(Jws {
        header,
        claims,
        signing_input: &raw[..raw.rfind('.').unwrap_or(0)],
        signature: decode(signature)?,
    })
}

/// `StaticTokenGetter`: the token as given; its claims are read, not verified.
pub fn static_token(raw: &str) -> Result<IdToken, String> {
    let jws = parse_jws(raw).map_err(|e| format!("parsing OIDC token: {e}"))?;
    let subject = subject_of(&jws.claims).map_err(|e| format!("parsing OIDC token: {e}"))?;
    Ok(IdToken {
        raw: raw.to_string(),
        subject,
    })
}

/// What the issuer's discovery document says.
#[derive(Deserialize)]
struct Provider {
    issuer: String,
    #[serde(default)]
    authorization_endpoint: String,
    #[serde(default)]
    token_endpoint: String,
    #[serde(default)]
    jwks_uri: String,
    #[serde(default)]
    device_authorization_endpoint: String,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

async fn discover(client: &reqwest::Client, issuer: &str) -> Result<Provider, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let resp = client.get(&url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    let p: Provider = serde_json::from_slice(&body)
        .map_err(|e| format!("oidc: failed to decode provider discovery object: {e}"))?;
    if p.issuer != issuer {
        return Err(format!(
            "oidc: issuer did not match the issuer returned by provider, expected {} got {}",
            go_quote(issuer),
            go_quote(&p.issuer)
        ));
    }
    Ok(p)
}

/// A PKCE verifier (64 URL-safe characters) and its S256 challenge.
struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    fn new(p: &Provider) -> Result<Pkce, String> {
        if !p
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            return Err(format!(
                "PKCE is not supported by OIDC provider '{}'",
                p.authorization_endpoint
            ));
        }
        let verifier = random_string(48)?;
        let challenge = b64url().encode(sha2::Sha256::digest(verifier.as_bytes()));
        Ok(Pkce {
            verifier,
            challenge,
        })
    }
}

fn random_string(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| "random number generator failed".to_string())?;
    Ok(b64url().encode(buf))
}

/// `oidc.IDTokenVerifier.Verify` with the client ID: signed by one of the issuer's keys,
/// issued by it, for this client, not expired.
async fn verify_id_token(
    client: &reqwest::Client,
    provider: &Provider,
    client_id: &str,
    raw: &str,
) -> Result<Claims, String> {
    let jws = parse_jws(raw).map_err(|e| format!("oidc: malformed jwt: {e}"))?;
    let jwks = client
        .get(&provider.jwks_uri)
        .send()
        .await
        .map_err(|e| format!("fetching keys {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("fetching keys {e}"))?;
    let jwks: serde_json::Value =
        serde_json::from_slice(&jwks).map_err(|e| format!("oidc: failed to decode keys: {e}"))?;
    let alg = jws.header["alg"].as_str().unwrap_or_default();
    let kid = jws.header["kid"].as_str();
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let verified = keys
        .iter()
        .filter(|k| kid.is_none() || k["kid"].as_str() == kid)
        .any(|k| jwk_verifies(k, alg, jws.signing_input.as_bytes(), &jws.signature));
    if !verified {
        return Err("failed to verify signature: failed to verify id token signature".into());
    }
    let c = jws.claims;
    if c.iss != provider.issuer {
        return Err(format!(
            "oidc: id token issued by a different provider, expected {} got {}",
            go_quote(&provider.issuer),
            go_quote(&c.iss)
        ));
    }
    let audiences: Vec<String> = match &c.aud {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| a == client_id) {
        return Err(format!(
            "oidc: expected audience {} got [{}]",
            go_quote(client_id),
            audiences
                .iter()
                .map(|a| go_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    if c.exp.is_some_and(|exp| exp < now) {
        return Err("oidc: token is expired".into());
    }
    Ok(c)
}

/// RS256 and ES256 JWKs (what OIDC issuers sign ID tokens with).
fn jwk_verifies(jwk: &serde_json::Value, alg: &str, input: &[u8], sig: &[u8]) -> bool {
    use ring::signature as rsig;
    let field = |name: &str| {
        jwk[name]
            .as_str()
            .and_then(|v| b64url().decode(v.trim_end_matches('=')).ok())
    };
    match (alg, jwk["kty"].as_str()) {
        ("RS256", Some("RSA")) => match (field("n"), field("e")) {
            (Some(n), Some(e)) => rsig::RsaPublicKeyComponents { n, e }
                .verify(&rsig::RSA_PKCS1_2048_8192_SHA256, input, sig)
                .is_ok(),
            _ => false,
        },
        ("ES256", Some("EC")) => match (field("x"), field("y")) {
            (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                let point = [&[4u8][..], &x, &y].concat();
                rsig::UnparsedPublicKey::new(&rsig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(input, sig)
                    .is_ok()
            }
            _ => false,
        },
        _ => false,
    }
}

/// Settings of the flows that talk to the issuer.
pub struct Flow<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    /// Where instructions for the user go (skopeo: standard output).
    pub out: &'a mut (dyn Write + Send),
}

/// `DeviceFlowTokenGetter`.
pub async fn device_grant(flow: Flow<'_>) -> Result<IdToken, String> {
    let client = http_client().map_err(|e| e.to_string())?;
    let provider = discover(&client, flow.issuer).await?;
    let pkce = Pkce::new(&provider)?;
    if provider.device_authorization_endpoint.is_empty() {
        return Err("oidc: device authorization endpoint not returned by provider".into());
    }
    let resp = client
        .post(&provider.device_authorization_endpoint)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(form_body(&[
            ("client_id", flow.client_id),
            ("scope", "openid email"),
            ("code_challenge_method", "S256"),
            ("code_challenge", &pkce.challenge),
        ]))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    #[derive(Deserialize)]
    struct DeviceResp {
        device_code: String,
        #[serde(default)]
        user_code: String,
        #[serde(default)]
        verification_uri: String,
        #[serde(default)]
        verification_uri_complete: String,
        #[serde(default)]
        interval: u64,
        #[serde(default)]
        expires_in: u64,
    }
    let device: DeviceResp = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let uri = if device.verification_uri_complete.is_empty() {
        &device.verification_uri
    } else {
        &device.verification_uri_complete
    };
    let say = |out: &mut (dyn Write + Send), s: String| {
        let _ = writeln!(out, "{s}");
        let _ = out.flush();
    };
    say(
        flow.out,
        format!(
            "Enter the verification code {} in your browser at: {uri}",
            device.user_code
        ),
    );
    say(
        flow.out,
        format!("Code will be valid for {} seconds", device.expires_in),
    );
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", flow.client_id),
        ("device_code", device.device_code.as_str()),
        ("scope", "openid email"),
        ("code_verifier", pkce.verifier.as_str()),
        ("client_secret", flow.client_secret),
    ];
    // The secret only when there is one (sigstore's issuer has none).
    let form = &form[..if flow.client_secret.is_empty() { 5 } else { 6 }];
    let id_token = poll_device_token(&client, &provider, form, device.interval).await?;
    say(flow.out, "Token received!".into());
    let claims = verify_id_token(&client, &provider, flow.client_id, &id_token).await?;
    Ok(IdToken {
        raw: id_token,
        subject: subject_of(&claims)?,
    })
}

/// Asks the token endpoint until the user has approved the device (RFC 8628 3.4-3.5).
async fn poll_device_token(
    client: &reqwest::Client,
    provider: &Provider,
    form: &[(&str, &str)],
    interval: u64,
) -> Result<String, String> {
    let mut interval = interval.max(1);
    loop {
        let answer = token_request(client, &provider.token_endpoint, form).await?;
        if !answer.id_token.is_empty() {
            return Ok(answer.id_token);
        }
        match answer.error.as_str() {
            "access_denied" | "expired_token" => {
                return Err(format!("error obtaining token: {}", answer.error));
            }
            "authorization_pending" => {}
            "slow_down" => interval += 5,
            other => return Err(format!("unexpected error in device flow: {other}")),
        }
        tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// POSTs a form to the token endpoint; its JSON answer (an `error` is an answer too).
async fn token_request(
    client: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, String> {
    let body = client
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, FORM)
        .body(form_body(form))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("oauth2: cannot parse json: {e}"))
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: String,
    #[serde(default)]
    error: String,
}

/// `InteractiveIDTokenGetter`: the user signs in in a browser that the issuer redirects
/// to a loopback listener; if no browser can be opened, the user pastes the code.
pub async fn interactive(flow: Flow<'_>) -> Result<IdToken, String> {
    let client = http_client().map_err(|e| e.to_string())?;
    let provider = discover(&client, flow.issuer).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting redirect listener: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("starting redirect listener: {e}"))?
        .port();
    let state = random_string(96)?;
    let nonce = random_string(96)?;
    let pkce = Pkce::new(&provider)?;
    let auth_url = |redirect: &str| {
        let mut u = url::Url::parse(&provider.authorization_endpoint)
            .map_err(|e| format!("invalid authorization endpoint: {e}"))?;
        u.query_pairs_mut()
            .append_pair("access_type", "online")
            .append_pair("client_id", flow.client_id)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("nonce", &nonce)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid email")
            .append_pair("state", &state);
        Ok::<String, String>(u.to_string())
    };
    let mut redirect = format!("http://localhost:{port}/auth/callback");
    let url = auth_url(&redirect)?;
    let code = match open_browser(&url) {
        Ok(()) => {
            let _ = writeln!(flow.out, "Your browser will now be opened to:\n{url}");
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(120),
                accept_callback(&listener, &state),
            )
            .await
            .unwrap_or_else(|_| Err("timeout".into()));
            match waited {
                Ok(code) => code,
                Err(e) => {
                    let _ = writeln!(flow.out, "error getting code from local server: {e}");
                    redirect = OOB_REDIRECT.into();
                    paste_code(flow.out, &auth_url(&redirect)?)?
                }
            }
        }
        Err(e) => {
            let _ = writeln!(flow.out, "error opening browser: {e}");
            redirect = OOB_REDIRECT.into();
            paste_code(flow.out, &auth_url(&redirect)?)?
        }
    };
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("client_id", flow.client_id),
        ("code_verifier", pkce.verifier.as_str()),
        ("nonce", nonce.as_str()),
    ];
    if !flow.client_secret.is_empty() {
        form.push(("client_secret", flow.client_secret));
    }
    let answer = token_request(&client, &provider.token_endpoint, &form).await?;
    if answer.id_token.is_empty() {
        return Err("id_token not present".into());
    }
    let claims = verify_id_token(&client, &provider, flow.client_id, &answer.id_token).await?;
    if claims.nonce.as_deref() != Some(nonce.as_str()) {
        return Err("nonce does not match value sent".into());
    }
    Ok(IdToken {
        raw: answer.id_token,
        subject: subject_of(&claims)?,
    })
}

const OOB_REDIRECT: &str = "urn:ietf:wg:oauth:2.0:oob";

/// pkg/browser on Linux: the first of xdg-open, x-www-browser, www-browser that runs.
fn open_browser(url: &str) -> Result<(), String> {
    for cmd in ["xdg-open", "x-www-browser", "www-browser"] {
        let started = std::process::Command::new(cmd)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(mut child) = started {
            // Reap it in the background; its exit status says nothing about the sign-in.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
    }
    Err("exec: \"xdg-open,x-www-browser,www-browser\": executable file not found in $PATH".into())
}

fn paste_code(out: &mut (dyn Write + Send), url: &str) -> Result<String, String> {
    let _ = writeln!(out, "Go to the following link in a browser:\n\n\t {url}");
    let _ = write!(out, "Enter verification code: ");
    let _ = out.flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let _ = writeln!(out);
    Ok(line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Serves the loopback redirect until one request carries our state; returns its code.
async fn accept_callback(
    listener: &tokio::net::TcpListener,
    state: &str,
) -> Result<String, String> {
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let (read, mut write) = stream.into_split();
        let mut request_line = String::new();
        tokio::io::BufReader::new(read)
            .read_line(&mut request_line)
            .await
            .map_err(|e| e.to_string())?;
        let target = request_line.split_whitespace().nth(1).unwrap_or_default();
        let Ok(url) = url::Url::parse(&format!("http://localhost{target}")) else {
            continue;
        };
        if url.path() != "/auth/callback" {
            let _ = write
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
            continue;
        }
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        if param("state") != state {
            let _ = write
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
            return Err("invalid state token".into());
        }
        let page = "<html><body>skiff: signed in; you may close this window.</body></html>";
        let _ = write
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                )
                .as_bytes(),
            )
            .await;
        return Ok(param("code"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        format!(
            "{}.{}.{}",
            b64url().encode(br#"{"alg":"RS256"}"#),
            b64url().encode(claims),
            b64url().encode(b"sig")
        )
    }

    #[test]
    fn static_tokens_name_their_verified_email_or_subject() {
        let t = token(r#"{"email":"a@example.com","email_verified":true,"sub":"x"}"#);
        assert_eq!(static_token(&t).unwrap().subject, "a@example.com");
        let t = token(r#"{"email":"a@example.com","email_verified":"true"}"#);
        assert_eq!(static_token(&t).unwrap().subject, "a@example.com");
        let t = token(r#"{"sub":"workload"}"#);
        assert_eq!(static_token(&t).unwrap().subject, "workload");
        let t = token(r#"{"email":"a@example.com"}"#);
        assert_eq!(
            static_token(&t).unwrap_err(),
            "parsing OIDC token: not verified by identity provider"
        );
        assert!(static_token("not-a-token").is_err());
    }
}
