//! Writing the tar: a list of planned entries ([`Plan`]), streamed in order into any `Write` (a temp
//! file renamed into place, a pipe, a daemon's load request). Headers follow what
//! containers/image writes (USTAR, mode 0444, owner 0, time 0), so the output does not
//! depend on who ran the copy or when.

use std::collections::HashSet;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::format::Repositories;
use super::tarindex::Span;
use crate::pipeline::BUFFER_SIZE;

pub enum Content {
    Bytes(Vec<u8>),
    /// A spooled blob on disk.
    File(PathBuf),
    /// Bytes of the archive being rewritten.
    Old(Span),
    Symlink(String),
}

pub struct Entry {
    pub name: String,
    pub content: Content,
}

/// Streams `entries` as a tar into `out`. `old` is the archive `Content::Old` spans are in.
/// `after_file` runs after each file copied in (a file target starts its writeback there).
pub fn write_tar<W: Write>(
    out: W,
    old: Option<&Path>,
    entries: &[Entry],
    after_file: &mut dyn FnMut(),
) -> io::Result<W> {
    let mut builder = tar::Builder::new(BufWriter::with_capacity(BUFFER_SIZE, out));
    let mut old_file = match old {
        Some(p) => Some(std::fs::File::open(p)?),
        None => None,
    };
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        match &e.content {
            Content::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0);
                h.set_size(0);
                builder.append_link(&mut h, &e.name, target)?;
            }
            Content::Bytes(b) => {
                file_header(&mut h, b.len() as u64);
                builder.append_data(&mut h, &e.name, &b[..])?;
            }
            Content::File(path) => {
                let f = std::fs::File::open(path)?;
                let len = f.metadata()?.len();
                file_header(&mut h, len);
                append_from(&mut builder, &mut h, Path::new(&e.name), f, len)?;
                after_file();
            }
            Content::Old(span) => {
                let f = old_file
                    .as_mut()
                    .ok_or_else(|| io::Error::other("internal: no archive to copy from"))?;
                f.seek(io::SeekFrom::Start(span.offset))?;
                file_header(&mut h, span.size);
                append_from(&mut builder, &mut h, Path::new(&e.name), f, span.size)?;
                after_file();
            }
        }
    }
    let mut w = builder.into_inner()?;
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())
}

/// Appends an entry of `len` bytes read from `src`, the header as `tar::Builder` writes
/// it. The data goes through `std::io::copy` on the concrete types, so when `src` and the
/// output are files the kernel copies them (`copy_file_range`) and no byte passes
/// through this process: what costs the most in an archive of spooled layers.
pub fn append_from<W: Write, R: Read>(
    builder: &mut tar::Builder<W>,
    header: &mut tar::Header,
    name: &Path,
    src: R,
    len: u64,
) -> io::Result<()> {
    header.set_size(len);
    // With no data, this writes the header (and any long-name entry) only.
    builder.append_data(header, name, io::empty())?;
    let out = builder.get_mut();
    let copied = io::copy(&mut src.take(len), out)?;
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{} shrank while it was being written into the archive",
                name.display()
            ),
        ));
    }
    let pad = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..pad as usize])
}

fn file_header(h: &mut tar::Header, size: u64) {
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o444);
    h.set_size(size);
}

/// The archive being planned: its entries (each name once, the first wins), and
/// manifest.json's items and the repositories file as they grow.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) entries: Vec<Entry>,
    names: HashSet<String>,
    pub items: Vec<Value>,
    pub repositories: Repositories,
}

impl Plan {
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    pub fn push(&mut self, name: String, content: Content) {
        if self.names.insert(name.clone()) {
            self.entries.push(Entry { name, content });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_readable_deterministic_tars() {
        let entries = vec![
            Entry {
                name: "a.tar".into(),
                content: Content::Bytes(b"hello".to_vec()),
            },
            Entry {
                name: "x/layer.tar".into(),
                content: Content::Symlink("../a.tar".into()),
            },
        ];
        let one = write_tar(Vec::new(), None, &entries, &mut || {}).unwrap();
        let two = write_tar(Vec::new(), None, &entries, &mut || {}).unwrap();
        assert_eq!(one, two);
        let mut ar = tar::Archive::new(&one[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.tar", "x/layer.tar"]);
    }

    #[test]
    fn file_entries_are_copied_whole_and_a_short_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("layer"), &data).unwrap();
        let entries = vec![
            Entry {
                name: "layer.tar".into(),
                content: Content::File(dir.path().join("layer")),
            },
            Entry {
                name: "manifest.json".into(),
                content: Content::Bytes(b"[]".to_vec()),
            },
        ];
        // A real file as the output: the kernel-copy path.
        let out = std::fs::File::create(dir.path().join("out.tar")).unwrap();
        let mut calls = 0;
        write_tar(&out, None, &entries, &mut || calls += 1).unwrap();
        assert_eq!(calls, 1);
        let bytes = std::fs::read(dir.path().join("out.tar")).unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let got: Vec<(String, Vec<u8>)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                (e.path().unwrap().display().to_string(), v)
            })
            .collect();
        assert_eq!(got[0], ("layer.tar".to_string(), data.clone()));
        assert_eq!(got[1], ("manifest.json".to_string(), b"[]".to_vec()));
        // The same entries into memory give the same bytes.
        assert_eq!(
            write_tar(Vec::new(), None, &entries, &mut || {}).unwrap(),
            bytes
        );

        // A header promising more than the source has is an error, not zero padding.
        let mut builder = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        let short = std::fs::File::open(dir.path().join("layer")).unwrap();
        let err = append_from(&mut builder, &mut h, Path::new("x"), short, 800_000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
