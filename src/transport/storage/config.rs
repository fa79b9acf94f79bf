//! Which store a `containers-storage:` name means: the `[driver@graphroot+runroot:options]`
//! the user gave, completed from storage.conf(5) the way containers/storage 1.43 does
//! (`types.DefaultStoreOptions`, `GetStore`): `CONTAINERS_STORAGE_CONF`, else
//! `/etc/containers/storage.conf`, else `/usr/share/containers/storage.conf`; for a non-root
//! user `$XDG_CONFIG_HOME/containers/storage.conf` (or `~/.config/…`) and the rootless
//! default paths; `STORAGE_DRIVER` and `STORAGE_OPTS` override the file.

use std::path::{Path, PathBuf};

use super::error::StorageError;
use crate::reference::StorageRef;

const ROOT_GRAPH_ROOT: &str = "/var/lib/containers/storage";
const ROOT_RUN_ROOT: &str = "/run/containers/storage";
const SYSTEM_CONF: &str = "/usr/share/containers/storage.conf";
const OVERRIDE_CONF: &str = "/etc/containers/storage.conf";

/// A store, fully resolved: what `StringWithinTransport` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Empty when neither the name nor storage.conf chose one (detected at open).
    pub driver: String,
    pub graph_root: PathBuf,
    pub run_root: PathBuf,
    /// Driver options as containers/storage spells them (`overlay.mount_program=…`).
    pub options: Vec<String>,
}

impl StoreConfig {
    /// The value of `NAME` among the driver's options (`driver.NAME=` or `.NAME=`).
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find_map(|o| {
            let (key, value) = o.split_once('=')?;
            let key = key.trim().to_ascii_lowercase();
            let bare = key.rsplit_once('.').map_or(key.as_str(), |(_, k)| k);
            (bare == name).then_some(value.trim())
        })
    }

    /// A boolean driver option, as Go's `strconv.ParseBool` reads it.
    pub fn flag(&self, name: &str) -> Result<bool, StorageError> {
        match self.option(name) {
            None => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(StorageError::Config(format!(
                "strconv.ParseBool: parsing {other:?}: invalid syntax (storage option {name})"
            ))),
        }
    }
}

/// The defaults storage.conf and the environment give.
#[derive(Debug, Clone, Default)]
struct Defaults {
    driver: String,
    graph_root: Option<PathBuf>,
    run_root: Option<PathBuf>,
    rootless_storage_path: Option<String>,
    options: Vec<String>,
}

/// Completes the store part of `r` as containers/storage's `GetStore` does.
pub fn resolve(r: &StorageRef) -> Result<StoreConfig, StorageError> {
    let uid = current_uid();
    let defaults = defaults(uid)?;
    let explicit = r.driver.is_some()
        || r.graph_root.is_some()
        || r.run_root.is_some()
        || !r.options.is_empty();
    let (driver, graph_root, run_root, options) = if explicit {
        // Given any part of the store, the driver and its options come from the name
        // alone; only a missing root is taken from the defaults.
        (
            r.driver.clone().unwrap_or_default(),
            r.graph_root.clone().or(defaults.graph_root.clone()),
            r.run_root.clone().or(defaults.run_root.clone()),
            r.options.clone(),
        )
    } else {
        (
            defaults.driver.clone(),
            defaults.graph_root.clone(),
            defaults.run_root.clone(),
            defaults.options.clone(),
        )
    };
    let graph_root = graph_root.ok_or_else(|| {
        StorageError::Config(
            "no storage runroot or graphroot specified: missing necessary StoreOptions".into(),
        )
    })?;
    let run_root = run_root.ok_or_else(|| {
        StorageError::Config(
            "no storage runroot or graphroot specified: missing necessary StoreOptions".into(),
        )
    })?;
    let driver = if driver == "overlay2" {
        "overlay".to_string()
    } else {
        driver
    };
    Ok(StoreConfig {
        driver,
        graph_root: absolute(&graph_root),
        run_root: absolute(&run_root),
        options,
    })
}

fn current_uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home() -> Option<PathBuf> {
    env_nonempty("HOME").map(PathBuf::from)
}

/// The system-wide configuration file.
fn system_file() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CONTAINERS_STORAGE_CONF") {
        return Some(PathBuf::from(p));
    }
    [OVERRIDE_CONF, SYSTEM_CONF]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A non-root user's own configuration file (`DefaultConfigFile(true)`), if it exists.
fn user_file() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("CONTAINERS_STORAGE_CONF") {
        return Some(PathBuf::from(p));
    }
    let p = match env_nonempty("XDG_CONFIG_HOME") {
        Some(d) => PathBuf::from(d).join("containers/storage.conf"),
        None => home()?.join(".config/containers/storage.conf"),
    };
    p.exists().then_some(p)
}

fn defaults(uid: u32) -> Result<Defaults, StorageError> {
    let mut d = match system_file() {
        Some(path) => read_file(&path)?,
        None => Defaults::default(),
    };
    if uid != 0 {
        // getRootlessStorageOpts, then the user's own file over it.
        let system = d;
        d = Defaults {
            driver: match system.driver.as_str() {
                "btrfs" | "overlay" | "overlay2" | "vfs" => system.driver.clone(),
                _ => String::new(),
            },
            graph_root: Some(match &system.rootless_storage_path {
                Some(p) => expand(p, uid),
                None => data_home()?.join("containers/storage"),
            }),
            run_root: Some(rootless_run_dir(uid)),
            rootless_storage_path: None,
            options: Vec::new(),
        };
        if let Some(path) = user_file() {
            let user = read_file(&path)?;
            d.driver = user.driver;
            d.options = user.options;
            d.graph_root = user
                .graph_root
                .or_else(|| user.rootless_storage_path.map(|p| expand(&p, uid)))
                .or(d.graph_root);
            d.run_root = user.run_root.or(d.run_root);
        }
        if d.driver.is_empty() {
            d.driver = "vfs".into();
        }
    }
    if let Some(driver) = env_nonempty("STORAGE_DRIVER") {
        d.driver = driver;
    }
    if let Ok(opts) = std::env::var("STORAGE_OPTS") {
        d.options = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
    }
    d.graph_root
        .get_or_insert_with(|| PathBuf::from(ROOT_GRAPH_ROOT));
    d.run_root
        .get_or_insert_with(|| PathBuf::from(ROOT_RUN_ROOT));
    Ok(d)
}

