//! `DRIVER-images/images.json` and the images' big-data items (containers/storage's
//! `Image`): the manifest under "manifest" and "manifest-DIGEST", the config under its
//! digest, signatures, names and names history; and how containers/image finds an image
//! for a reference (`resolveImage`), and how a parsed name is completed against the store's
//! images ([`resolve_name`]).

use base64::Engine;
use serde_json::{Map, Value, json};

use super::config;
use super::error::{Result, StorageError};
use super::lock::{Lock, Mode};
use super::records::{self, Record, str_field, strings_field};
use super::store::{Store, display_name};
use crate::digest::Digest;
use crate::reference::{DockerRef, ReferenceError, StorageRef};
use crate::transport::error::TransportError;

/// c/storage's `ErrNoSuchImage` / `ErrNotAnImage` text.
pub const NOT_AN_IMAGE: &str = "identifier is not an image";

pub fn images_json(store: &Store) -> std::path::PathBuf {
    store.images_dir().join("images.json")
}

/// The image records, read under the images lock.
pub fn load_images(store: &Store) -> Result<Vec<Record>> {
    let _lock = store.lock_images(Mode::Shared)?;
    records::load(&images_json(store))
}

/// The full ID of the one image whose ID starts with `prefix` (containers/storage's
/// `Image(prefix)`, as containers/image uses it for truncated IDs).
pub fn id_by_prefix(images: &[Record], prefix: &str) -> Option<String> {
    let found = records::find_by_id_or_prefix(images, prefix)?;
    let id = str_field(found, "id")?;
    id.starts_with(prefix).then(|| id.to_string())
}

/// containers/storage's `makeBigDataBaseName`: keys of only `[.0-9a-z]` are file names as
/// they are, others are "=" and their base64.
pub fn big_data_file_name(key: &str) -> String {
    if key
        .bytes()
        .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase())
    {
        key.to_string()
    } else {
        format!(
            "={}",
            base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
        )
    }
}

pub fn big_data_path(store: &Store, id: &str, key: &str) -> std::path::PathBuf {
    store.images_dir().join(id).join(big_data_file_name(key))
}

/// Reads a big-data item; None when the image has no such item.
pub fn read_big_data(store: &Store, id: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let path = big_data_path(store, id, key);
    match std::fs::read(&path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(format!("reading {}", path.display()), e)),
    }
}

pub fn manifest_key(d: &Digest) -> String {
    format!("manifest-{d}")
}

pub fn signature_key(d: &Digest) -> String {
    format!("signature-{}", d.hex())
}

/// The manifest digests an image can be found by (`recomputeDigests`).
pub fn digests(r: &Record) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(d) = str_field(r, "digest") {
        out.push(d.to_string());
    }
    if let Some(m) = r.get("big-data-digests").and_then(Value::as_object) {
        for (k, v) in m {
            if let (true, Some(d)) = (k.starts_with("manifest"), v.as_str())
                && !out.iter().any(|x| x == d)
            {
                out.push(d.to_string());
            }
        }
    }
    out
}

/// Whether one of the image's names is in `r`'s repository (`imageMatchesRepo`).
fn matches_repo(image: &Record, r: &DockerRef) -> bool {
    strings_field(image, "names")
        .iter()
        .any(|n| DockerRef::parse_normalized(n).is_ok_and(|named| named.name() == r.name()))
}

