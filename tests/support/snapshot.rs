//! Snapshots of file trees (relative paths + sha256 of file bytes), so a test can prove
//! that a destination was not touched; tar contents; skiff's temporary leftovers.
//! Part of `support` (re-exported there).

use super::*;

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File { sha256: String, len: u64 },
    Symlink(PathBuf),
}

/// A file tree: relative path → entry. `absent` is true if the root did not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub root: PathBuf,
    pub absent: bool,
    pub entries: BTreeMap<String, Entry>,
}

/// Record a file or directory tree (a plain file snapshots as the entry "").
pub fn snapshot(root: &Path) -> Snapshot {
    let mut entries = BTreeMap::new();
    let absent = match fs::symlink_metadata(root) {
        Err(_) => true,
        Ok(m) if m.is_dir() => {
            walk(root, root, &mut entries);
            false
        }
        Ok(_) => {
            entries.insert(String::new(), entry_of(root));
            false
        }
    };
    Snapshot {
        root: root.to_path_buf(),
        absent,
        entries,
    }
}

fn entry_of(path: &Path) -> Entry {
    let m = fs::symlink_metadata(path).unwrap();
    if m.is_dir() {
        Entry::Dir
    } else if m.file_type().is_symlink() {
        Entry::Symlink(fs::read_link(path).unwrap())
    } else {
        Entry::File {
            sha256: sha256_file(path),
            len: m.len(),
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let entry = entry_of(&path);
        let is_dir = entry == Entry::Dir;
        out.insert(rel, entry);
        if is_dir {
            walk(root, &path, out);
        }
    }
}

impl Snapshot {
    /// Human-readable differences from `other` (empty if identical).
    pub fn diff(&self, other: &Snapshot) -> Vec<String> {
        let mut d = Vec::new();
        if self.absent != other.absent {
            d.push(format!(
                "root {}: {} vs {}",
                self.root.display(),
                if self.absent { "absent" } else { "present" },
                if other.absent { "absent" } else { "present" }
            ));
        }
        for (k, v) in &self.entries {
            match other.entries.get(k) {
                None => d.push(format!("only in {}: {k}", self.root.display())),
                Some(w) if w != v => d.push(format!("differs: {k}: {v:?} vs {w:?}")),
                _ => {}
            }
        }
        for k in other.entries.keys() {
            if !self.entries.contains_key(k) {
                d.push(format!("only in {}: {k}", other.root.display()));
            }
        }
        d
    }

    /// Assert `path` now looks exactly like this snapshot.
    #[track_caller]
    pub fn assert_unchanged(&self, context: &str) {
        let now = snapshot(&self.root);
        let d = self.diff(&now);
        assert!(
            d.is_empty(),
            "{context}: destination {} changed:\n  {}",
            self.root.display(),
            d.join("\n  ")
        );
    }
}

/// Assert two trees have the same relative paths and the same file bytes.
#[track_caller]
pub fn assert_same_tree(ours: &Path, theirs: &Path, context: &str) {
    let a = snapshot(ours);
    let b = snapshot(theirs);
    assert!(!a.absent, "{context}: {} does not exist", ours.display());
    assert!(!b.absent, "{context}: {} does not exist", theirs.display());
    let d = a.diff(&b);
    assert!(
        d.is_empty(),
        "{context}: trees differ (skiff vs skopeo):\n  {}",
        d.join("\n  ")
    );
}

/// Contents of a tar archive: member path (without leading "./" or trailing "/") → entry.
pub fn tar_contents(path: &Path) -> BTreeMap<String, Entry> {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut ar = tar::Archive::new(f);
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name.is_empty() {
            continue;
        }
        let entry = match e.header().entry_type() {
            tar::EntryType::Directory => Entry::Dir,
            tar::EntryType::Symlink => Entry::Symlink(e.link_name().unwrap().unwrap().into_owned()),
            _ => {
                let mut buf = Vec::new();
                e.read_to_end(&mut buf).unwrap();
                Entry::File {
                    sha256: sha256_digest(&buf),
                    len: buf.len() as u64,
                }
            }
        };
        out.insert(name, entry);
    }
    out
}

/// Extract a tar archive into `dest`.
pub fn extract_tar(path: &Path, dest: &Path) {
    let f = fs::File::open(path).unwrap();
    fs::create_dir_all(dest).unwrap();
    tar::Archive::new(f).unpack(dest).unwrap();
}

/// Entries of `dir` whose name looks like a skiff temporary file (`.…skiff-…`).
pub fn skiff_temp_leftovers(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Err(_) => vec![],
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n.contains("skiff"))
            .collect(),
    }
}

/// Makes every skiff temporary under `root` (any depth, `root` included) look abandoned
/// long ago: its modification time goes 10 minutes back, past the sweep's age threshold
/// (the lock is what proves a dead copy's leftovers abandoned; the age only covers a
/// writer's first instant).
pub fn age_skiff_leftovers(root: &Path) {
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let path = e.path();
            let kind = e.file_type().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("skiff-") && !kind.is_symlink() {
                fs::File::open(&path).unwrap().set_modified(then).unwrap();
            }
            if kind.is_dir() {
                stack.push(path);
            }
        }
    }
}
