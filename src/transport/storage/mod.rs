//! `containers-storage:`: the local store of podman, buildah and CRI-O, read and written
//! as containers/storage 1.43 and containers/image 5.23 (Debian's podman 4.3 and skopeo
//! 1.9.3) lay it out, so each sees the other's images.
//!
//! - `config`: which store a name means (storage.conf); `lock`: the lock-file protocol;
//! - `records`, `layers`, `images`: `layers.json`, `images.json` and big-data items;
//! - `drivers`: overlay and vfs on disk; `staging`, `apply`, `tarstream`, `tarsplit`,
//!   `sys`: a layer's tar stream into a driver's directory and back, bit for bit;
//! - `source`, `destination`: the transport; `delete` for `skiff delete`.

mod apply;
mod config;
mod delete;
mod destination;
mod drivers;
mod images;
mod layers;
mod lock;
mod records;
mod source;
mod staging;
mod sys;
mod tarsplit;
mod tarstream;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::StoreConfig;
pub use delete::delete_image;
pub use destination::StorageDestination;
pub use source::StorageSource;

use super::TransportError;
use crate::reference::{ReferenceError, StorageRef};
use drivers::Driver;
use lock::{Lock, Mode};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// storage.conf or the store's options.
    #[error("{0}")]
    Config(String),
    /// A record file or big-data item that cannot be read as containers/storage writes it.
    #[error("{0}")]
    Corrupt(String),
    /// containers/image's "does not resolve to an image ID" and friends.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("not supported yet: {0}")]
    NotSupportedYet(String),
    #[error("{context}: {source}")]
    Apply {
        context: String,
        #[source]
        source: apply::ApplyError,
    },
}

