//! Parsing, validation and merging of single registries.conf files
//! (c/image `loadConfigFile`, `postProcessRegistries`, `ConvertToV2`,
//! `updateWithConfigurationFrom`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::ConfigError;
use super::names::{is_valid_domain, split_registry, strip_tag_and_digest};
use super::registries_model::{Mirror, PullFromMirror, Registry};

#[derive(Deserialize, Default)]
struct RawMirror {
    location: Option<String>,
    insecure: Option<bool>,
    #[serde(rename = "pull-from-mirror")]
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawRegistry {
    prefix: Option<String>,
    location: Option<String>,
    insecure: Option<bool>,
    blocked: Option<bool>,
    #[serde(rename = "mirror-by-digest-only")]
    mirror_by_digest_only: Option<bool>,
    #[serde(rename = "pull-from-mirror")]
    pull_from_mirror: Option<String>,
    mirror: Option<Vec<RawMirror>>,
}

#[derive(Deserialize, Default)]
struct RawV1List {
    registries: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RawV1 {
    search: Option<RawV1List>,
    insecure: Option<RawV1List>,
    block: Option<RawV1List>,
}

/// Both formats at once, as c/image decodes them; unknown keys are ignored.
#[derive(Deserialize, Default)]
struct RawFile {
    registry: Option<Vec<RawRegistry>>,
    #[serde(rename = "unqualified-search-registries")]
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(rename = "credential-helpers")]
    credential_helpers: Option<Vec<String>>,
    #[serde(rename = "short-name-mode")]
    short_name_mode: Option<String>,
    aliases: Option<BTreeMap<String, String>>,
    registries: Option<RawV1>,
}

/// One file's worth of configuration (or the merge of several). `None` fields
/// were absent, which matters for merging drop-ins.
#[derive(Clone, Debug, Default)]
pub(crate) struct PartialConf {
    pub registries: Vec<Registry>,
    pub unqualified_search_registries: Option<Vec<String>>,
    pub credential_helpers: Option<Vec<String>>,
    pub short_name_mode: Option<String>,
    /// Alias name → value; `None` erases an alias set by an earlier file.
    pub aliases: BTreeMap<String, Option<String>>,
}

fn invalid(path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError::InvalidRegistries {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn syntax_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let message = match err.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |s| s.bytes().filter(|&b| b == b'\n').count())
                + 1;
            format!("line {line}: {}", err.message().trim_end())
        }
        None => err.message().trim_end().to_string(),
    };
    ConfigError::RegistriesSyntax {
        path: path.to_path_buf(),
        message,
    }
}

/// c/image `parseLocation`: trims trailing `/`, rejects URI schemes.
fn parse_location(path: &Path, input: &str) -> Result<String, ConfigError> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(invalid(
            path,
            format!("invalid location '{input}': URI schemes are not supported"),
        ));
    }
    Ok(trimmed.to_string())
}

fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Parses one file. `force_v2` is set for registries.conf.d drop-ins.
pub(crate) fn parse_file(
    text: &str,
    path: &Path,
    force_v2: bool,
) -> Result<PartialConf, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
    let v1 = raw.registries.unwrap_or_default();
    let v1_nonempty = [&v1.search, &v1.insecure, &v1.block]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| non_empty(&l.registries)));
    let v2_nonempty = non_empty(&raw.registry)
        || non_empty(&raw.unqualified_search_registries)
        || non_empty(&raw.credential_helpers)
        || raw
            .short_name_mode
            .as_deref()
            .is_some_and(|m| !m.is_empty())
        || raw.aliases.as_ref().is_some_and(|a| !a.is_empty());

    let mut conf = PartialConf::default();
    let raw_registries;
    if v1_nonempty {
        if force_v2 {
            return Err(invalid(path, "registry must be in v2 format but is in v1"));
        }
        if v2_nonempty {
            return Err(invalid(path, "mixing sysregistry v1/v2 is not supported"));
        }
        raw_registries = convert_v1(path, &v1)?;
        conf.unqualified_search_registries = v1.search.and_then(|s| s.registries);
    } else {
        raw_registries = raw.registry.unwrap_or_default();
        conf.unqualified_search_registries = raw.unqualified_search_registries;
        conf.credential_helpers = raw.credential_helpers;
        conf.short_name_mode = raw.short_name_mode.filter(|m| !m.is_empty());
        for (name, value) in raw.aliases.unwrap_or_default() {
            let value = validate_alias(path, &name, &value)?;
            conf.aliases.insert(name, value);
        }
    }
    conf.registries = post_process(path, raw_registries)?;
    if let Some(list) = conf.unqualified_search_registries.as_mut() {
        for entry in list.iter_mut() {
            let loc = parse_location(path, entry)?;
            if !is_valid_domain(&loc) {
                return Err(invalid(
                    path,
                    format!("Invalid unqualified-search-registries entry {loc:?}"),
                ));
            }
            *entry = loc;
        }
    }
    if let Some(mode) = &conf.short_name_mode
        && !matches!(mode.as_str(), "disabled" | "enforcing" | "permissive")
    {
        return Err(invalid(path, format!("invalid short-name mode: {mode:?}")));
    }
    for reg in &conf.registries {
        if reg.prefix.starts_with("*.") && reg.prefix.contains(['/', '@', ':']) {
            return Err(invalid(
                path,
                format!(
                    "Wildcarded prefix should be in the format: *.example.com. Current prefix {:?} is incorrectly formatted",
                    reg.prefix
                ),
            ));
        }
    }
    Ok(conf)
}

