//! One layer's way into the store: streamed from the copy into a staging directory of
//! its own (decompressed, its diff ID computed, its files written, tar-split recorded,
//! its digest checked), then added to the store on top of its parent.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::apply::{self, ApplyOptions};
use super::error::StorageError;
use super::layers::{self, NewLayer};
use super::lock::Mode;
use super::store::Store;
use super::tarsplit::TarSplitWriter;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::pipeline::{self, Compression};
use crate::transport::traits::BlobInfo;

/// A layer ready to be added to the store.
pub struct Staged {
    pub dir: PathBuf,
    pub tar_split: PathBuf,
    pub compressed: (Digest, u64),
    pub diff: (Digest, u64),
    pub compression: Option<Compression>,
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
    /// The parent it was built on (vfs trees contain their parents).
    pub built_on: Option<String>,
}

/// Counts (and hashes, unless the stream is verified already) what passes through.
struct Tap<R> {
    inner: R,
    hasher: Option<Hasher>,
    count: u64,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// Streams one layer blob into `dir`: decompress, hash, apply, record tar-split.
pub fn stage(
    store: &Store,
    input: impl Read,
    dir: &Path,
    tar_split: &Path,
    parent: Option<String>,
    verified: Option<BlobInfo>,
) -> std::result::Result<Staged, StorageError> {
    let mut compressed = Tap {
        inner: input,
        hasher: verified.is_none().then(|| Algorithm::Sha256.hasher()),
        count: 0,
    };
    let mut prefix = Vec::with_capacity(8);
    (&mut compressed)
        .take(6)
        .read_to_end(&mut prefix)
        .map_err(reading)?;
    let compression = pipeline::detect(&prefix);
    let root = store
        .driver
        .prepare(dir, parent.as_deref())
        .map_err(|e| StorageError::io(format!("preparing {}", dir.display()), e))?;
    let mut split = create_tar_split(tar_split)?;
    let (applied, diff) = {
        let joined = Read::chain(io::Cursor::new(prefix), &mut compressed);
        let plain: Box<dyn Read + '_> = match compression {
            None => Box::new(joined),
            Some(c) => pipeline::decoder(c, joined).map_err(reading)?,
        };
        unpack(store, plain, &root, &mut split)?
    };
    // The rest of the blob (a decoder may stop at its end marker): read to the end, so a
    // verifying stream reports a wrong digest here instead of passing.
    io::copy(&mut compressed, &mut io::sink()).map_err(reading)?;
    let digest = compressed_digest(verified.as_ref(), &mut compressed)?;
    finish_tar_split(split, tar_split)?;
    store
        .driver
        .seal(dir, parent.as_deref())
        .map_err(|e| StorageError::io(format!("finishing {}", dir.display()), e))?;
    Ok(Staged {
        dir: dir.to_path_buf(),
        tar_split: tar_split.to_path_buf(),
        compressed: (digest, compressed.count),
        diff,
        compression,
        uids: applied.uids.into_iter().collect(),
        gids: applied.gids.into_iter().collect(),
        built_on: parent,
    })
}

fn applying(source: apply::ApplyError) -> StorageError {
    StorageError::Apply {
        context: "applying a layer to the store".into(),
        source,
    }
}

/// A failure reading (or decompressing) the blob.
fn reading(e: io::Error) -> StorageError {
    applying(apply::ApplyError::Tar(e))
}

type SplitWriter = TarSplitWriter<io::BufWriter<File>>;

fn create_tar_split(path: &Path) -> std::result::Result<SplitWriter, StorageError> {
    let file = File::create(path)
        .and_then(|f| {
            use std::os::unix::fs::PermissionsExt;
            // containers/storage writes it 0600.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(f)
        })
        .map_err(|e| StorageError::io(format!("creating {}", path.display()), e))?;
    Ok(TarSplitWriter::new(io::BufWriter::new(file)))
}

fn finish_tar_split(split: SplitWriter, path: &Path) -> std::result::Result<(), StorageError> {
    let writing = |e| StorageError::io(format!("writing {}", path.display()), e);
    let mut out = split.finish().map_err(writing)?;
    io::Write::flush(&mut out).map_err(writing)
}

