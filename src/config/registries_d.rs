//! containers-registries.d(5): where a registry's signatures live (lookaside stores)
//! and whether sigstore attachments are used, as containers/image 5.23
//! (`docker/registries_d.go`) reads it.
//!
//! * The directory: `--registries.d`, else `$HOME/.config/containers/registries.d` if it
//!   exists, else `/etc/containers/registries.d`. Every `*.yaml` file in it is merged;
//!   `default-docker` may appear once, and each `docker` key once, across all files.
//! * A configuration section holds `lookaside`, `lookaside-staging` (and their older names
//!   `sigstore`, `sigstore-staging`) and `use-sigstore-attachments`. Keys match
//!   case-insensitively and unknown keys are ignored, as Go's JSON decoding does.
//! * Lookup for an image: its exact `name:tag`/`name@digest`, then each wider namespace
//!   (repository, parent paths, registry, `*.domain` wildcards), then `default-docker`;
//!   a section that sets no location for the access (reading or writing) passes on to
//!   the next, as c/image's code does.
//! * Nothing configured: `file:///var/lib/containers/sigstore` for root,
//!   `file://$HOME/.local/share/containers/sigstore` for others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use url::Url;
use yaml_rust2::{Yaml, YamlLoader};

use super::error::ConfigError;
use super::paths::Env;
use crate::digest::Digest;
use crate::reference::DockerRef;

const USER_DIR: &str = ".config/containers/registries.d";
const SYSTEM_DIR: &str = "etc/containers/registries.d";
const USER_LOOKASIDE: &str = ".local/share/containers/sigstore";
const ROOT_LOOKASIDE: &str = "/var/lib/containers/sigstore";

/// One configuration section (c/image `registryNamespace`). Empty strings count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace {
    pub lookaside: String,
    pub lookaside_staging: String,
    /// Deprecated spelling of `lookaside`.
    pub sigstore: String,
    /// Deprecated spelling of `lookaside-staging`.
    pub sigstore_staging: String,
    /// Whether sigstore attachments (`sha256-….sig` tags) are read and written.
    pub use_sigstore_attachments: Option<bool>,
}

impl Namespace {
    /// The location for reading, or for writing (`write`), if this section sets one.
    fn top_level(&self, write: bool) -> Option<&str> {
        let staging = [&self.lookaside_staging, &self.sigstore_staging];
        let reading = [&self.lookaside, &self.sigstore];
        let candidates: &[&String] = if write {
            &[staging[0], staging[1], reading[0], reading[1]]
        } else {
            &reading
        };
        candidates
            .iter()
            .find(|s| !s.is_empty())
            .map(|s| s.as_str())
    }
}

/// The merged registries.d configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesD {
    pub default_docker: Option<Namespace>,
    pub docker: BTreeMap<String, Namespace>,
}

/// Where the files are: `explicit` (`--registries.d`), else the user's directory if it
/// exists, else the system one.
pub fn registries_d_dir(env: &Env, explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return dir.to_path_buf();
    }
    if let Some(home) = &env.home {
        let user = home.join(USER_DIR);
        if user.exists() {
            return user;
        }
    }
    env.root.join(SYSTEM_DIR)
}