impl StorageError {
    fn io(context: impl Into<String>, source: io::Error) -> StorageError {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<StorageError> for TransportError {
    fn from(e: StorageError) -> TransportError {
        match e {
            StorageError::Io { context, source } => TransportError::Io { context, source },
            StorageError::NotFound(m) => TransportError::NotFound(m),
            StorageError::NotSupportedYet(m) => TransportError::NotSupportedYet(m),
            StorageError::Apply { context, source } => match source {
                // The stream's own failure (a digest mismatch, a dropped connection) keeps
                // its kind, so the copy can tell whether a retry may help.
                apply::ApplyError::Tar(e) => TransportError::Io { context, source: e },
                other => TransportError::Invalid(format!("{context}: {other}")),
            },
            other => TransportError::Invalid(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// An opened store: its resolved configuration and driver.
pub struct Store {
    pub config: StoreConfig,
    pub driver: Driver,
    /// Root: device nodes, any owner.
    pub privileged: bool,
    pub ignore_chown_errors: bool,
}

impl Store {
    /// Opens (creating, as containers/storage's `GetStore` does) the store `config` names.
    pub fn open(config: StoreConfig) -> Result<Arc<Store>> {
        let mut config = config;
        if config.driver.is_empty() {
            config.driver = detect_driver(&config.graph_root)?;
        }
        // SAFETY: geteuid cannot fail.
        let privileged = unsafe { libc::geteuid() } == 0;
        let home = config.graph_root.join(&config.driver);
        let driver = match config.driver.as_str() {
            "overlay" => {
                if config.option("force_mask").is_some() {
                    return Err(StorageError::NotSupportedYet(
                        "the overlay driver's force_mask option".into(),
                    ));
                }
                Driver::Overlay(drivers::Overlay {
                    home,
                    mount_program: config.option("mount_program").is_some(),
                    rootless: !privileged,
                })
            }
            "vfs" => Driver::Vfs(drivers::Vfs { home }),
            other => {
                return Err(StorageError::NotSupportedYet(format!(
                    "the {other} storage driver (skiff reads and writes overlay and vfs stores)"
                )));
            }
        };
        let ignore_chown_errors = config.flag("ignore_chown_errors")?;
        let store = Store {
            config,
            driver,
            privileged,
            ignore_chown_errors,
        };
        store.make_dirs()?;
        Ok(Arc::new(store))
    }

    fn make_dirs(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let d = self.driver.name();
        let g = &self.config.graph_root;
        let r = &self.config.run_root;
        let mut dirs = vec![
            g.clone(),
            r.clone(),
            g.join("mounts"),
            g.join("tmp"),
            g.join(d),
            g.join(format!("{d}-images")),
            g.join(format!("{d}-layers")),
            g.join(format!("{d}-containers")),
            r.join(format!("{d}-layers")),
            r.join(format!("{d}-containers")),
            r.join(format!("{d}-locks")),
        ];
        if let Driver::Vfs(_) = self.driver {
            dirs.push(g.join("vfs/dir"));
        }
        for dir in dirs {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| StorageError::io(format!("creating {}", dir.display()), e))?;
        }
        if let Driver::Overlay(o) = &self.driver {
            let l = o.home.join("l");
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&l)
                .map_err(|e| StorageError::io(format!("creating {}", l.display()), e))?;
        }
        Ok(())
    }

    /// `[driver@graphroot+runroot:options]`, as containers/image prints a store.
    pub fn spec(&self) -> String {
        let mut s = format!(
            "[{}@{}+{}",
            self.config.driver,
            self.config.graph_root.display(),
            self.config.run_root.display()
        );
        if !self.config.options.is_empty() {
            s.push(':');
            s.push_str(&self.config.options.join(","));
        }
        s.push(']');
        s
    }

    fn prefixed(&self, what: &str) -> PathBuf {
        self.config
            .graph_root
            .join(format!("{}-{what}", self.driver.name()))
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.prefixed("layers")
    }

    pub fn images_dir(&self) -> PathBuf {
        self.prefixed("images")
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.prefixed("containers")
    }

    pub fn tar_split_path(&self, id: &str) -> PathBuf {
        self.layers_dir().join(format!("{id}.tar-split.gz"))
    }

    /// The store's `tmp` (containers/storage's; skiff's staging was here once).
    pub fn tmp_dir(&self) -> PathBuf {
        self.config.graph_root.join("tmp")
    }

    pub fn lock_layers(&self, mode: Mode) -> Result<Lock> {
        lock_at(&self.layers_dir().join("layers.lock"), mode)
    }

    pub fn lock_images(&self, mode: Mode) -> Result<Lock> {
        lock_at(&self.images_dir().join("images.lock"), mode)
    }

    pub fn lock_containers(&self, mode: Mode) -> Result<Lock> {
        lock_at(&self.containers_dir().join("containers.lock"), mode)
    }

    /// Removes what killed processes left: skiff's staging directories (in the driver's
    /// directory) and tar-split temp files (beside `layers.json`) whose owner is gone,
    /// and layers still marked incomplete (as containers/storage does on load).
    pub fn recover(&self) -> Result<()> {
        for dir in [
            self.driver.home().to_path_buf(),
            self.layers_dir(),
            self.tmp_dir(),
        ] {
            super::fsutil::sweep_stale(&dir);
        }
        layers::delete_incomplete(self)
    }
}

fn lock_at(path: &Path, mode: Mode) -> Result<Lock> {
    Lock::acquire(path, mode).map_err(|e| StorageError::io("locking the store", e))
}

/// containers/storage's choice when no driver is named: a driver that already has
/// state, else overlay where the kernel has it, else vfs.
fn detect_driver(graph_root: &Path) -> Result<String> {
    for other in ["aufs", "btrfs", "zfs", "devicemapper"] {
        if graph_root.join(other).exists() {
            return Err(StorageError::NotSupportedYet(format!(
                "the {other} storage driver (skiff reads and writes overlay and vfs stores)"
            )));
        }
    }
    if graph_root.join("overlay").exists() {
        return Ok("overlay".into());
    }
    let has_overlay = std::fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
        .unwrap_or(false);
    // SAFETY: geteuid cannot fail.
    if has_overlay && unsafe { libc::geteuid() } == 0 {
        Ok("overlay".into())
    } else {
        Ok("vfs".into())
    }
}

/// Completes a parsed `containers-storage:` name against its store, as containers/image
/// does while parsing: the store's actual driver and paths, and image IDs given by a
/// prefix (`@abc123`, or a bare `abc123` that no name matches) made whole.
pub fn resolve_name(
    r: &StorageRef,
    input: &str,
) -> std::result::Result<StorageRef, TransportError> {
    let store = Store::open(config::resolve(r)?)?;
    let images = images::load_images(&store)?;
    let lookup = |prefix: &str| images::id_by_prefix(&images, prefix);
    let rest = input.strip_prefix("containers-storage:").unwrap_or(input);
    let mut resolved = crate::reference::storage_with_lookup(rest, &lookup)
        .map_err(|e: ReferenceError| TransportError::Invalid(e.to_string()))?;
    resolved.driver = Some(store.config.driver.clone());
    resolved.graph_root = Some(store.config.graph_root.clone());
    resolved.run_root = Some(store.config.run_root.clone());
    resolved.options = store.config.options.clone();
    Ok(resolved)
}

/// The name of `r` as containers/image prints it (`containers-storage:[…]name`).
pub fn display_name(store: &Store, r: &StorageRef) -> String {
    let mut s = format!("containers-storage:{}", store.spec());
    if let Some(named) = &r.reference {
        s.push_str(&named.to_string());
    }
    if let Some(id) = &r.id {
        s.push('@');
        s.push_str(id);
    }
    s
}

/// Opens the store a name means.
pub fn open_store(r: &StorageRef) -> Result<Arc<Store>> {
    Store::open(config::resolve(r)?)
}
