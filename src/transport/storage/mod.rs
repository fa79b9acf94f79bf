//! `containers-storage:`: the local store of podman, buildah and CRI-O, read and written
//! as containers/storage 1.43 and containers/image 5.23 (Debian's podman 4.3 and skopeo
//! 1.9.3) lay it out, so each sees the other's images.
//!
//! - `config`: which store a name means (storage.conf); `lock`: the lock-file protocol;
//! - `records`, `layers`, `images`: `layers.json`, `images.json` and big-data items;
//! - `drivers`: overlay and vfs on disk; `staging`, `apply`, `tarstream`, `tarsplit`,
//!   `sys`: a layer's tar stream into a driver's directory and back, bit for bit;
//! - `source`, `destination`: the transport; `delete` for `skiff delete`;
//! - `error`: the module's error type; `store`: an opened store, its paths and locks.

mod apply;
mod config;
mod delete;
mod destination;
mod drivers;
mod error;
mod images;
mod layers;
mod lock;
mod records;
mod source;
mod staging;
mod store;
mod sys;
mod tarsplit;
mod tarstream;

pub use config::StoreConfig;
pub use delete::delete_image;
pub use destination::StorageDestination;
pub use error::{Result, StorageError};
pub use images::resolve_name;
pub use source::StorageSource;
pub use store::{Store, display_name, open_store};
