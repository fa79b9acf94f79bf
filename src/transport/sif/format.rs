//! The SIF container format (sylabs/sif, specification version 01): a 128-byte global
//! header, a table of 585-byte descriptors, and the data objects they point at. All
//! integers are little-endian, as sylabs/sif reads them with `binary.Read`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const HEADER_LEN: usize = 128;
const DESCRIPTOR_LEN: usize = 585;
const MAGIC: &[u8; 10] = b"SIF_MAGIC\0";
const VERSION_01: &[u8; 3] = b"01\0";
/// Descriptors beyond this are refused: a lying header must not make us allocate gigabytes.
const MAX_DESCRIPTORS: i64 = 1 << 16;
/// A definition file is read whole; this caps it.
const MAX_DEFFILE: i64 = 16 << 20;

const DATA_DEFFILE: i32 = 0x4001;
const DATA_PARTITION: i32 = 0x4004;
const PART_PRIM_SYS: i32 = 2;

/// What is wrong with a SIF file, in sylabs/sif's words where it has them.
#[derive(Debug, thiserror::Error)]
pub enum SifError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Go's `open PATH: REASON`.
    #[error("open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("invalid SIF magic")]
    InvalidMagic,
    #[error("incompatible SIF version")]
    IncompatibleVersion,
    #[error("{0}")]
    Malformed(String),
    #[error("looking up rootfs from SIF file: {0}")]
    RootFs(&'static str),
}

#[derive(Debug, Clone)]
struct Descriptor {
    data_type: i32,
    used: bool,
    offset: i64,
    size: i64,
    extra: Vec<u8>,
}

impl Descriptor {
    /// The partition type of a partition descriptor.
    fn part_type(&self) -> Option<i32> {
        (self.data_type == DATA_PARTITION).then(|| le_i32(&self.extra[4..8]))
    }
}

/// An opened SIF file: its header fields and descriptors.
pub struct SifFile {
    file: File,
    arch: [u8; 3],
    id: [u8; 16],
    modified_at: i64,
    free: i64,
    descriptors: Vec<Descriptor>,
}

/// containers/image's reading of the definition file: the command to run, and the script to
/// inject as `/podman/runscript` when the file has an environment or a runscript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeffileScript {
    pub command: String,
    pub injected: Option<String>,
}

fn le_i32(b: &[u8]) -> i32 {
    i32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}

