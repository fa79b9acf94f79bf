//! `sif:PATH`, a Singularity image file, read as containers/image's `sif` package reads it:
//! the descriptor table is parsed, the primary system partition (squashfs) is extracted with
//! Debian's `unsquashfs` and tarred with GNU tar under `fakeroot` into one uncompressed layer,
//! and the definition file's `%environment` and `%runscript` become `/podman/runscript`,
//! the image's command. Config and manifest are the bytes containers/image generates.
//!
//! Two deliberate differences make the layer reproducible: GNU tar is told not to record
//! access and change times, and the injected runscript (and its directory) get the SIF's
//! modification time instead of the time of the copy.

pub(crate) mod format;

use std::path::{Path, PathBuf};
use std::process::Command;

use async_trait::async_trait;

use super::error::{Result, TransportError};
use super::fsutil;
use super::traits::ImageSource;
use crate::digest::Digest;
use crate::gotime::rfc3339_nano;
use crate::manifest::gojson::write_str;
use crate::manifest::{Descriptor, mime};
use crate::pipeline::BlobReader;
use crate::signature::Signature;

use format::{DeffileScript, INJECTED_SCRIPT, SifFile};

pub struct SifSource {
    /// Holds the layer; removed with the source.
    _work: fsutil::TempDir,
    layer: PathBuf,
    layer_digest: Digest,
    config: Vec<u8>,
    config_digest: Digest,
    manifest: Vec<u8>,
}

/// containers/image's "loading SIF file: …" (the image name is in the caller's context).
fn sif_error(e: impl std::fmt::Display) -> TransportError {
    TransportError::Invalid(format!("loading SIF file: {e}"))
}

impl SifSource {
    pub async fn open(path: &Path, tmpdir: &Path) -> Result<SifSource> {
        let (path, tmpdir) = (path.to_path_buf(), tmpdir.to_path_buf());
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, &tmpdir))
            .await
            .map_err(|e| TransportError::Invalid(format!("converting the SIF image: {e}")))?
    }

    fn open_blocking(path: &Path, tmpdir: &Path) -> Result<SifSource> {
        let sif = SifFile::open(path).map_err(sif_error)?;
        let script = sif.deffile_script().map_err(sif_error)?;
        std::fs::create_dir_all(tmpdir)
            .map_err(|e| TransportError::io(format!("creating {}", tmpdir.display()), e))?;
        fsutil::sweep_stale(tmpdir);
        let work = fsutil::scratch_dir_in(tmpdir, "", "sif")?;
        let layer = convert(&sif, &script, work.path()).map_err(|e| {
            TransportError::Invalid(format!("converting rootfs from SquashFS to Tarball: {e}"))
        })?;
        let (layer_digest, layer_size) = fsutil::digest_file(&layer)
            .map_err(|e| TransportError::io(format!("reading {}", layer.display()), e))?;
        let config = config_json(&sif, &script, &layer_digest);
        let config_digest = Digest::sha256_of(config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{layer_digest}","size":{layer_size}}}]}}"#,
            mime::OCI_MANIFEST,
            mime::OCI_CONFIG,
            config.len(),
            mime::OCI_LAYER,
        );
        Ok(SifSource {
            _work: work,
            layer,
            layer_digest,
            config: config.into_bytes(),
            config_digest,
            manifest: manifest.into_bytes(),
        })
    }
}

