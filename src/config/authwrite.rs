//! Writing containers-auth.json(5): the file `login` stores credentials in and `logout`
//! removes them from, where c/image's `SetCredentials` puts it.
//!
//! The file is replaced atomically (temporary file in the same directory, fsync, rename)
//! with mode 0600; entries for other registries, and any other top-level keys (Docker's
//! config.json has several), are kept.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Value};

use super::error::ConfigError;
use super::paths::Env;

/// The file `login`/`logout` write: `--authfile`, else $REGISTRY_AUTH_FILE, else
/// $DOCKER_CONFIG/config.json (containers/common's default for these two commands), else
/// `${XDG_RUNTIME_DIR}/containers/auth.json`, else `/run/containers/$UID/auth.json`.
pub fn login_auth_file(env: &Env, authfile: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = authfile.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = &env.registry_auth_file {
        return Ok(p.clone());
    }
    if let Some(dir) = &env.docker_config {
        return Ok(dir.join("config.json"));
    }
    if let Some(dir) = &env.xdg_runtime_dir {
        if !dir.exists() {
            return Err(ConfigError::AuthWrite {
                path: dir.clone(),
                message: format!(
                    "{:?} directory set by $XDG_RUNTIME_DIR does not exist. Either create the directory or unset $XDG_RUNTIME_DIR.",
                    dir.display().to_string()
                ),
            });
        }
        return Ok(dir.join("containers/auth.json"));
    }
    match env.uid {
        Some(uid) => Ok(env.system_path(&format!("/run/containers/{uid}/auth.json"))),
        None => Err(ConfigError::AuthWrite {
            path: PathBuf::from("/run/containers"),
            message: "cannot tell the user id for the default auth file; use --authfile".into(),
        }),
    }
}

/// Stores `username:password` for `key` (`host[:port]` or `host[:port]/repo`).
pub fn set_credentials(
    path: &Path,
    key: &str,
    username: &str,
    password: &str,
) -> Result<(), ConfigError> {
    modify(path, |top| {
        if let Some(helper) = top
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|h| h.get(key.split('/').next().unwrap_or(key)))
            .and_then(Value::as_str)
        {
            return Err(ConfigError::AuthWrite {
                path: path.to_path_buf(),
                message: format!(
                    "credHelpers names docker-credential-{helper} for {key}; storing credentials in a helper is not supported yet"
                ),
            });
        }
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let mut entry = Map::new();
        entry.insert("auth".into(), Value::String(auth));
        auths_of(top).insert(key.to_string(), Value::Object(entry));
        Ok(true)
    })
}

/// Removes the entry for `key`; `NotLoggedIn` if there is none.
pub fn remove_credentials(path: &Path, key: &str) -> Result<(), ConfigError> {
    modify(path, |top| {
        if auths_of(top).shift_remove(key).is_none() {
            return Err(ConfigError::NotLoggedIn {
                key: key.to_string(),
            });
        }
        Ok(true)
    })
}

/// Removes every stored credential (`logout --all`).
pub fn remove_all_credentials(path: &Path) -> Result<(), ConfigError> {
    modify(path, |top| {
        auths_of(top).clear();
        top.shift_remove("credHelpers");
        Ok(true)
    })
}

fn auths_of(top: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let slot = top
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made it an object"),
    }
}

