//! `oci-archive:` tar files. Reading indexes the tar once and then serves each file by
//! seeking to its offset, so nothing is extracted; writing builds a layout in a temp
//! directory and tars it next to the target, renamed into place on commit.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::pipeline::BlobReader;
use crate::transport::fsutil;
use crate::transport::{Result, TransportError};

/// Where each regular file of an archive lies.
#[derive(Debug)]
pub struct ArchiveIndex {
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
}

impl ArchiveIndex {
    /// Scans the headers of `path` (blocking; call from spawn_blocking).
    pub fn scan(path: &Path) -> Result<ArchiveIndex> {
        let ctx =
            |e: io::Error| TransportError::io(format!("reading OCI archive {}", path.display()), e);
        let file = std::fs::File::open(path).map_err(ctx)?;
        let mut archive = tar::Archive::new(io::BufReader::new(file));
        let mut files = HashMap::new();
        for entry in archive.entries_with_seek().map_err(ctx)? {
            let entry = entry.map_err(ctx)?;
            let name = entry.path().map_err(ctx)?.into_owned();
            let Some(key) = normalize(&name) else {
                return Err(TransportError::Invalid(format!(
                    "OCI archive {}: entry {:?} escapes the archive root",
                    path.display(),
                    name
                )));
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let at = (entry.raw_file_position(), entry.size());
            if files.insert(key.clone(), at).is_some() {
                return Err(TransportError::Invalid(format!(
                    "OCI archive {}: duplicate entry {key:?}",
                    path.display()
                )));
            }
        }
        Ok(ArchiveIndex {
            path: path.to_path_buf(),
            files,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn locate(&self, name: &str) -> Result<(u64, u64)> {
        self.files.get(name).copied().ok_or_else(|| {
            TransportError::NotFound(format!(
                "{name} not found in OCI archive {}",
                self.path.display()
            ))
        })
    }

    pub fn size_of(&self, name: &str) -> Result<u64> {
        Ok(self.locate(name)?.1)
    }

    pub async fn open(&self, name: &str) -> Result<BlobReader> {
        let (offset, size) = self.locate(name)?;
        let ctx = |e: io::Error| {
            TransportError::io(
                format!("reading {name} from OCI archive {}", self.path.display()),
                e,
            )
        };
        let mut file = tokio::fs::File::open(&self.path).await.map_err(ctx)?;
        file.seek(io::SeekFrom::Start(offset)).await.map_err(ctx)?;
        Ok(Box::pin(file.take(size)))
    }
}

/// "./blobs/sha256/x" -> "blobs/sha256/x"; None for paths that leave the root.
fn normalize(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Tars the layout in `layout` into `target` atomically (blocking).
pub fn write_archive(layout: &Path, target: &Path) -> Result<()> {
    let parent = fsutil::parent_of(target);
    let ctx =
        |e: io::Error| TransportError::io(format!("writing OCI archive {}", target.display()), e);
    fsutil::sweep_stale(&parent);
    let temp = fsutil::temp_file_in(&parent, "archive")?;
    {
        let mut builder = tar::Builder::new(BufWriter::with_capacity(
            crate::pipeline::BUFFER_SIZE,
            temp.as_file(),
        ));
        // Fixed owners and times: the same image always gives the same archive.
        builder.mode(tar::HeaderMode::Deterministic);
        builder.follow_symlinks(false);
        append_tree(&mut builder, layout, Path::new("")).map_err(ctx)?;
        let mut out = builder.into_inner().map_err(ctx)?;
        out.flush().map_err(ctx)?;
    }
    temp.as_file().sync_all().map_err(ctx)?;
    temp.persist(target).map_err(|e| ctx(e.error))?;
    fsutil::sync_dir(&parent)
}

fn append_tree<W: Write>(builder: &mut tar::Builder<W>, root: &Path, rel: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            builder.append_dir(&name, entry.path())?;
            append_tree(builder, root, &name)?;
        } else {
            builder.append_path_with_name(entry.path(), &name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_entry_names() {
        assert_eq!(
            normalize(Path::new("./blobs/sha256/ab")).as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(
            normalize(Path::new("index.json")).as_deref(),
            Some("index.json")
        );
        assert_eq!(normalize(Path::new("../etc/passwd")), None);
        assert_eq!(normalize(Path::new("/abs")), None);
    }
}