fn le_i64(b: &[u8]) -> i64 {
    i64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

impl SifFile {
    pub fn open(path: &Path) -> Result<SifFile, SifError> {
        let file = File::open(path).map_err(|e| SifError::Open {
            path: path.display().to_string(),
            reason: crate::reference::go_errno_text(&e),
        })?;
        SifFile::read(file)
    }

    /// Reads the global header and the descriptor table of an open SIF file.
    pub fn read(mut file: File) -> Result<SifFile, SifError> {
        let len = file.metadata()?.len();
        let mut h = [0u8; HEADER_LEN];
        file.read_exact(&mut h)
            .map_err(|e| SifError::Malformed(format!("reading global header: {e}")))?;
        if &h[32..42] != MAGIC {
            return Err(SifError::InvalidMagic);
        }
        if &h[42..45] != VERSION_01 {
            return Err(SifError::IncompatibleVersion);
        }
        let field = |i: usize| le_i64(&h[64 + i * 8..]);
        let (free, total, desc_offset, desc_size) = (field(2), field(3), field(4), field(5));
        if !(0..=MAX_DESCRIPTORS).contains(&total)
            || desc_size < total * DESCRIPTOR_LEN as i64
            || desc_offset < 0
            || desc_offset
                .checked_add(total * DESCRIPTOR_LEN as i64)
                .is_none_or(|end| end as u64 > len)
        {
            return Err(SifError::Malformed(
                "reading descriptors: the descriptor table does not fit in the file".into(),
            ));
        }
        let mut table = vec![0u8; total as usize * DESCRIPTOR_LEN];
        file.seek(SeekFrom::Start(desc_offset as u64))?;
        file.read_exact(&mut table)?;
        let descriptors = table
            .chunks_exact(DESCRIPTOR_LEN)
            .map(|d| Descriptor {
                data_type: le_i32(&d[0..]),
                used: d[4] != 0,
                offset: le_i64(&d[17..]),
                size: le_i64(&d[25..]),
                extra: d[201..585].to_vec(),
            })
            .collect::<Vec<_>>();
        for d in descriptors.iter().filter(|d| d.used) {
            if d.offset < 0 || d.size < 0 || (d.offset as u64).saturating_add(d.size as u64) > len {
                return Err(SifError::Malformed(format!(
                    "a data object ({} bytes at offset {}) runs past the end of the {len}-byte file",
                    d.size, d.offset
                )));
            }
        }
        Ok(SifFile {
            file,
            arch: h[45..48].try_into().expect("3 bytes"),
            id: h[48..64].try_into().expect("16 bytes"),
            modified_at: field(1),
            free,
            descriptors,
        })
    }

    /// sylabs/sif's GetDescriptor: exactly one used descriptor must match.
    fn one(&self, matches: impl Fn(&Descriptor) -> bool) -> Result<&Descriptor, &'static str> {
        if self.free == self.descriptors.len() as i64 {
            return Err("no objects in image");
        }
        let mut found = self.descriptors.iter().filter(|d| d.used && matches(d));
        match (found.next(), found.next()) {
            (Some(d), None) => Ok(d),
            (None, _) => Err("object not found"),
            (Some(_), Some(_)) => Err("multiple objects found"),
        }
    }

    fn reader(&self, d: &Descriptor) -> io::Result<impl Read + '_> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(d.offset as u64))?;
        Ok(f.take(d.size as u64))
    }

    /// The definition file's environment and runscript, as containers/image maps them (a
    /// missing, or ambiguous, definition file gives `bash`).
    pub fn deffile_script(&self) -> Result<DeffileScript, SifError> {
        let (environment, runscript) = match self.one(|d| d.data_type == DATA_DEFFILE) {
            Ok(d) if d.size <= MAX_DEFFILE => {
                let mut text = Vec::new();
                self.reader(d)?.read_to_end(&mut text)?;
                parse_deffile(&String::from_utf8_lossy(&text))
            }
            Ok(_) => {
                return Err(SifError::Malformed(
                    "the definition file is too large".into(),
                ));
            }
            Err(_) => (Vec::new(), Vec::new()),
        };
        Ok(if environment.is_empty() && runscript.is_empty() {
            DeffileScript {
                command: "bash".into(),
                injected: None,
            }
        } else {
            DeffileScript {
                command: INJECTED_SCRIPT.into(),
                injected: Some(format!(
                    "#!/bin/bash\n{}\n{}\n",
                    environment.join("\n"),
                    runscript.join("\n")
                )),
            }
        })
    }

    /// Copies the primary system partition (the squashfs root filesystem) to `dest`.
    pub fn copy_root_partition(&self, dest: &Path) -> Result<(), SifError> {
        let d = self
            .one(|d| d.part_type() == Some(PART_PRIM_SYS))
            .map_err(SifError::RootFs)?;
        let mut out = File::create(dest)?;
        io::copy(&mut self.reader(d)?, &mut out)?;
        Ok(())
    }

    pub fn modified_at(&self) -> i64 {
        self.modified_at
    }

    /// The header's architecture as Go names it ("unknown" when not recognised).
    pub fn go_arch(&self) -> &'static str {
        match &self.arch {
            b"01\0" => "386",
            b"02\0" => "amd64",
            b"03\0" => "arm",
            b"04\0" => "arm64",
            b"05\0" => "ppc64",
            b"06\0" => "ppc64le",
            b"07\0" => "mips",
            b"08\0" => "mipsle",
            b"09\0" => "mips64",
            b"10\0" => "mips64le",
            b"11\0" => "s390x",
            b"12\0" => "riscv64",
            _ => "unknown",
        }
    }

    /// The image's UUID, as Go's uuid package writes it.
    pub fn uuid(&self) -> String {
        let h = hex::encode(self.id);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// containers/image's parseDefFile: the non-trivial lines of `%environment` (no blanks, no
/// comments) and every line of `%runscript`, trimmed.
pub fn parse_deffile(text: &str) -> (Vec<String>, Vec<String>) {
    #[derive(PartialEq)]
    enum State {
        Other,
        Environment,
        Runscript,
    }
    let (mut environment, mut runscript) = (Vec::new(), Vec::new());
    let mut state = State::Other;
    for line in text.lines() {
        let s = line.trim();
        match s {
            "%environment" => state = State::Environment,
            "%runscript" => state = State::Runscript,
            _ if s.starts_with('%') => state = State::Other,
            _ if state == State::Environment && !s.is_empty() && !s.starts_with('#') => {
                environment.push(s.to_string());
            }
            _ if state == State::Environment => {}
            _ if state == State::Runscript => runscript.push(s.to_string()),
            _ => {}
        }
    }
    (environment, runscript)
}

/// Where containers/image puts the script made of `%environment` and `%runscript`.
pub(crate) const INJECTED_SCRIPT: &str = "/podman/runscript";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deffile_sections_are_read_as_containers_image_reads_them() {
        let (env, run) = parse_deffile(
            "Bootstrap: docker\n%environment\n  export A=1\n\n  # no\n%runscript\n  echo hi\n\n  exec x\n%labels\n  a b\n",
        );
        assert_eq!(env, ["export A=1"]);
        assert_eq!(run, ["echo hi", "", "exec x"]);
        assert_eq!(parse_deffile("%labels\nx\n"), (vec![], vec![]));
    }

    /// Found by the `sif` fuzz target's input shape (and by review): a descriptor table
    /// offset near i64::MAX overflowed the bounds check (a panic in debug builds).
    #[test]
    fn a_descriptor_table_offset_near_the_end_of_i64_is_refused() {
        let mut h = vec![0u8; HEADER_LEN];
        h[32..42].copy_from_slice(MAGIC);
        h[42..45].copy_from_slice(VERSION_01);
        for (i, v) in [(3, 1i64), (4, i64::MAX), (5, DESCRIPTOR_LEN as i64)] {
            h[64 + i * 8..72 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        h.resize(HEADER_LEN + DESCRIPTOR_LEN, 0);
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &h).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let err = SifFile::read(file).err().expect("refused");
        assert!(
            err.to_string().contains("does not fit in the file"),
            "{err}"
        );
    }
}