/// Applies the uncompressed layer under `root`, recording tar-split; returns what applying
/// found and the diff ID and size.
fn unpack(
    store: &Store,
    plain: impl Read,
    root: &Path,
    split: &mut SplitWriter,
) -> std::result::Result<(apply::Applied, (Digest, u64)), StorageError> {
    let opts = ApplyOptions {
        whiteouts: store.driver.whiteouts(),
        privileged: store.privileged,
        ignore_chown_errors: store.ignore_chown_errors,
    };
    let mut plain = Tap {
        inner: plain,
        hasher: Some(Algorithm::Sha256.hasher()),
        count: 0,
    };
    let applied = apply::apply(
        BufReader::with_capacity(pipeline::BUFFER_SIZE, &mut plain),
        root,
        &opts,
        split,
    )
    .map_err(applying)?;
    let diff = (
        plain.hasher.take().expect("set above").finish(),
        plain.count,
    );
    Ok((applied, diff))
}

/// The blob's digest: the one verified while streaming (its size checked here), else the
/// one computed.
fn compressed_digest<R>(
    verified: Option<&BlobInfo>,
    compressed: &mut Tap<R>,
) -> std::result::Result<Digest, StorageError> {
    match (verified, compressed.hasher.take()) {
        (Some(v), _) => {
            if v.size != compressed.count {
                return Err(StorageError::Invalid(format!(
                    "blob {}: {} bytes arrived, {} expected",
                    v.digest, compressed.count, v.size
                )));
            }
            Ok(v.digest.clone())
        }
        (None, Some(h)) => Ok(h.finish()),
        (None, None) => unreachable!("a hasher is set when nothing verified the stream"),
    }
}

/// Adds a staged layer on `parent`; returns its ID (the store's, if it had it already).
pub fn install_staged(
    store: &Store,
    staged: Staged,
    parent: Option<String>,
) -> std::result::Result<String, StorageError> {
    let id = layers::layer_id(parent.as_deref(), &staged.diff.0);
    let new = NewLayer {
        id: id.clone(),
        parent: parent.clone(),
        compressed: staged.compressed.clone(),
        diff: staged.diff.clone(),
        compression: staged.compression,
        uids: staged.uids.clone(),
        gids: staged.gids.clone(),
    };
    if store.driver.needs_parent_content() && staged.built_on != parent {
        return Err(StorageError::Invalid(format!(
            "internal error: layer {id} was built on another parent"
        )));
    }
    let added = layers::install(store, &new, &staged.dir, &staged.tar_split);
    if !matches!(added, Ok(true)) {
        let _ = super::sys::remove_tree(&staged.dir);
        let _ = std::fs::remove_file(&staged.tar_split);
    }
    added.map(|_| id)
}

/// Builds a layer the store has (by diff ID) again on another parent, from its tar
/// stream rebuilt out of the store.
pub fn restage_known(
    store: &Store,
    diff: &Digest,
    compressed: (Digest, u64),
    parent: Option<String>,
    dir: &Path,
    tar_split: &Path,
) -> std::result::Result<Staged, StorageError> {
    let source_id = {
        let _l = store.lock_layers(Mode::Shared)?;
        let all = layers::load(store)?;
        layers::by_digest(&all, diff)
            .into_iter()
            .map(layers::info)
            .find(|l| l.diff_digest.as_ref() == Some(diff))
            .map(|l| l.id)
            .ok_or_else(|| {
                StorageError::NotFound(format!(
                    "locating layer for blob {}: layer not known",
                    compressed.0
                ))
            })?
    };
    // Rebuilt to a file first: the layers lock is held while reading the layer, and
    // adding a layer needs it exclusively.
    let spool = dir.with_extension("tar");
    {
        let _l = store.lock_layers(Mode::Shared)?;
        let files = store
            .driver
            .file_getter(&source_id)
            .map_err(|e| StorageError::io(format!("reading layer {source_id}"), e))?;
        let mut tar = super::tarsplit::Assembler::open(&store.tar_split_path(&source_id), files)
            .map_err(|e| StorageError::io(format!("reading layer {source_id}"), e))?;
        let mut out = File::create(&spool)
            .map_err(|e| StorageError::io(format!("creating {}", spool.display()), e))?;
        io::copy(&mut tar, &mut out)
            .map_err(|e| StorageError::io(format!("reading layer {source_id}"), e))?;
    }
    let file = File::open(&spool)
        .map_err(|e| StorageError::io(format!("reading {}", spool.display()), e))?;
    let result = stage(
        store,
        BufReader::with_capacity(pipeline::BUFFER_SIZE, file),
        dir,
        tar_split,
        parent,
        None,
    );
    let _ = std::fs::remove_file(&spool);
    let mut staged = result?;
    if &staged.diff.0 != diff {
        return Err(StorageError::Corrupt(format!(
            "layer {source_id} no longer has the diff ID {diff} its record says"
        )));
    }
    // Recorded as the blob the image names, as containers/image records it.
    staged.compressed = compressed;
    Ok(staged)
}
