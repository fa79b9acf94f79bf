//! Reading and writing containers/storage's JSON record files (`layers.json`,
//! `images.json`, `containers.json`): whole arrays of objects, rewritten atomically, with
//! every field kept as it was read, so records written by a newer containers/storage
//! lose nothing when skiff saves the file.

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value};

use super::error::StorageError;
use super::lock::Lock;

pub type Record = Map<String, Value>;

/// Reads an array of records; a missing or empty file is an empty store.
pub fn load(path: &Path) -> Result<Vec<Record>, StorageError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StorageError::Io {
                context: format!("reading {}", path.display()),
                source,
            });
        }
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&data).map_err(|e| {
        StorageError::Corrupt(format!(
            "{} is not a JSON array of records: {e}",
            path.display()
        ))
    })
}

/// Replaces the file with `records` (temp file, fsync, rename, mode 0600 as
/// containers/storage writes it), then tells other processes to reload (`lock.touch`).
pub fn save(path: &Path, records: &[Record], lock: &Lock) -> Result<(), StorageError> {
    let data = serde_json::to_vec(records)
        .map_err(|e| StorageError::Corrupt(format!("encoding {}: {e}", path.display())))?;
    write_atomically(path, &data)?;
    lock.touch().map_err(|source| StorageError::Io {
        context: format!("recording the change of {}", path.display()),
        source,
    })
}

/// Writes `data` to `path` through a temp file in the same directory (mode 0600), named as
/// every skiff temp file is, so that `Store::recover` removes one a crash left behind.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), StorageError> {
    let ctx = |source| StorageError::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(ctx)?;
    let mut tmp = crate::transport::fsutil::scratch_file_in(dir, "tmp")?;
    tmp.write_all(data)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(ctx)?;
    tmp.persist(path).map_err(|e| ctx(e.error))?;
    Ok(())
}

/// `r` with `order`'s keys first, in that order (the field order of containers/storage's
/// Go structs, for readers who diff the files), then any others as they were.
pub fn reorder(r: &mut Record, order: &[&str]) {
    let mut old = std::mem::take(r);
    for key in order {
        if let Some(v) = old.remove(*key) {
            r.insert((*key).to_string(), v);
        }
    }
    r.extend(old);
}

/// containers/storage's `Image` fields, in order.
pub const IMAGE_FIELDS: &[&str] = &[
    "id",
    "digest",
    "names",
    "names-history",
    "layer",
    "mapped-layers",
    "metadata",
    "big-data-names",
    "big-data-sizes",
    "big-data-digests",
    "created",
    "flags",
];

pub fn str_field<'a>(r: &'a Record, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub fn strings_field(r: &Record, key: &str) -> Vec<String> {
    r.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_strings(r: &mut Record, key: &str, values: &[String]) {
    if values.is_empty() {
        r.remove(key);
    } else {
        r.insert(key.to_string(), Value::from(values.to_vec()));
    }
}

/// The record whose `id` is `id`, or the only one whose ID starts with `id` (ambiguous
/// prefixes match nothing, as containers/storage's truncindex).
pub fn find_by_id_or_prefix<'a>(records: &'a [Record], id: &str) -> Option<&'a Record> {
    if let Some(r) = records.iter().find(|r| str_field(r, "id") == Some(id)) {
        return Some(r);
    }
    if id.is_empty() {
        return None;
    }
    let mut matches = records
        .iter()
        .filter(|r| str_field(r, "id").is_some_and(|i| i.starts_with(id)));
    let first = matches.next()?;
    matches.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layers.json");
        std::fs::write(
            &path,
            r#"[{"id":"abc","future-field":{"x":[1,2]},"names":["n"]}]"#,
        )
        .unwrap();
        let mut records = load(&path).unwrap();
        set_strings(&mut records[0], "names", &["m".to_string()]);
        let lock = Lock::acquire(
            &dir.path().join("layers.lock"),
            super::super::lock::Mode::Exclusive,
        )
        .unwrap();
        save(&path, &records, &lock).unwrap();
        let again: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(again[0]["future-field"]["x"][1], 2);
        assert_eq!(again[0]["names"][0], "m");
    }

    #[test]
    fn prefixes_must_be_unique() {
        let records: Vec<Record> =
            serde_json::from_str(r#"[{"id":"abc1"},{"id":"abc2"},{"id":"def"}]"#).unwrap();
        assert!(find_by_id_or_prefix(&records, "abc").is_none());
        assert_eq!(
            str_field(find_by_id_or_prefix(&records, "abc2").unwrap(), "id"),
            Some("abc2")
        );
        assert_eq!(
            str_field(find_by_id_or_prefix(&records, "de").unwrap(), "id"),
            Some("def")
        );
    }
}