fn data_home() -> Result<PathBuf, StorageError> {
    if let Some(d) = env_nonempty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(d));
    }
    let home = home().ok_or_else(|| {
        StorageError::Config("neither XDG_DATA_HOME nor HOME was set non-empty".into())
    })?;
    let home = std::fs::canonicalize(&home).unwrap_or(home);
    Ok(home.join(".local/share"))
}

fn rootless_run_dir(uid: u32) -> PathBuf {
    if let Some(d) = env_nonempty("XDG_RUNTIME_DIR") {
        return PathBuf::from(d).join("containers");
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() {
        return run_user.join("containers");
    }
    std::env::temp_dir()
        .join(format!("containers-user-{uid}"))
        .join("containers")
}

/// `expandEnvPath`: `$UID` and environment variables, then symbolic links resolved.
fn expand(path: &str, uid: u32) -> PathBuf {
    let mut out = String::new();
    let replaced = path.replace("$UID", &uid.to_string());
    let mut rest = replaced.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => (braced, ""),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        out.push_str(&std::env::var(name).unwrap_or_default());
        rest = tail;
    }
    out.push_str(rest);
    let p = PathBuf::from(&out);
    std::fs::canonicalize(&p).unwrap_or(p)
}

/// Reads storage.conf's `[storage]` table (`ReloadConfigurationFile`).
fn read_file(path: &Path) -> Result<Defaults, StorageError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Defaults::default()),
        Err(source) => {
            return Err(StorageError::Io {
                context: format!("reading {}", path.display()),
                source,
            });
        }
    };
    let value: toml::Table = text
        .parse()
        .map_err(|e| StorageError::Config(format!("Failed to read {} {e}", path.display())))?;
    let storage = value.get("storage").and_then(|v| v.as_table());
    let get = |key: &str| {
        storage
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let uid = current_uid();
    let mut d = Defaults {
        driver: get("driver").unwrap_or_default(),
        graph_root: get("graphroot").map(|p| expand(&p, uid)),
        run_root: get("runroot").map(|p| expand(&p, uid)),
        rootless_storage_path: get("rootless_storage_path"),
        options: Vec::new(),
    };
    if let Some(options) = storage
        .and_then(|s| s.get("options"))
        .and_then(|v| v.as_table())
    {
        d.options = driver_options(&d.driver, options);
    }
    Ok(d)
}

/// The `[storage.options]` keys skiff's drivers read, spelled as driver options.
fn driver_options(driver: &str, options: &toml::Table) -> Vec<String> {
    const KEYS: &[&str] = &[
        "mount_program",
        "mountopt",
        "ignore_chown_errors",
        "force_mask",
        "skip_mount_home",
        "size",
    ];
    let mut out = Vec::new();
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(format!("{i:o}")),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    };
    for key in KEYS {
        if let Some(v) = options.get(*key).and_then(text).filter(|v| !v.is_empty()) {
            out.push(format!("{driver}.{key}={v}"));
        }
    }
    if let Some(specific) = options.get(driver).and_then(|v| v.as_table()) {
        for key in KEYS {
            if let Some(v) = specific.get(*key).and_then(text).filter(|v| !v.is_empty()) {
                out.push(format!("{driver}.{key}={v}"));
            }
        }
    }
    if let Some(stores) = options
        .get("additionalimagestores")
        .and_then(|v| v.as_array())
    {
        for s in stores.iter().filter_map(|v| v.as_str()) {
            out.push(format!("{driver}.imagestore={s}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_conf_options_become_driver_options() {
        let table: toml::Table = r#"
            [storage]
            driver = "overlay"
            [storage.options]
            additionalimagestores = ["/ro"]
            [storage.options.overlay]
            mount_program = "/usr/bin/fuse-overlayfs"
            ignore_chown_errors = "true"
        "#
        .parse()
        .unwrap();
        let opts = table["storage"]["options"].as_table().unwrap();
        let out = driver_options("overlay", opts);
        assert_eq!(
            out,
            [
                "overlay.mount_program=/usr/bin/fuse-overlayfs",
                "overlay.ignore_chown_errors=true",
                "overlay.imagestore=/ro"
            ]
        );
        let cfg = StoreConfig {
            driver: "overlay".into(),
            graph_root: "/g".into(),
            run_root: "/r".into(),
            options: out,
        };
        assert_eq!(cfg.option("mount_program"), Some("/usr/bin/fuse-overlayfs"));
        assert!(cfg.flag("ignore_chown_errors").unwrap());
        assert!(!cfg.flag("force_mask").unwrap());
    }

    #[test]
    fn expands_uid_and_environment() {
        let p = expand("/tmp/skiff-$UID-${SKIFF_TEST_UNSET_VAR}x", 7);
        assert_eq!(p, PathBuf::from("/tmp/skiff-7-x"));
    }
}