/// containers/image's `convertSIFToElements`: the squashfs partition copied out, the
/// runscript put in place, `unsquashfs` and GNU tar run under `fakeroot`.
fn convert(
    sif: &SifFile,
    script: &DeffileScript,
    work: &Path,
) -> std::result::Result<PathBuf, String> {
    let squashfs = work.join("rootfs.squashfs");
    let root = work.join("rootfs");
    let tar = work.join("rootfs.tar");
    sif.copy_root_partition(&squashfs)
        .map_err(|e| format!("copying the root filesystem partition: {e}"))?;
    if let Some(text) = &script.injected {
        write_injected_script(&root, text, sif.modified_at())?;
    }
    // c/image runs `unsquashfs -d ROOT -f SQUASHFS && tar --acls --xattrs -C ROOT -cpf TAR ./`
    // through a script; the paths go in as arguments here, so spaces cannot split them.
    let output = Command::new("fakeroot")
        .args([
            "--",
            "sh",
            "-c",
            "unsquashfs -d \"$1\" -f \"$2\" && tar --acls --xattrs --pax-option=delete=atime,delete=ctime -C \"$1\" -cpf \"$3\" ./",
            "sh",
        ])
        .arg(&root)
        .arg(&squashfs)
        .arg(&tar)
        .output()
        .map_err(|e| {
            format!(
                "converting image: running fakeroot: {e} (install Debian's fakeroot and squashfs-tools)"
            )
        })?;
    let _ = std::fs::remove_file(&squashfs);
    let _ = std::fs::remove_dir_all(&root);
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(format!(
            "converting image: {}, output: {text}",
            output.status
        ));
    }
    Ok(tar)
}

fn write_injected_script(root: &Path, text: &str, mtime: i64) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let file = root.join(INJECTED_SCRIPT.trim_start_matches('/'));
    let dir = file.parent().unwrap_or(root);
    let fail = |what: &Path, e: std::io::Error| format!("writing {}: {e}", what.display());
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    std::fs::write(&file, text).map_err(|e| fail(&file, e))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail(&file, e))?;
    // The SIF's time, not the copy's: the same SIF always gives the same layer.
    let when = filetime::FileTime::from_unix_time(mtime, 0);
    for p in [file.as_path(), dir] {
        filetime::set_file_times(p, when, when).map_err(|e| fail(p, e))?;
    }
    Ok(())
}

/// The config containers/image writes (Go's encoding of `imgspecv1.Image`).
fn config_json(sif: &SifFile, script: &DeffileScript, layer: &Digest) -> String {
    let created = rfc3339_nano(sif.modified_at(), 0);
    let mut out = format!(
        r#"{{"created":"{created}","architecture":"{}","os":"linux","config":{{"Cmd":["#,
        sif.go_arch()
    );
    write_str(&mut out, &script.command);
    out.push_str(&format!(
        r#"]}},"rootfs":{{"type":"layers","diff_ids":["{layer}"]}},"history":[{{"created":"{created}","created_by":"/bin/sh -c #(nop) ADD file:{} in /","comment":"#,
        layer.hex()
    ));
    write_str(
        &mut out,
        &format!("imported from SIF, uuid: {}", sif.uuid()),
    );
    out.push_str(&format!(
        r#"}},{{"created":"{created}","created_by":"/bin/sh -c #(nop) CMD [\"bash\"]","empty_layer":true}}]}}"#
    ));
    out
}

#[async_trait]
impl ImageSource for SifSource {
    async fn manifest(&self, instance: Option<&Digest>) -> Result<(Vec<u8>, Option<String>)> {
        if instance.is_some() {
            return Err(TransportError::Unsupported(
                "manifest lists are not supported by the sif transport".into(),
            ));
        }
        Ok((self.manifest.clone(), Some(mime::OCI_MANIFEST.to_string())))
    }

    async fn blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        if desc.digest == self.config_digest {
            return Ok(Box::pin(std::io::Cursor::new(self.config.clone())));
        }
        if desc.digest == self.layer_digest {
            let file = tokio::fs::File::open(&self.layer)
                .await
                .map_err(|e| TransportError::io(format!("opening {}", self.layer.display()), e))?;
            return Ok(Box::pin(file));
        }
        Err(TransportError::NotFound(format!(
            "no blob with digest {:?} found",
            desc.digest.to_string()
        )))
    }

    async fn signatures(&self, _instance: Option<&Digest>) -> Result<Vec<Signature>> {
        Ok(Vec::new())
    }
}
