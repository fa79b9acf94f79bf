//! `skiff delete containers-storage:IMAGE`: containers/image's `DeleteImage`, which
//! removes the whole image (every name it has) and the layers no other image, container
//! or layer uses (containers/storage's `DeleteImage(id, true)`).

use std::collections::HashSet;

use super::error::StorageError;
use super::images;
use super::layers;
use super::lock::Mode;
use super::records::{self, str_field, strings_field};
use super::store::open_store;
use crate::reference::StorageRef;
use crate::transport::error::TransportError;

pub async fn delete_image(r: &StorageRef) -> Result<(), TransportError> {
    let r = r.clone();
    tokio::task::spawn_blocking(move || delete_blocking(&r))
        .await
        .map_err(|e| TransportError::Invalid(format!("a store task failed: {e}")))?
        .map_err(TransportError::from)
}

fn delete_blocking(r: &StorageRef) -> Result<(), StorageError> {
    let store = open_store(r)?;
    store.recover()?;
    let id = records::str_field(&images::resolve(&store, r)?, "id")
        .unwrap_or_default()
        .to_string();
    // containers/storage's order: layers, images, containers.
    let layers_lock = store.lock_layers(Mode::Exclusive)?;
    let images_lock = store.lock_images(Mode::Exclusive)?;
    let _containers_lock = store.lock_containers(Mode::Shared)?;
    let images_path = images::images_json(&store);
    let mut all_images = records::load(&images_path)?;
    let Some(pos) = all_images
        .iter()
        .position(|i| str_field(i, "id") == Some(id.as_str()))
    else {
        return Err(StorageError::NotFound(images::NOT_AN_IMAGE.into()));
    };
    let containers = records::load(&store.containers_dir().join("containers.json"))?;
    if let Some(c) = containers
        .iter()
        .find(|c| str_field(c, "image") == Some(id.as_str()))
    {
        return Err(StorageError::Invalid(format!(
            "image used by {}: image is in use by a container",
            str_field(c, "id").unwrap_or_default()
        )));
    }
    let image = all_images.remove(pos);
    let mut all_layers = layers::load(&store)?;
    let doomed = layers_to_remove(&image, &all_images, &all_layers, &containers);
    records::save(&images_path, &all_images, &images_lock)?;
    let _ = super::sys::remove_tree(&store.images_dir().join(&id));
    for layer in doomed {
        layers::remove_locked(&store, &mut all_layers, &layer, &layers_lock)?;
    }
    Ok(())
}

/// The image's layers, from the top down, that nothing else needs.
fn layers_to_remove(
    image: &records::Record,
    other_images: &[records::Record],
    all_layers: &[records::Record],
    containers: &[records::Record],
) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::new();
    for i in other_images {
        used.extend(str_field(i, "layer").map(str::to_string));
        used.extend(strings_field(i, "mapped-layers"));
    }
    for c in containers {
        used.extend(str_field(c, "layer").map(str::to_string));
    }
    let mut doomed: Vec<String> = strings_field(image, "mapped-layers");
    let mut next = str_field(image, "layer").map(str::to_string);
    while let Some(id) = next {
        if used.contains(&id) {
            break;
        }
        let has_other_children = all_layers.iter().any(|l| {
            str_field(l, "parent") == Some(id.as_str())
                && !doomed
                    .iter()
                    .any(|d| Some(d.as_str()) == str_field(l, "id"))
        });
        if has_other_children {
            break;
        }
        next =
            layers::find(all_layers, &id).and_then(|l| str_field(l, "parent").map(str::to_string));
        doomed.push(id);
    }
    doomed
}