/// c/image `ConvertToV2`: one registry per distinct location, block then insecure.
fn convert_v1(path: &Path, v1: &RawV1) -> Result<Vec<RawRegistry>, ConfigError> {
    let mut out: Vec<RawRegistry> = Vec::new();
    let lists = [(&v1.block, true), (&v1.insecure, false)];
    for (list, is_block) in lists {
        let entries = list
            .as_ref()
            .and_then(|l| l.registries.clone())
            .unwrap_or_default();
        for entry in entries {
            let loc = parse_location(path, &entry)?;
            let idx = match out
                .iter()
                .position(|r| r.location.as_deref() == Some(loc.as_str()))
            {
                Some(i) => i,
                None => {
                    out.push(RawRegistry {
                        prefix: Some(loc.clone()),
                        location: Some(loc),
                        ..RawRegistry::default()
                    });
                    out.len() - 1
                }
            };
            if is_block {
                out[idx].blocked = Some(true);
            } else {
                out[idx].insecure = Some(true);
            }
        }
    }
    Ok(out)
}

/// c/image `postProcessRegistries` for the `[[registry]]` array: each table checked,
/// conflicting duplicates refused, the first table for a prefix kept, sorted by prefix.
fn post_process(path: &Path, raw: Vec<RawRegistry>) -> Result<Vec<Registry>, ConfigError> {
    let regs = raw
        .into_iter()
        .map(|r| registry(path, r))
        .collect::<Result<Vec<_>, _>>()?;
    check_conflicts(path, &regs)?;
    let mut unique: BTreeMap<String, Registry> = BTreeMap::new();
    for r in regs {
        unique.entry(r.prefix.clone()).or_insert(r);
    }
    Ok(unique.into_values().collect())
}

/// One `[[registry]]` table: its location, prefix (defaulting to the location) and
/// mirrors.
fn registry(path: &Path, r: RawRegistry) -> Result<Registry, ConfigError> {
    let location = parse_location(path, r.location.as_deref().unwrap_or(""))?;
    let prefix = match r.prefix.as_deref().unwrap_or("") {
        "" if location.is_empty() => {
            return Err(invalid(
                path,
                "invalid condition: both location and prefix are unset",
            ));
        }
        "" => location.clone(),
        p => {
            let p = parse_location(path, p)?;
            if !p.starts_with("*.") && location.is_empty() {
                return Err(invalid(
                    path,
                    "invalid condition: location is unset and prefix is not in the format: *.example.com",
                ));
            }
            p
        }
    };
    if r.pull_from_mirror.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(invalid(
            path,
            format!("pull-from-mirror must not be set for a non-mirror registry {prefix:?}"),
        ));
    }
    let by_digest_only = r.mirror_by_digest_only.unwrap_or(false);
    let mirrors = r
        .mirror
        .unwrap_or_default()
        .into_iter()
        .map(|m| mirror(path, &prefix, by_digest_only, m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Registry {
        prefix,
        location,
        insecure: r.insecure.unwrap_or(false),
        blocked: r.blocked.unwrap_or(false),
        mirror_by_digest_only: by_digest_only,
        mirrors,
    })
}

