//! Writing the tar: a list of planned entries, streamed in order into any `Write` (a temp
//! file renamed into place, a pipe, a daemon's load request). Headers follow what
//! containers/image writes (USTAR, mode 0444, owner 0, time 0), so the output does not
//! depend on who ran the copy or when.

use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

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
pub fn write_tar<W: Write>(out: W, old: Option<&Path>, entries: &[Entry]) -> io::Result<W> {
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
                // `take` guards the header's promise if the file grew meanwhile.
                builder.append_data(&mut h, &e.name, ExactReader::new(f.take(len), len))?;
            }
            Content::Old(span) => {
                let f = old_file
                    .as_mut()
                    .ok_or_else(|| io::Error::other("internal: no archive to copy from"))?;
                f.seek(io::SeekFrom::Start(span.offset))?;
                file_header(&mut h, span.size);
                builder.append_data(
                    &mut h,
                    &e.name,
                    ExactReader::new(f.take(span.size), span.size),
                )?;
            }
        }
    }
    let mut w = builder.into_inner()?;
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())
}

fn file_header(h: &mut tar::Header, size: u64) {
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o444);
    h.set_size(size);
}

/// Fails, rather than padding with zeros, if a source ends before the size in the header.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R> ExactReader<R> {
    fn new(inner: R, len: u64) -> Self {
        ExactReader { inner, left: len }
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a file shrank while it was being written into the archive",
            ));
        }
        self.left -= n as u64;
        Ok(n)
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
        let one = write_tar(Vec::new(), None, &entries).unwrap();
        let two = write_tar(Vec::new(), None, &entries).unwrap();
        assert_eq!(one, two);
        let mut ar = tar::Archive::new(&one[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["a.tar", "x/layer.tar"]);
    }
}
