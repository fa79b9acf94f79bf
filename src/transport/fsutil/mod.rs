//! Crash-safe file writing shared by the local transports: temp file in the target
//! directory, fsync, rename (`files`); staging directories that vanish unless committed
//! (`staging`, `temp`); directory locks (`lock`); opening beneath a root (`beneath`).

mod beneath;
mod files;
mod lock;
mod staging;
mod temp;

pub use beneath::{open_beneath, read_beneath};
pub use files::{
    Durability, absolute, digest_file, digest_reader, keep_mode_and_owner, parent_of, read_limited,
    start_writeback, store_blob, sync_dir, verify_existing, write_atomically,
};
pub use lock::{DirLock, lock_dir};
pub use staging::Staging;
pub use temp::{
    TempDir, scratch_dir_in, scratch_file_in, sweep_stale, temp_dir_in, temp_file_in,
    visible_entries,
};
