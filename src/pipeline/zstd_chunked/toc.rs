//! The TOC containers/storage writes: `{"version":1,"entries":[…]}`, one entry per tar entry
//! (and one more per extra chunk of a split file), fields in Go's struct order with Go's
//! `omitempty`, encoded as Go's encoding/json encodes it; built from where each file's
//! payload went ([`Payload`]).

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::tar_walk::{Header, Time};
use crate::manifest::gojson::{self, write_str};

/// One piece of a payload, split by the rolling checksum or around a run of zeros.
pub struct Chunk {
    /// Offset within the file's payload.
    pub chunk_offset: u64,
    /// Offset of its first frame within the layer.
    pub offset: u64,
    pub digest: String,
    pub size: u64,
    pub zeros: bool,
}

/// The TOC type of a tar typeflag (containers/storage's `TarTypes`).
pub fn entry_type(typeflag: u8) -> Option<&'static str> {
    Some(match typeflag {
        b'0' | 0 => "reg",
        b'1' => "hardlink",
        b'2' => "symlink",
        b'3' => "char",
        b'4' => "block",
        b'5' => "dir",
        b'6' => "fifo",
        _ => return None,
    })
}

pub fn digest(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[derive(Default)]
pub struct TocEntry {
    typ: &'static str,
    name: String,
    linkname: String,
    mode: i64,
    size: i64,
    uid: i64,
    gid: i64,
    /// The times, on the first entry of a file (Go's non-nil pointers).
    times: Option<(Time, Option<Time>, Option<Time>)>,
    devmajor: i64,
    devminor: i64,
    /// Base64 values, sorted by name (a Go map).
    xattrs: Vec<(String, String)>,
    digest: String,
    offset: u64,
    end_offset: u64,
    chunk_size: u64,
    chunk_offset: u64,
    chunk_digest: String,
    chunk_type: &'static str,
}

impl TocEntry {
    /// The entries of one tar entry: itself, plus one per chunk after the first when its
    /// payload was split.
    pub fn for_file(h: &Header, typ: &'static str, p: Payload) -> Vec<TocEntry> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let first = TocEntry {
            typ,
            name: text(&h.name),
            linkname: text(&h.linkname),
            mode: h.mode,
            size: h.size,
            uid: h.uid,
            gid: h.gid,
            times: Some((
                h.mtime.unwrap_or(Time { secs: 0, nanos: 0 }),
                h.atime,
                h.ctime,
            )),
            devmajor: h.devmajor,
            devminor: h.devminor,
            xattrs: h
                .xattrs
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        base64::engine::general_purpose::STANDARD.encode(v),
                    )
                })
                .collect(),
            digest: p.digest.unwrap_or_default(),
            offset: p.start,
            end_offset: p.end,
            ..TocEntry::default()
        };
        let mut out = vec![first];
        for c in p.chunks.iter().skip(1) {
            out.push(TocEntry {
                typ: "chunk",
                name: text(&h.name),
                chunk_offset: c.chunk_offset,
                ..TocEntry::default()
            });
        }
        if p.chunks.len() > 1 {
            for (e, c) in out.iter_mut().zip(&p.chunks) {
                e.chunk_size = c.size;
                e.offset = c.offset;
                e.chunk_digest = c.digest.clone();
                e.chunk_type = if c.zeros { "zeros" } else { "" };
            }
        }
        out
    }

    fn write(&self, out: &mut String) {
        out.push_str("{\"type\":");
        write_str(out, self.typ);
        out.push_str(",\"name\":");
        write_str(out, &self.name);
        let string = |out: &mut String, key: &str, v: &str| {
            if !v.is_empty() {
                out.push_str(&format!(",\"{key}\":"));
                write_str(out, v);
            }
        };
        string(out, "linkName", &self.linkname);
        let int = |out: &mut String, key: &str, v: i64| {
            if v != 0 {
                out.push_str(&format!(",\"{key}\":{v}"));
            }
        };
        int(out, "mode", self.mode);
        int(out, "size", self.size);
        int(out, "uid", self.uid);
        int(out, "gid", self.gid);
        if let Some((m, a, c)) = self.times {
            out.push_str(&format!(",\"modtime\":\"{}\"", rfc3339(Some(m))));
            out.push_str(&format!(",\"accesstime\":\"{}\"", rfc3339(a)));
            out.push_str(&format!(",\"changetime\":\"{}\"", rfc3339(c)));
        }
        int(out, "devMajor", self.devmajor);
        int(out, "devMinor", self.devminor);
        if !self.xattrs.is_empty() {
            out.push_str(",\"xattrs\":{");
            for (i, (k, v)) in self.xattrs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_str(out, v);
            }
            out.push('}');
        }
        string(out, "digest", &self.digest);
        let uint = |out: &mut String, key: &str, v: u64| {
            if v != 0 {
                out.push_str(&format!(",\"{key}\":{v}"));
            }
        };
        uint(out, "offset", self.offset);
        uint(out, "endOffset", self.end_offset);
        uint(out, "chunkSize", self.chunk_size);
        uint(out, "chunkOffset", self.chunk_offset);
        string(out, "chunkDigest", &self.chunk_digest);
        string(out, "chunkType", self.chunk_type);
        out.push('}');
    }
}

/// The TOC document.
pub fn json(entries: &[TocEntry]) -> String {
    let mut out = String::from("{\"version\":1,\"entries\":[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        e.write(&mut out);
    }
    out.push_str("]}");
    out
}

/// Go's `time.Time` JSON of a tar time (None is Go's zero time).
pub fn rfc3339(t: Option<Time>) -> String {
    match t {
        Some(t) => gojson::rfc3339_nano(t.secs, t.nanos),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

/// Where one file's payload went.
pub(crate) struct Payload {
    /// `sha256:…` of the whole payload; None when it is empty.
    pub(super) digest: Option<String>,
    /// Offsets of the first payload frame and of the end of the last one (0 if empty).
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) chunks: Vec<Chunk>,
}
