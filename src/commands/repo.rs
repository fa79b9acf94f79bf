//! `skiff list-tags`, `skiff delete` and `skiff manifest-digest`.

use super::value::{GoValue, field, indented_json, omitempty};
use super::{CommandError, invalid, print, registry_options, with_retries, with_timeout};
use crate::cli::{GlobalSettings, ImageCommandSettings};
use crate::reference::{DockerRef, ImageName};
use crate::report::Reporter;
use crate::transport::docker;
use crate::transport::{self, TransportError};

/// skopeo's `parseDockerRepositoryReference`: `docker://NAME` without tag or digest.
fn repository_reference(input: &str) -> Result<DockerRef, CommandError> {
    let Some(rest) = input.strip_prefix("docker://") else {
        return Err(invalid(format!(
            "docker: image reference {input} does not start with docker://"
        )));
    };
    let parsed = DockerRef::parse_normalized(rest).map_err(|e| invalid(e.to_string()))?;
    if !parsed.is_name_only() {
        return Err(invalid("No tag or digest allowed in reference"));
    }
    Ok(parsed)
}

pub async fn list_tags(
    global: &GlobalSettings,
    s: &ImageCommandSettings,
) -> Result<(), CommandError> {
    with_timeout(global, list_tags_inner(global, s)).await
}

async fn list_tags_inner(
    global: &GlobalSettings,
    s: &ImageCommandSettings,
) -> Result<(), CommandError> {
    let report = Reporter::new(true, global.debug);
    let [input] = s.args.as_slice() else {
        return Err(invalid(
            "Exactly one non-option argument expected\nTry 'list-tags --help' for more information",
        ));
    };
    s.image.validate().map_err(CommandError::Invalid)?;
    let Some((transport, _)) = input.split_once(':') else {
        return Err(invalid(format!(
            "Invalid {input:?}: does not specify a transport"
        )));
    };
    let (repository, tags) = match transport {
        "docker" => {
            let reference = repository_reference(input)?;
            let opts = registry_options(global, &s.image, None, None, &report);
            let tags = with_retries(s.retry_times, s.retry_delay, &report, || async {
                docker::list_tags(&reference, &opts)
                    .await
                    .map_err(|e| CommandError::transport("Error listing repository tags", e))
            })
            .await?;
            (reference.name(), tags)
        }
        "docker-archive" => {
            let ImageName::DockerArchive { path, selector } =
                ImageName::parse(input).map_err(|e| invalid(e.to_string()))?
            else {
                return Err(invalid(format!(
                    "Invalid {input:?}: not a docker-archive: name"
                )));
            };
            if selector.is_some() {
                return Err(invalid(format!(
                    "Invalid {input:?}: list-tags takes an archive path, without an image reference"
                )));
            }
            let tags = crate::transport::docker_archive::list_tags(&path, &super::tmpdir(global))
                .await
                .map_err(|e| CommandError::transport("Error listing repository tags", e))?;
            (String::new(), tags)
        }
        known if crate::reference::KNOWN_TRANSPORTS.contains(&known) => {
            return Err(invalid(format!(
                "Unsupported transport '{known}' for tag listing. Only supported: docker, docker-archive"
            )));
        }
        _ => {
            return Err(invalid(format!(
                "Invalid {input:?}: does not specify a transport"
            )));
        }
    };
    print(tag_list_json(&repository, tags).as_bytes())
}

/// skopeo's `tagListOutput`, indented as it prints it.
pub fn tag_list_json(repository: &str, tags: Vec<String>) -> String {
    let value = GoValue::Struct(vec![
        omitempty("Repository", "Repository", GoValue::str(repository)),
        field("Tags", "Tags", GoValue::strings(Some(tags))),
    ]);
    indented_json(&value.to_json())
}

pub async fn delete(global: &GlobalSettings, s: &ImageCommandSettings) -> Result<(), CommandError> {
    with_timeout(global, delete_inner(global, s)).await
}

async fn delete_inner(
    global: &GlobalSettings,
    s: &ImageCommandSettings,
) -> Result<(), CommandError> {
    let report = Reporter::new(true, global.debug);
    let [input] = s.args.as_slice() else {
        return Err(invalid("Usage: delete imageReference"));
    };
    let name = ImageName::parse(input)
        .map_err(|e| invalid(format!("Invalid source name {input}: {e}")))?;
    s.image.validate().map_err(CommandError::Invalid)?;
    if let ImageName::ContainersStorage(_) = &name {
        let name = transport::resolve_name(name, input)
            .map_err(|e| invalid(format!("Invalid source name {input}: {e}")))?;
        let ImageName::ContainersStorage(r) = &name else {
            unreachable!("resolve_name keeps the transport");
        };
        return transport::storage::delete_image(r)
            .await
            .map_err(|e| match e {
                TransportError::NotFound(m) | TransportError::Invalid(m) => {
                    CommandError::Invalid(m)
                }
                e => CommandError::transport(format!("deleting {name}"), e),
            });
    }
    let ImageName::Docker(reference) = &name else {
        // skopeo: every transport but docker:// (and containers-storage:) refuses deletion.
        return Err(invalid(format!(
            "Deleting images not implemented for {}: images",
            name.transport_name()
        )));
    };
    let opts = registry_options(global, &s.image, None, None, &report);
    let digest = with_retries(s.retry_times, s.retry_delay, &report, || async {
        docker::delete_image(reference, &opts)
            .await
            .map_err(|e| match e {
                // skopeo's messages for these are complete sentences already.
                TransportError::NotFound(m) => CommandError::Invalid(m),
                e @ TransportError::Registry(_) if !e.is_retryable() => CommandError::Stated(e),
                e => CommandError::transport(format!("deleting {reference}"), e),
            })
    })
    .await?;
    report.debug(|| format!("deleted manifest {digest} of {reference}"));
    Ok(())
}

pub fn manifest_digest(args: &[String]) -> Result<(), CommandError> {
    let [path] = args else {
        return Err(invalid("Usage: skopeo manifest-digest manifest"));
    };
    let raw = std::fs::read(path).map_err(|source| CommandError::Io {
        context: format!("Error reading manifest from {path}: open {path}"),
        source,
    })?;
    let digest = crate::manifest::manifest_digest(&raw)
        .map_err(|e| invalid(format!("Error computing digest: {e}")))?;
    print(format!("{digest}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_list_shape() {
        assert_eq!(
            tag_list_json("r.io/a", vec!["v1".into(), "v2".into()]),
            "{\n    \"Repository\": \"r.io/a\",\n    \"Tags\": [\n        \"v1\",\n        \"v2\"\n    ]\n}\n"
        );
        assert_eq!(
            tag_list_json("r.io/a", vec![]),
            "{\n    \"Repository\": \"r.io/a\",\n    \"Tags\": []\n}\n"
        );
    }

    #[test]
    fn repository_references() {
        assert_eq!(
            repository_reference("docker://busybox").unwrap().name(),
            "docker.io/library/busybox"
        );
        assert!(repository_reference("docker://busybox:1").is_err());
        assert!(repository_reference("oci:x").is_err());
    }
}
