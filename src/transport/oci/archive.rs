//! Writing `oci-archive:` tar files: the layout is built in a temp directory and tarred
//! next to the target, renamed into place on commit. (Reading uses the shared tar index
//! of `docker_archive`, which serves each file by offset without extracting anything.)

use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::transport::docker_archive::append_from;
use crate::transport::error::{Result, TransportError};
use crate::transport::fsutil;

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
    fsutil::keep_mode_and_owner(target, temp.path()).map_err(ctx)?;
    temp.persist(target).map_err(|e| ctx(e.error))?;
    fsutil::sync_dir(&parent)
}

fn append_tree<W: Write>(builder: &mut tar::Builder<W>, root: &Path, rel: &Path) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = rel.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            // "blobs/", as GNU tar and Go (skopeo) name directories.
            let mut dir_name = name.clone().into_os_string();
            dir_name.push("/");
            builder.append_dir(&dir_name, entry.path())?;
            append_tree(builder, root, &name)?;
        } else {
            // The header `append_path_with_name` would write; the data copied by the kernel.
            let file = std::fs::File::open(entry.path())?;
            let meta = file.metadata()?;
            let mut header = tar::Header::new_gnu();
            header.set_metadata_in_mode(&meta, tar::HeaderMode::Deterministic);
            append_from(builder, &mut header, &name, file, meta.len())?;
        }
    }
    Ok(())
}
