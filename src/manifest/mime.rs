//! Media types of manifests and layers, and the compression variants of each layer type.

pub const DOCKER_V2S1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_V2S1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_V2S2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_FOREIGN: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_FOREIGN_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_FOREIGN_ZSTD: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
pub const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

use crate::pipeline::Compression;

/// One family of layer media types that differ only by compression.
/// `None` in a slot means "recognised, but this format has no such variant".
struct Variants {
    none: Option<&'static str>,
    gzip: Option<&'static str>,
    zstd: Option<&'static str>,
}

const OCI_VARIANTS: &[Variants] = &[
    Variants {
        none: Some(OCI_FOREIGN),
        gzip: Some(OCI_FOREIGN_GZIP),
        zstd: Some(OCI_FOREIGN_ZSTD),
    },
    Variants {
        none: Some(OCI_LAYER),
        gzip: Some(OCI_LAYER_GZIP),
        zstd: Some(OCI_LAYER_ZSTD),
    },
];

const DOCKER_VARIANTS: &[Variants] = &[
    Variants {
        none: Some(DOCKER_FOREIGN),
        gzip: Some(DOCKER_FOREIGN_GZIP),
        zstd: None,
    },
    Variants {
        none: Some(DOCKER_LAYER),
        gzip: Some(DOCKER_LAYER_GZIP),
        zstd: None,
    },
];

/// The media type a layer of type `mime` gets once its bytes are `compression`.
///
/// `Err` explains why the manifest format cannot describe that layer (e.g. zstd in a
/// Docker schema 2 manifest).
pub fn layer_variant(
    manifest_mime: &str,
    mime: &str,
    compression: Option<Compression>,
) -> Result<String, String> {
    let table = if manifest_mime == OCI_MANIFEST {
        OCI_VARIANTS
    } else {
        DOCKER_VARIANTS
    };
    let family = table
        .iter()
        .find(|v| [v.none, v.gzip, v.zstd].contains(&Some(mime)))
        .ok_or_else(|| {
            format!("cannot change the compression of a layer of unknown media type {mime:?}")
        })?;
    let (slot, name) = match compression {
        None => (family.none, "uncompressed"),
        Some(Compression::Gzip) => (family.gzip, "gzip"),
        Some(Compression::Zstd | Compression::ZstdChunked) => (family.zstd, "zstd"),
        Some(other) => (None, other.name()),
    };
    slot.map(str::to_string)
        .ok_or_else(|| format!("{name} compression is not supported for type {mime:?}"))
}

/// Whether manifests of type `manifest_mime` can describe layers compressed with
/// `compression` (requested by `--dest-compress-format`; `None`: nothing requested).
pub fn can_carry(manifest_mime: &str, compression: Option<Compression>) -> bool {
    let table = if manifest_mime == OCI_MANIFEST {
        OCI_VARIANTS
    } else {
        DOCKER_VARIANTS
    };
    table.iter().all(|v| match compression {
        None => true,
        Some(Compression::Gzip) => v.gzip.is_some(),
        Some(Compression::Zstd | Compression::ZstdChunked) => v.zstd.is_some(),
        Some(_) => false,
    })
}

/// The compression a layer media type declares, if it declares one.
pub fn declared_compression(mime: &str) -> Option<Option<Compression>> {
    match mime {
        OCI_LAYER | OCI_FOREIGN | DOCKER_LAYER | DOCKER_FOREIGN => Some(None),
        OCI_LAYER_GZIP | OCI_FOREIGN_GZIP | DOCKER_LAYER_GZIP | DOCKER_FOREIGN_GZIP => {
            Some(Some(Compression::Gzip))
        }
        OCI_LAYER_ZSTD | OCI_FOREIGN_ZSTD => Some(Some(Compression::Zstd)),
        _ => None,
    }
}

pub fn is_list(mime: &str) -> bool {
    mime == DOCKER_LIST || mime == OCI_INDEX
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_formats_carry_which_compression() {
        assert!(can_carry(OCI_MANIFEST, Some(Compression::Zstd)));
        assert!(can_carry(OCI_MANIFEST, Some(Compression::Gzip)));
        assert!(!can_carry(DOCKER_V2S2, Some(Compression::Zstd)));
        assert!(can_carry(DOCKER_V2S2, Some(Compression::Gzip)));
        assert!(can_carry(DOCKER_V2S2, None));
    }

    #[test]
    fn variants_follow_the_format() {
        assert_eq!(
            layer_variant(OCI_MANIFEST, OCI_LAYER, Some(Compression::Zstd)).unwrap(),
            OCI_LAYER_ZSTD
        );
        assert_eq!(
            layer_variant(OCI_MANIFEST, OCI_LAYER_ZSTD, None).unwrap(),
            OCI_LAYER
        );
        assert_eq!(
            layer_variant(OCI_MANIFEST, OCI_FOREIGN, Some(Compression::Gzip)).unwrap(),
            OCI_FOREIGN_GZIP
        );
        assert_eq!(
            layer_variant(DOCKER_V2S2, DOCKER_LAYER_GZIP, None).unwrap(),
            DOCKER_LAYER
        );
        assert!(
            layer_variant(DOCKER_V2S2, DOCKER_LAYER_GZIP, Some(Compression::Zstd))
                .unwrap_err()
                .contains("zstd")
        );
        assert!(layer_variant(OCI_MANIFEST, "application/x-other", None).is_err());
    }
}
