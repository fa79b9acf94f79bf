//! An opened store ([`Store`]): its configuration, driver, directories and locks, and
//! opening the store a name means ([`open_store`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{self, StoreConfig};
use super::drivers::{self, Driver};
use super::error::{Result, StorageError};
use super::lock::{Lock, Mode};
use crate::reference::StorageRef;

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