/// The image `r` names, as containers/image's `resolveImage` finds it.
pub fn resolve(store: &Store, r: &StorageRef) -> Result<Record> {
    let images = load_images(store)?;
    let mut id = r.id.clone();
    let mut found: Option<&Record> = None;
    if id.is_none()
        && let Some(named) = &r.reference
    {
        let text = named.to_string();
        found = images
            .iter()
            .find(|i| strings_field(i, "names").contains(&text));
        if found.is_none()
            && let Some(d) = named.digest()
        {
            let d = d.to_string();
            let candidates: Vec<&Record> = images
                .iter()
                .filter(|i| digests(i).contains(&d) && matches_repo(i, named))
                .collect();
            // Prefer the image whose own manifest has the digest over one that only
            // keeps a list naming it.
            found = candidates
                .iter()
                .find(|i| {
                    i.get("big-data-digests")
                        .and_then(|m| m.get("manifest"))
                        .and_then(Value::as_str)
                        == Some(d.as_str())
                })
                .or(candidates.first())
                .copied();
        }
        id = found.and_then(|i| str_field(i, "id")).map(str::to_string);
    }
    let Some(id) = id else {
        return Err(StorageError::NotFound(format!(
            "reference \"{}\" does not resolve to an image ID: {NOT_AN_IMAGE}",
            within_transport(store, r)
        )));
    };
    let image = match found {
        Some(i) => i.clone(),
        None => records::find_by_id_or_prefix(&images, &id)
            .cloned()
            .ok_or_else(|| {
                StorageError::NotFound(format!(
                    "reading image \"{id}\": locating image with ID \"{id}\": image not known"
                ))
            })?,
    };
    if let Some(named) = &r.reference
        && !matches_repo(&image, named)
    {
        return Err(StorageError::NotFound(NOT_AN_IMAGE.to_string()));
    }
    Ok(image)
}

/// `[driver@root+run]name@id`, as containers/image's `StringWithinTransport`.
pub fn within_transport(store: &Store, r: &StorageRef) -> String {
    display_name(store, r)
        .trim_start_matches("containers-storage:")
        .to_string()
}

/// An image to create, or to update when one with its ID exists.
pub struct NewImage {
    pub id: String,
    pub top_layer: Option<String>,
    /// RFC 3339, from the config; now when absent.
    pub created: Option<String>,
    /// (key, bytes, digest) in the order containers/image writes them.
    pub big_data: Vec<(String, Vec<u8>, Digest)>,
    pub metadata: String,
    pub name: Option<String>,
}

fn object<'a>(r: &'a mut Record, key: &str) -> &'a mut Map<String, Value> {
    let v = r.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut().expect("made an object above")
}

/// Creates or updates the image record and its big data in one hold of the images lock
/// (containers/image does it in many steps; a reader never sees half an image here).
/// The caller holds the layers lock (shared), so the top layer cannot vanish meanwhile.
pub fn commit(store: &Store, new: &NewImage, layers_lock: &Lock) -> Result<()> {
    let _ = layers_lock;
    let lock = store.lock_images(Mode::Exclusive)?;
    let path = images_json(store);
    let mut images = records::load(&path)?;
    let pos = match images
        .iter()
        .position(|i| str_field(i, "id") == Some(new.id.as_str()))
    {
        Some(p) => {
            let existing = str_field(&images[p], "layer").map(str::to_string);
            if existing != new.top_layer {
                return Err(StorageError::Invalid(format!(
                    "image with ID \"{}\" already exists, but uses a different top layer: that ID is already in use",
                    new.id
                )));
            }
            p
        }
        None => {
            let mut r = Record::new();
            r.insert("id".into(), json!(new.id));
            if let Some(l) = &new.top_layer {
                r.insert("layer".into(), json!(l));
            }
            r.insert("big-data-names".into(), json!([]));
            r.insert("big-data-sizes".into(), json!({}));
            r.insert("big-data-digests".into(), json!({}));
            r.insert(
                "created".into(),
                json!(
                    new.created
                        .clone()
                        .unwrap_or_else(crate::gotime::now_rfc3339_nano)
                ),
            );
            images.push(r);
            images.len() - 1
        }
    };
    let dir = store.images_dir().join(&new.id);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| StorageError::io(format!("creating {}", dir.display()), e))?;
    }
    for (key, data, _) in &new.big_data {
        records::write_atomically(&dir.join(big_data_file_name(key)), data)?;
    }
    let image = &mut images[pos];
    for (key, data, digest) in &new.big_data {
        let mut names = strings_field(image, "big-data-names");
        if !names.contains(key) {
            names.push(key.clone());
            image.insert("big-data-names".into(), json!(names));
        }
        object(image, "big-data-sizes").insert(key.clone(), json!(data.len()));
        object(image, "big-data-digests").insert(key.clone(), json!(digest.to_string()));
        if key.starts_with("manifest") && str_field(image, "digest").is_none() {
            image.insert("digest".into(), json!(digest.to_string()));
        }
    }
    if new.metadata.is_empty() {
        image.remove("metadata");
    } else {
        image.insert("metadata".into(), json!(new.metadata));
    }
    if let Some(name) = &new.name {
        add_name(&mut images, pos, name);
    }
    records::reorder(&mut images[pos], records::IMAGE_FIELDS);
    records::save(&path, &images, &lock)
}

