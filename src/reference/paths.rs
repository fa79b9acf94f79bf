//! Path resolution as c/image `directory/explicitfilepath.ResolvePathToFullyExplicit`,
//! used at parse time by `dir:`, `oci:` and `oci-archive:` (so a missing parent
//! directory is a *parse* error, exactly as in skopeo), plus Go's `filepath.Clean`.

use std::io;
use std::path::Path;

/// Resolve `path` to an absolute path without symlinks. The path itself need not
/// exist, but its parent must. Errors carry Go's wording (`lstat /x: no such file or
/// directory`).
pub(crate) fn resolve_fully_explicit(path: &str) -> Result<String, String> {
    match std::fs::symlink_metadata(Path::new(path)) {
        Ok(_) => resolve_existing(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (parent, file) = match path.rfind('/') {
                Some(i) => path.split_at(i + 1),
                None => ("", path),
            };
            let resolved_parent = resolve_existing(parent)?;
            if file == "." || file == ".." {
                return Err(format!(
                    "Unexpectedly missing special filename component in {path}"
                ));
            }
            Ok(join(&resolved_parent, file))
        }
        Err(e) => Err(format!("lstat {path}: {}", go_errno_text(&e))),
    }
}

/// `filepath.Abs` followed by `filepath.EvalSymlinks` and `Clean`.
fn resolve_existing(path: &str) -> Result<String, String> {
    let abs = absolute(path)?;
    match std::fs::canonicalize(&abs) {
        Ok(p) => match p.to_str() {
            Some(s) => Ok(clean(s)),
            None => Err(format!("lstat {abs}: path is not valid UTF-8")),
        },
        Err(e) => Err(eval_symlinks_error(&abs, &e)),
    }
}

/// Go's `EvalSymlinks` reports the first path prefix it could not `lstat`.
fn eval_symlinks_error(abs: &str, fallback: &io::Error) -> String {
    let mut prefix = String::new();
    for comp in abs.split('/').filter(|c| !c.is_empty()) {
        prefix.push('/');
        prefix.push_str(comp);
        if let Err(e) = std::fs::metadata(&prefix) {
            return format!("lstat {prefix}: {}", go_errno_text(&e));
        }
    }
    format!("lstat {abs}: {}", go_errno_text(fallback))
}

/// `filepath.Abs`: clean, joined with the working directory when relative.
pub(crate) fn absolute(path: &str) -> Result<String, String> {
    if path.starts_with('/') {
        return Ok(clean(path));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("getwd: {}", go_errno_text(&e)))?;
    let cwd = cwd
        .to_str()
        .ok_or_else(|| "getwd: path is not valid UTF-8".to_string())?;
    Ok(join(cwd, path))
}

/// `filepath.Join` of two elements (ignoring an empty one), cleaned.
fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        clean(a)
    } else if a.is_empty() {
        clean(b)
    } else {
        clean(&format!("{a}/{b}"))
    }
}

/// Go's `filepath.Clean` for Unix paths.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|c| *c != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// Go's text for common errno values (Go prints e.g. "no such file or directory",
/// Rust "No such file or directory (os error 2)").
pub(crate) fn go_errno_text(e: &io::Error) -> String {
    let known = match e.raw_os_error() {
        Some(2) => Some("no such file or directory"),
        Some(13) => Some("permission denied"),
        Some(20) => Some("not a directory"),
        Some(36) => Some("file name too long"),
        Some(40) => Some("too many levels of symbolic links"),
        _ => None,
    };
    match known {
        Some(s) => s.to_string(),
        None => {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or_default();
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => String::new(),
            }
        }
    }
}

/// Parent namespaces of a resolved absolute path, excluding the path itself
/// (c/image `dirReference.PolicyConfigurationNamespaces`).
pub(crate) fn parent_namespaces(resolved: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut path = resolved;
    while let Some(i) = path.rfind('/') {
        if i == 0 {
            break;
        }
        path = &path[..i];
        res.push(path.to_string());
    }
    res
}

/// The path and its parents, stopping before `/`
/// (c/image `ociReference.PolicyConfigurationNamespaces`).
pub(crate) fn self_and_parent_namespaces(resolved: &str) -> Vec<String> {
    let mut res = Vec::new();
    let mut path = resolved;
    while let Some(i) = path.rfind('/') {
        if path == "/" {
            break;
        }
        res.push(path.to_string());
        path = &path[..i];
    }
    res
}