/// Reads the file (a missing one is empty), applies `change`, and writes it back
/// atomically if `change` says it changed something.
fn modify(
    path: &Path,
    change: impl FnOnce(&mut Map<String, Value>) -> Result<bool, ConfigError>,
) -> Result<(), ConfigError> {
    let mut top = match std::fs::read(path) {
        Ok(raw) if raw.iter().all(u8::is_ascii_whitespace) => Map::new(),
        Ok(raw) => match serde_json::from_slice::<Value>(&raw) {
            Ok(Value::Object(m)) => m,
            Ok(Value::Null) => Map::new(),
            Ok(_) => {
                return Err(ConfigError::AuthFile {
                    path: path.to_path_buf(),
                    message: "unexpected JSON structure: the file is not a JSON object".into(),
                });
            }
            Err(e) => {
                return Err(ConfigError::AuthFile {
                    path: path.to_path_buf(),
                    message: format!("invalid JSON at line {} column {}", e.line(), e.column()),
                });
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(ConfigError::io(path, e)),
    };
    if !change(&mut top)? {
        return Ok(());
    }
    // Go's encoding/json writes map keys sorted; so does skopeo, and so does skiff.
    auths_of(&mut top).sort_keys();
    write_atomically(path, &serialize(&Value::Object(top), path)?)
}

/// Go's `json.MarshalIndent(v, "", "\t")`, with its HTML escaping.
fn serialize(value: &Value, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut ser).map_err(|e| ConfigError::AuthWrite {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&out)
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    Ok(text.into_bytes())
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), ConfigError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Directories created here are private, as c/image makes them (0700).
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| ConfigError::io(&dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth.json.")
        .tempfile_in(&dir)
        .map_err(|e| ConfigError::io(&dir, e))?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ConfigError::io(tmp.path(), e))?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ConfigError::io(path, e))?;
    tmp.persist(path)
        .map_err(|e| ConfigError::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sorted_tab_indented_0600_and_keeps_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"{"auths":{"z.io":{"auth":"eDp5"}},"credsStore":"pass","HttpHeaders":{"a":"b"}}"#,
        )
        .unwrap();
        set_credentials(&path, "a.io:5000", "me", "pw").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\n\t\"auths\": {\n\t\t\"a.io:5000\": {\n\t\t\t\"auth\": \"bWU6cHc=\"\n\t\t},\n\t\t\"z.io\": {\n\t\t\t\"auth\": \"eDp5\"\n\t\t}\n\t},\n\t\"credsStore\": \"pass\",\n\t\"HttpHeaders\": {\n\t\t\"a\": \"b\"\n\t}\n}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        remove_credentials(&path, "a.io:5000").unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("a.io"));
        assert!(matches!(
            remove_credentials(&path, "a.io:5000"),
            Err(ConfigError::NotLoggedIn { .. })
        ));
        remove_all_credentials(&path).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["auths"], serde_json::json!({}));
        assert_eq!(v["credsStore"], "pass");
    }

    #[test]
    fn a_new_file_and_its_directory_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("containers/auth.json");
        set_credentials(&path, "r.io", "u", "p").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n\t\"auths\": {\n\t\t\"r.io\": {\n\t\t\t\"auth\": \"dTpw\"\n\t\t}\n\t}\n}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[test]
    fn default_paths_follow_containers_common() {
        let mut env = Env {
            uid: Some(1000),
            ..Env::default()
        };
        assert_eq!(
            login_auth_file(&env, None).unwrap(),
            PathBuf::from("/run/containers/1000/auth.json")
        );
        let runtime = tempfile::tempdir().unwrap();
        env.xdg_runtime_dir = Some(runtime.path().to_path_buf());
        assert_eq!(
            login_auth_file(&env, None).unwrap(),
            runtime.path().join("containers/auth.json")
        );
        env.docker_config = Some(PathBuf::from("/d"));
        assert_eq!(
            login_auth_file(&env, None).unwrap(),
            PathBuf::from("/d/config.json")
        );
        env.registry_auth_file = Some(PathBuf::from("/r.json"));
        assert_eq!(
            login_auth_file(&env, None).unwrap(),
            PathBuf::from("/r.json")
        );
        assert_eq!(
            login_auth_file(&env, Some(Path::new("/f.json"))).unwrap(),
            PathBuf::from("/f.json")
        );
        env = Env {
            xdg_runtime_dir: Some(PathBuf::from("/nonexistent-runtime-dir")),
            ..Env::default()
        };
        assert!(
            login_auth_file(&env, None)
                .unwrap_err()
                .to_string()
                .contains("XDG_RUNTIME_DIR")
        );
    }
}