/// Gives image `pos` the name `name`, taking it from any other image
/// (containers/storage's `AddNames`), and records it in the names history.
fn add_name(images: &mut [Record], pos: usize, name: &str) {
    for (i, other) in images.iter_mut().enumerate() {
        if i == pos {
            continue;
        }
        let names = strings_field(other, "names");
        if names.iter().any(|n| n == name) {
            let kept: Vec<String> = names.into_iter().filter(|n| n != name).collect();
            records::set_strings(other, "names", &kept);
        }
    }
    let image = &mut images[pos];
    let mut names = strings_field(image, "names");
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
    records::set_strings(image, "names", &names);
    let mut history = vec![name.to_string()];
    history.extend(
        strings_field(image, "names-history")
            .into_iter()
            .filter(|n| n != name),
    );
    records::set_strings(image, "names-history", &history);
}

/// Completes a parsed `containers-storage:` name against its store, as containers/image
/// does while parsing: the store's actual driver and paths, and image IDs given by a
/// prefix (`@abc123`, or a bare `abc123` that no name matches) made whole.
pub fn resolve_name(
    r: &StorageRef,
    input: &str,
) -> std::result::Result<StorageRef, TransportError> {
    let store = Store::open(config::resolve(r)?)?;
    let images = load_images(&store)?;
    let lookup = |prefix: &str| id_by_prefix(&images, prefix);
    let rest = input.strip_prefix("containers-storage:").unwrap_or(input);
    let mut resolved = crate::reference::storage_with_lookup(rest, &lookup)
        .map_err(|e: ReferenceError| TransportError::Invalid(e.to_string()))?;
    resolved.driver = Some(store.config.driver.clone());
    resolved.graph_root = Some(store.config.graph_root.clone());
    resolved.run_root = Some(store.config.run_root.clone());
    resolved.options = store.config.options.clone();
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_data_names_match_containers_storage() {
        // From a store skopeo 1.9.3 wrote.
        assert_eq!(big_data_file_name("manifest"), "manifest");
        assert_eq!(
            big_data_file_name(
                "manifest-sha256:2616bf6ecea5ecf39d446d72ee303118fa988ad539334a7e24b193185405de66"
            ),
            "=bWFuaWZlc3Qtc2hhMjU2OjI2MTZiZjZlY2VhNWVjZjM5ZDQ0NmQ3MmVlMzAzMTE4ZmE5ODhhZDUzOTMzNGE3ZTI0YjE5MzE4NTQwNWRlNjY="
        );
    }

    #[test]
    fn a_name_moves_between_images() {
        let mut images: Vec<Record> = serde_json::from_str(
            r#"[{"id":"a","names":["x:1","y:1"]},{"id":"b","names-history":["z:1"]}]"#,
        )
        .unwrap();
        add_name(&mut images, 1, "x:1");
        assert_eq!(strings_field(&images[0], "names"), ["y:1"]);
        assert_eq!(strings_field(&images[1], "names"), ["x:1"]);
        assert_eq!(strings_field(&images[1], "names-history"), ["x:1", "z:1"]);
    }
}
