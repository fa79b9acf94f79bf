//! Choosing the instance of a manifest list that matches the wanted platform.

use super::error::ManifestError;
use super::model::Descriptor;

/// The platform to pick from a list: the running one unless `--override-*` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl WantedPlatform {
    pub fn host(os: Option<&str>, arch: Option<&str>, variant: Option<&str>) -> WantedPlatform {
        let host_arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        WantedPlatform {
            os: os.unwrap_or(std::env::consts::OS).to_string(),
            architecture: arch.unwrap_or(host_arch).to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    /// Acceptable variants, best first ("" = an instance without a variant), following
    /// containers/image: arm64 is v8; arm falls back from v7 to v6 to v5.
    fn variants(&self) -> Vec<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            (_, Some(v)) if self.architecture == "arm" => {
                let all = ["v8", "v7", "v6", "v5"];
                let start = all.iter().position(|x| *x == v).unwrap_or(0);
                let mut out: Vec<&str> = all[start..].to_vec();
                out.push("");
                if !out.contains(&v) {
                    out.insert(0, v);
                }
                out
            }
            (_, Some(v)) => vec![v],
            ("arm64", None) => vec!["", "v8"],
            ("arm", None) => vec!["v7", "v6", "v5", ""],
            _ => vec![""],
        }
    }
}

impl std::fmt::Display for WantedPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Picks the best instance for `wanted` from a list of type `list_mime`; the error is
/// containers/image's sentence (newest wording: values quoted), then what the list offers.
pub fn choose<'a>(
    manifests: &'a [Descriptor],
    wanted: &WantedPlatform,
    list_mime: &str,
) -> Result<&'a Descriptor, ManifestError> {
    for variant in wanted.variants() {
        let found = manifests.iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| {
                p.os == wanted.os
                    && p.architecture == wanted.architecture
                    && (variant.is_empty()
                        && (p.variant.as_deref().unwrap_or("").is_empty()
                            || wanted.variant.is_none())
                        || p.variant.as_deref() == Some(variant))
            })
        });
        if let Some(d) = found {
            return Ok(d);
        }
    }
    let offered: Vec<String> = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match &p.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", p.os, p.architecture, v),
            _ => format!("{}/{}", p.os, p.architecture),
        })
        .collect();
    let kind = if list_mime == super::mime::OCI_INDEX {
        "image index"
    } else {
        "manifest list"
    };
    let variant = wanted.variants().first().copied().unwrap_or("");
    Err(ManifestError::NoMatchingInstance(format!(
        "no image found in {kind} for architecture {:?}, variant {variant:?}, OS {:?}; the list has: {}. Choose one with --override-os/--override-arch/--override-variant, or copy all with --all",
        wanted.architecture,
        wanted.os,
        if offered.is_empty() {
            "no platform entries".to_string()
        } else {
            offered.join(", ")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::manifest::model::Platform;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        Descriptor {
            media_type: super::super::mime::OCI_MANIFEST.into(),
            digest: Digest::sha256_of(&[n]),
            size: 1,
            urls: vec![],
            annotations: None,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                os_version: None,
                os_features: vec![],
                variant: variant.map(str::to_string),
            }),
        }
    }

    fn want(arch: &str, variant: Option<&str>) -> WantedPlatform {
        WantedPlatform::host(Some("linux"), Some(arch), variant)
    }

    #[test]
    fn picks_by_arch_and_variant() {
        let list = vec![
            entry("linux", "amd64", None, 1),
            entry("linux", "arm64", Some("v8"), 2),
            entry("linux", "arm", Some("v6"), 3),
        ];
        assert_eq!(
            choose(&list, &want("amd64", None), super::super::mime::OCI_INDEX)
                .unwrap()
                .digest,
            list[0].digest
        );
        assert_eq!(
            choose(&list, &want("arm64", None), super::super::mime::OCI_INDEX)
                .unwrap()
                .digest,
            list[1].digest
        );
        // arm/v7 falls back to v6.
        assert_eq!(
            choose(
                &list,
                &want("arm", Some("v7")),
                super::super::mime::OCI_INDEX
            )
            .unwrap()
            .digest,
            list[2].digest
        );
        // arm/v5 cannot run v6.
        assert!(
            choose(
                &list,
                &want("arm", Some("v5")),
                super::super::mime::OCI_INDEX
            )
            .is_err()
        );
    }

    #[test]
    fn missing_platform_lists_the_choices() {
        let list = vec![
            entry("linux", "amd64", None, 1),
            entry("linux", "arm64", Some("v8"), 2),
        ];
        let err = choose(&list, &want("s390x", None), super::super::mime::OCI_INDEX)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                r#"no image found in image index for architecture "s390x", variant "", OS "linux"; "#
            ),
            "{err}"
        );
        let err = choose(&list, &want("s390x", None), super::super::mime::DOCKER_LIST)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no image found in manifest list for"),
            "{err}"
        );
        assert!(err.contains("linux/amd64, linux/arm64/v8"), "{err}");
        assert!(err.contains("--override-arch"), "{err}");
    }
}