/// One `[[registry.mirror]]` table of the registry `prefix`.
fn mirror(
    path: &Path,
    prefix: &str,
    by_digest_only: bool,
    m: RawMirror,
) -> Result<Mirror, ConfigError> {
    // c/image validates the trimmed location but (by accident) keeps the
    // untrimmed one, so a trailing "/" later breaks the rewrite.
    let raw_loc = m.location.unwrap_or_default();
    if parse_location(path, &raw_loc)?.is_empty() {
        return Err(invalid(path, "invalid condition: mirror location is unset"));
    }
    let pfm = m.pull_from_mirror.unwrap_or_default();
    if by_digest_only && !pfm.is_empty() {
        return Err(invalid(
            path,
            format!(
                "cannot set mirror usage mirror-by-digest-only for the registry ({prefix:?}) and pull-from-mirror for per-mirror ({raw_loc:?}) at the same time"
            ),
        ));
    }
    let pull_from_mirror = match pfm.as_str() {
        "" | "all" => PullFromMirror::All,
        "digest-only" => PullFromMirror::DigestOnly,
        "tag-only" => PullFromMirror::TagOnly,
        other => {
            return Err(invalid(
                path,
                format!("unsupported pull-from-mirror value {other:?} for mirror {raw_loc:?}"),
            ));
        }
    };
    Ok(Mirror {
        location: raw_loc,
        insecure: m.insecure.unwrap_or(false),
        pull_from_mirror,
    })
}

/// Entries sharing a location (or a wildcard prefix) must agree on insecure/blocked.
fn check_conflicts(path: &Path, regs: &[Registry]) -> Result<(), ConfigError> {
    let key = |r: &Registry| {
        if r.location.is_empty() {
            r.prefix.clone()
        } else {
            r.location.clone()
        }
    };
    for (i, a) in regs.iter().enumerate() {
        for b in regs.iter().skip(i + 1).filter(|b| key(b) == key(a)) {
            for (what, differs) in [
                ("insecure", a.insecure != b.insecure),
                ("blocked", a.blocked != b.blocked),
            ] {
                if differs {
                    return Err(invalid(
                        path,
                        format!(
                            "registry '{}' is defined multiple times with conflicting '{what}' setting",
                            a.location
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// c/image `validateShortName` + `parseShortNameValue` (simplified grammar).
/// Returns `None` for an empty value (which erases the alias).
fn validate_alias(path: &Path, name: &str, value: &str) -> Result<Option<String>, ConfigError> {
    let has_tag = |s: &str| strip_tag_and_digest(s).len() != s.len() && !s.contains('@');
    if name.contains('@') {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: must not contain digest"),
        ));
    }
    if has_tag(name) {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: must not contain tag"),
        ));
    }
    if name.is_empty() {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: no name"),
        ));
    }
    if let (Some(reg), _) = split_registry(name)
        && (reg.contains(['.', ':']) || reg == "localhost")
    {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: must not contain registry"),
        ));
    }
    if value.is_empty() {
        return Ok(None);
    }
    if value.contains('@') {
        return Err(invalid(
            path,
            format!("invalid alias {value:?}: must not contain digest"),
        ));
    }
    if has_tag(value) {
        return Err(invalid(
            path,
            format!("invalid alias {value:?}: must not contain tag"),
        ));
    }
    match split_registry(value) {
        (Some(reg), rest)
            if (reg.contains(['.', ':']) || reg == "localhost") && !rest.is_empty() =>
        {
            Ok(Some(value.to_string()))
        }
        _ => Err(invalid(
            path,
            format!("invalid alias {value:?}: must contain registry and repository"),
        )),
    }
}

impl PartialConf {
    /// c/image `updateWithConfigurationFrom`: registries merged by prefix (later
    /// files win, result sorted by prefix); other fields replaced when present.
    pub(crate) fn merge(&mut self, update: PartialConf) {
        let mut map: BTreeMap<String, Registry> = BTreeMap::new();
        for r in self.registries.drain(..).chain(update.registries) {
            map.insert(r.prefix.clone(), r);
        }
        self.registries = map.into_values().collect();
        if update.unqualified_search_registries.is_some() {
            self.unqualified_search_registries = update.unqualified_search_registries;
        }
        if update.credential_helpers.is_some() {
            self.credential_helpers = update.credential_helpers;
        }
        if update.short_name_mode.is_some() {
            self.short_name_mode = update.short_name_mode;
        }
        self.aliases.extend(update.aliases);
    }
}