impl RegistriesD {
    /// Reads and merges every `*.yaml` in `dir` (a missing directory is an empty
    /// configuration).
    pub fn load(dir: &Path) -> Result<RegistriesD, ConfigError> {
        let mut names = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ConfigError::io(dir, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(ConfigError::io(dir, e)),
        };
        names.sort();
        let mut merged = RegistriesD::default();
        let mut default_from: Option<PathBuf> = None;
        let mut ns_from: BTreeMap<String, PathBuf> = BTreeMap::new();
        for name in names {
            if !name.to_string_lossy().ends_with(".yaml") {
                continue;
            }
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::io(&path, e))?;
            let file = RegistriesD::parse(&text).map_err(|message| ConfigError::RegistriesD {
                path: path.clone(),
                message,
            })?;
            if let Some(d) = file.default_docker {
                if let Some(first) = &default_from {
                    return Err(ConfigError::SignatureStorageConflict(format!(
                        "\"default-docker\" defined both in \"{}\" and \"{}\"",
                        first.display(),
                        path.display()
                    )));
                }
                merged.default_docker = Some(d);
                default_from = Some(path.clone());
            }
            for (key, ns) in file.docker {
                if let Some(first) = ns_from.get(&key) {
                    return Err(ConfigError::SignatureStorageConflict(format!(
                        "\"docker\" namespace \"{key}\" defined both in \"{}\" and \"{}\"",
                        first.display(),
                        path.display()
                    )));
                }
                ns_from.insert(key.clone(), path.clone());
                merged.docker.insert(key, ns);
            }
        }
        Ok(merged)
    }

    /// One file's contents.
    pub fn parse(text: &str) -> Result<RegistriesD, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
        let mut out = RegistriesD::default();
        let root = match docs.into_iter().next() {
            None | Some(Yaml::Null) => return Ok(out),
            Some(Yaml::Hash(h)) => h,
            Some(other) => {
                return Err(type_error(&other, "docker.registryConfiguration", None));
            }
        };
        for (key, value) in root {
            let key = scalar_text(&key).unwrap_or_default();
            if key.eq_ignore_ascii_case("default-docker") {
                out.default_docker = match value {
                    Yaml::Null => None,
                    v => Some(parse_namespace(&v, "default-docker")?),
                };
            } else if key.eq_ignore_ascii_case("docker") {
                match value {
                    Yaml::Null => {}
                    Yaml::Hash(h) => {
                        for (scope, ns) in h {
                            let scope = scalar_text(&scope).unwrap_or_default();
                            let ns = match ns {
                                Yaml::Null => Namespace::default(),
                                v => parse_namespace(&v, "docker")?,
                            };
                            out.docker.insert(scope, ns);
                        }
                    }
                    other => {
                        return Err(type_error(
                            &other,
                            "map[string]docker.registryNamespace",
                            Some("registryConfiguration.docker"),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The section that applies to `reference` for reading or writing, and its location:
    /// the exact reference, then each namespace, then `default-docker`.
    fn top_level(&self, reference: &DockerRef, write: bool) -> Option<&str> {
        let identity = reference.policy_identity();
        std::iter::once(identity)
            .chain(reference.policy_namespaces())
            .filter_map(|scope| self.docker.get(&scope))
            .chain(self.default_docker.as_ref())
            .find_map(|ns| ns.top_level(write))
    }

    /// `use-sigstore-attachments` for `reference`: the first section that sets it.
    pub fn use_sigstore_attachments(&self, reference: &DockerRef) -> bool {
        let identity = reference.policy_identity();
        std::iter::once(identity)
            .chain(reference.policy_namespaces())
            .filter_map(|scope| self.docker.get(&scope))
            .chain(self.default_docker.as_ref())
            .find_map(|ns| ns.use_sigstore_attachments)
            .unwrap_or(false)
    }

    /// The lookaside base for `reference` (its repository path appended), for reading or
    /// for writing; the built-in default when nothing is configured.
    pub fn lookaside_base(
        &self,
        env: &Env,
        reference: &DockerRef,
        write: bool,
    ) -> Result<Url, ConfigError> {
        let mut url = match self.top_level(reference, write) {
            Some(top) => Url::parse(top).map_err(|e| {
                ConfigError::InvalidLookaside(format!("Invalid signature storage URL {top}: {e}"))
            })?,
            None => default_lookaside(env),
        };
        let path = format!("{}/{}", url.path().trim_end_matches('/'), reference.path());
        url.set_path(&path);
        Ok(url)
    }
}

/// The built-in default location: per user, or system-wide for root.
fn default_lookaside(env: &Env) -> Url {
    let dir = match (env.uid, &env.home) {
        (Some(0), _) | (_, None) => PathBuf::from(ROOT_LOOKASIDE),
        (_, Some(home)) => home.join(USER_LOOKASIDE),
    };
    Url::from_directory_path(&dir)
        .or_else(|_| Url::parse(&format!("file://{}", dir.display())))
        .unwrap_or_else(|_| Url::parse("file:///var/lib/containers/sigstore").expect("valid"))
}

/// `base` + `@ALGO=HEX/signature-N` (N from 1), the layout every lookaside store uses.
pub fn lookaside_url(base: &Url, manifest: &Digest, index: usize) -> Url {
    let mut url = base.clone();
    let path = format!(
        "{}@{}={}/signature-{}",
        base.path(),
        manifest.algorithm().name(),
        manifest.hex(),
        index + 1
    );
    url.set_path(&path);
    url
}

/// Go's JSON decoding of one section (case-insensitive keys; unknown keys ignored; YAML
/// scalars become strings where a string is expected, as ghodss/yaml converts them).
fn parse_namespace(v: &Yaml, section: &str) -> Result<Namespace, String> {
    let Yaml::Hash(h) = v else {
        return Err(type_error(
            v,
            "docker.registryNamespace",
            Some(&format!("registryConfiguration.{section}")),
        ));
    };
    let mut ns = Namespace::default();
    for (key, value) in h {
        let key = scalar_text(key).unwrap_or_default().to_ascii_lowercase();
        let field = |name: &str| format!("registryNamespace.{section}.{name}");
        let text = |name: &str| -> Result<String, String> {
            match value {
                Yaml::Null => Ok(String::new()),
                v => scalar_text(v).ok_or_else(|| type_error(v, "string", Some(&field(name)))),
            }
        };
        match key.as_str() {
            "lookaside" => ns.lookaside = text("lookaside")?,
            "lookaside-staging" => ns.lookaside_staging = text("lookaside-staging")?,
            "sigstore" => ns.sigstore = text("sigstore")?,
            "sigstore-staging" => ns.sigstore_staging = text("sigstore-staging")?,
            "use-sigstore-attachments" => {
                ns.use_sigstore_attachments = match value {
                    Yaml::Boolean(b) => Some(*b),
                    Yaml::Null => None,
                    v => {
                        return Err(type_error(
                            v,
                            "bool",
                            Some(&field("use-sigstore-attachments")),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ns)
}

/// A YAML scalar as text (what a string field receives).
pub(crate) fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Go's `json: cannot unmarshal KIND into Go (struct field F|value) of type T`.
fn type_error(v: &Yaml, go_type: &str, field: Option<&str>) -> String {
    let kind = match v {
        Yaml::Array(_) => "array",
        Yaml::Hash(_) => "object",
        Yaml::Boolean(_) => "bool",
        Yaml::Integer(_) | Yaml::Real(_) => "number",
        Yaml::Null => "null",
        _ => "string",
    };
    match field {
        Some(f) => {
            format!("json: cannot unmarshal {kind} into Go struct field {f} of type {go_type}")
        }
        None => format!("json: cannot unmarshal {kind} into Go value of type {go_type}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> DockerRef {
        DockerRef::parse_normalized(s).unwrap().with_default_tag()
    }

    fn env(home: &Path, uid: u32) -> Env {
        Env {
            home: Some(home.to_path_buf()),
            uid: Some(uid),
            root: home.join("root"),
            ..Env::default()
        }
    }

    const EXAMPLE: &str = r#"
docker:
    registry.example.com:
        lookaside: https://registry-lookaside.example.com
    registry.example.com/mydepartment:
        lookaside: https://lookaside.mydepartment.example.com
        lookaside-staging: file:///mnt/mydepartment/lookaside-staging
    registry.example.com/mydepartment/myproject:mybranch:
        Lookaside: http://localhost:4242/lookaside
        sigstore-staging: file:///home/useraccount/webroot/lookaside
        use-sigstore-attachments: true
    old.example.com:
        sigstore: file:///srv/old
        unknown-key: ignored
default-docker:
    lookaside-staging: file:///mnt/company/common-lookaside-staging
"#;

    #[test]
    fn most_specific_section_wins() {
        let c = RegistriesD::parse(EXAMPLE).unwrap();
        let e = env(Path::new("/home/u"), 1000);
        let url =
            |name: &str, write: bool| c.lookaside_base(&e, &r(name), write).unwrap().to_string();
        assert_eq!(
            url("registry.example.com/other/app", false),
            "https://registry-lookaside.example.com/other/app"
        );
        assert_eq!(
            url("registry.example.com/mydepartment/app", false),
            "https://lookaside.mydepartment.example.com/mydepartment/app"
        );
        assert_eq!(
            url("registry.example.com/mydepartment/app", true),
            "file:///mnt/mydepartment/lookaside-staging/mydepartment/app"
        );
        // The exact reference, keys case-insensitive, the old staging name.
        assert_eq!(
            url(
                "registry.example.com/mydepartment/myproject:mybranch",
                false
            ),
            "http://localhost:4242/lookaside/mydepartment/myproject"
        );
        assert_eq!(
            url("registry.example.com/mydepartment/myproject:mybranch", true),
            "file:///home/useraccount/webroot/lookaside/mydepartment/myproject"
        );
        assert_eq!(url("old.example.com/a/b", true), "file:///srv/old/a/b");
        // default-docker only has a staging location: reading falls to the built-in default.
        assert_eq!(
            url("quay.io/x/y", true),
            "file:///mnt/company/common-lookaside-staging/x/y"
        );
        assert_eq!(
            url("quay.io/x/y", false),
            "file:///home/u/.local/share/containers/sigstore/x/y"
        );
        assert!(
            c.use_sigstore_attachments(&r("registry.example.com/mydepartment/myproject:mybranch"))
        );
        assert!(!c.use_sigstore_attachments(&r("registry.example.com/mydepartment/app")));
    }

    #[test]
    fn built_in_defaults() {
        let c = RegistriesD::default();
        let home = Path::new("/home/u");
        assert_eq!(
            c.lookaside_base(&env(home, 1000), &r("busybox"), true)
                .unwrap()
                .to_string(),
            "file:///home/u/.local/share/containers/sigstore/library/busybox"
        );
        assert_eq!(
            c.lookaside_base(&env(home, 0), &r("busybox"), false)
                .unwrap()
                .to_string(),
            "file:///var/lib/containers/sigstore/library/busybox"
        );
    }

    #[test]
    fn signature_urls() {
        let base = Url::parse("https://l.example/ns/app").unwrap();
        let d = Digest::sha256_of(b"x");
        assert_eq!(
            lookaside_url(&base, &d, 0).to_string(),
            format!("https://l.example/ns/app@sha256={}/signature-1", d.hex())
        );
        let file = Url::parse("file:///srv/sigs/ns/app").unwrap();
        assert_eq!(
            lookaside_url(&file, &d, 2).to_file_path().unwrap(),
            PathBuf::from(format!("/srv/sigs/ns/app@sha256={}/signature-3", d.hex()))
        );
    }

    #[test]
    fn directory_merge_and_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "docker:\n  r.io:\n    lookaside: file:///a\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.yaml"),
            "default-docker:\n  lookaside: file:///d\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("c.yml"), "not: [yaml").unwrap();
        let c = RegistriesD::load(dir.path()).unwrap();
        assert_eq!(c.docker["r.io"].lookaside, "file:///a");
        assert_eq!(c.default_docker.as_ref().unwrap().lookaside, "file:///d");
        std::fs::write(
            dir.path().join("d.yaml"),
            "docker:\n  r.io:\n    lookaside: file:///other\n",
        )
        .unwrap();
        let e = RegistriesD::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.starts_with("Error parsing signature storage configuration: \"docker\" namespace \"r.io\" defined both in"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("d.yaml")).unwrap();
        std::fs::write(dir.path().join("e.yaml"), "docker: [1]\n").unwrap();
        let e = RegistriesD::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("e.yaml: json: cannot unmarshal array"), "{e}");
        assert_eq!(
            RegistriesD::load(&dir.path().join("missing")).unwrap(),
            RegistriesD::default()
        );
    }

    #[test]
    fn directory_choice() {
        let home = tempfile::tempdir().unwrap();
        let e = env(home.path(), 1000);
        assert_eq!(
            registries_d_dir(&e, Some(Path::new("/x"))),
            PathBuf::from("/x")
        );
        assert_eq!(
            registries_d_dir(&e, None),
            home.path().join("root/etc/containers/registries.d")
        );
        std::fs::create_dir_all(home.path().join(USER_DIR)).unwrap();
        assert_eq!(registries_d_dir(&e, None), home.path().join(USER_DIR));
    }
}
