//! Registry operations other than reading and writing images: checking credentials
//! (`login`), listing tags (`list-tags`, `inspect`'s RepoTags) and deleting a manifest
//! (`delete`), with c/image's requests and messages.

use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::auth::Credentials;
use super::client::{RegistryClient, Request, read_small};
use super::endpoint::{RegistryContext, RegistryOptions};
use super::error::RegistryError;
use super::protocol::MANIFEST_ACCEPT;
use super::protocol::pull_scope;
use crate::digest::Digest;
use crate::reference::DockerRef;
use crate::transport::error::{Result, TransportError};

/// Pages of a tag list followed before giving up (a registry that links in a circle).
const MAX_TAG_PAGES: usize = 10_000;

/// The answer to "are these credentials good for this registry?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    Valid,
    /// The registry (or its token server) refused them; the detail is for debug output.
    Invalid(String),
}

/// c/image `CheckAuth`: `GET /v2/` with `username`/`password`, following the registry's
/// Basic or Bearer challenge (a token is requested without a scope, as Docker does).
/// The credential helpers registries.conf (`--registries-conf` in `opts`) configures, for
/// commands that look credentials up themselves (login).
pub fn credential_helpers(opts: &RegistryOptions) -> Result<Vec<String>> {
    Ok(RegistryContext::load(opts)?.credential_helpers().to_vec())
}

pub async fn check_auth(
    host: &str,
    username: &str,
    password: &str,
    opts: &RegistryOptions,
) -> Result<AuthCheck> {
    let opts = RegistryOptions {
        credentials: Some(Credentials::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }),
        ..opts.clone()
    };
    let ctx = RegistryContext::load(&opts)?;
    let target = ctx.registry_target(host);
    let client = ctx.connect(&target).await?;
    match client.send(&Request::new(Method::GET, "/v2/"), &[]).await {
        Ok(resp) if resp.status().is_success() => Ok(AuthCheck::Valid),
        Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => Ok(AuthCheck::Invalid(format!(
            "GET /v2/ on {host} answered 401 Unauthorized"
        ))),
        Ok(resp) => Err(
            RegistryError::from_response(&format!("GET /v2/ on {host}"), resp)
                .await
                .into(),
        ),
        Err(RegistryError::Unauthorized { message, .. }) => Ok(AuthCheck::Invalid(message)),
        Err(e) => Err(e.into()),
    }
}

async fn connect_for(
    reference: &DockerRef,
    opts: &RegistryOptions,
) -> Result<(RegistryClient, String)> {
    let ctx = RegistryContext::load(opts)?;
    let target = ctx.push_target(reference)?;
    let client = ctx.connect(&target).await?;
    Ok((client, target.repository))
}

/// Every tag of `reference`'s repository, following `Link: <…>; rel="next"` pages
/// (c/image `GetRepositoryTags`; like skopeo, no page size is asked for).
pub async fn list_tags(reference: &DockerRef, opts: &RegistryOptions) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct TagList {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let (client, repo) = connect_for(reference, opts).await?;
    // containers/image's words; the repository is the command's argument.
    let context = "fetching tags list".to_string();
    let mut path = format!("/v2/{repo}/tags/list");
    let mut tags = Vec::new();
    for _ in 0..MAX_TAG_PAGES {
        let resp = client
            .send(
                &Request::new(Method::GET, path.clone()),
                &[pull_scope(&repo)],
            )
            .await?;
        if !resp.status().is_success() {
            return Err(RegistryError::from_response(&context, resp).await.into());
        }
        let next = resp
            .headers()
            .get("Link")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_small(resp, "tags list").await?;
        let page: TagList = serde_json::from_slice(&body).map_err(|e| {
            TransportError::from(RegistryError::Protocol(format!(
                "{context}: the registry sent an invalid tag list: {e}"
            )))
        })?;
        tags.extend(page.tags.unwrap_or_default());
        match next.as_deref().map(next_page_path).transpose()? {
            Some(p) => path = p,
            None => return Ok(tags),
        }
    }
    Err(RegistryError::Protocol(format!(
        "{context}: more than {MAX_TAG_PAGES} pages of tags; the registry's Link headers loop?"
    ))
    .into())
}

/// `<https://host/v2/r/tags/list?last=x&n=2>; rel="next"` -> `/v2/r/tags/list?last=x&n=2`.
/// As c/image does, only the path and query are kept: the next page is on the same host.
fn next_page_path(link: &str) -> Result<String> {
    let target = link.split(';').next().unwrap_or(link).trim();
    let target = target.trim_start_matches('<').trim_end_matches('>');
    let url = url::Url::parse("http://registry.invalid/")
        .and_then(|base| base.join(target))
        .map_err(|e| {
            TransportError::from(RegistryError::Protocol(format!(
                "the registry sent an invalid Link header {link:?}: {e}"
            )))
        })?;
    Ok(match url.query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
        _ => url.path().to_string(),
    })
}

/// c/image `deleteImage`: reads the manifest `reference` names (a tag resolves to its
/// digest), then deletes the manifest by digest. Returns the digest deleted.
pub async fn delete_image(reference: &DockerRef, opts: &RegistryOptions) -> Result<Digest> {
    let ctx = RegistryContext::load(opts)?;
    let target = ctx.push_target(reference)?;
    let client = ctx.connect(&target).await?;
    let repo = target.repository;
    // As skopeo: the manifest's lookaside signatures go with it.
    let signatures = ctx.signature_store(reference, &client, true)?;
    // distribution wants "delete", quay.io "push"; both grant "*" (as c/image asks).
    let scopes = [format!("repository:{repo}:*")];
    let tail = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    };
    let get = Request::new(Method::GET, format!("/v2/{repo}/manifests/{tail}"))
        .header(ACCEPT, MANIFEST_ACCEPT);
    let resp = client.send(&get, &scopes).await?;
    let status = resp.status();
    let body = read_small(resp, "manifest").await?;
    match status {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            return Err(TransportError::NotFound(format!(
                "Unable to delete {reference}. Image may not exist or is not stored with a v2 Schema in a v2 registry"
            )));
        }
        other => {
            return Err(failed(&reference.to_string(), &body, other));
        }
    }
    let digest = crate::manifest::manifest_digest(&body).map_err(|e| {
        TransportError::Invalid(format!("computing manifest digest of {reference}: {e}"))
    })?;
    let path = format!("/v2/{repo}/manifests/{digest}");
    let delete = Request::new(Method::DELETE, path.clone()).header(ACCEPT, MANIFEST_ACCEPT);
    let resp = client.send(&delete, &scopes).await?;
    let status = resp.status();
    let body = read_small(resp, "delete response").await?;
    if status != StatusCode::ACCEPTED {
        return Err(failed(&path, &body, status));
    }
    signatures.delete_lookaside(&digest)?;
    Ok(digest)
}

/// skopeo's `Failed to delete WHAT: BODY (STATUS)`.
fn failed(what: &str, body: &[u8], status: StatusCode) -> TransportError {
    RegistryError::DeleteFailed {
        what: what.to_string(),
        body: String::from_utf8_lossy(body).trim_end().to_string(),
        status,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_page_path(r#"</v2/a/b/tags/list?last=x&n=2>; rel="next""#).unwrap(),
            "/v2/a/b/tags/list?last=x&n=2"
        );
        assert_eq!(
            next_page_path(r#"<https://r.example:5000/v2/a/tags/list?n=1&last=y>; rel="next""#)
                .unwrap(),
            "/v2/a/tags/list?n=1&last=y"
        );
    }
}
