//! `skiff inspect`: skopeo 1.9.3's inspect for every transport `transport::open_source`
//! knows, with its JSON, `--raw`, `--config` and `--format`.

use serde_json::Value;

use super::image_info::{self, InfoError};
use super::template::Template;
use super::value::{GoValue, indented_json};
use super::{CommandError, invalid, print, registry_options, tmpdir, with_retries, with_timeout};
use crate::cli::{GlobalSettings, InspectSettings};
use crate::image::{ImageError, SourceImage};
use crate::manifest::{Kind, Manifest, manifest_digest, platform::WantedPlatform};
use crate::reference::ImageName;
use crate::report::Reporter;
use crate::transport::{self, OpenOptions};

/// containers/common `report.IsJSON`: an empty format, `json` or `{{json .}}` mean JSON.
fn is_json_format(format: &str) -> bool {
    let f = format.trim();
    if f == "json" {
        return true;
    }
    f.strip_prefix("{{")
        .and_then(|f| f.strip_suffix("}}"))
        .map(|inner| {
            let inner = inner.trim();
            inner
                .strip_prefix("json")
                .is_some_and(|rest| matches!(rest.trim(), "" | "."))
        })
        .unwrap_or(false)
}

pub async fn run(global: &GlobalSettings, s: &InspectSettings) -> Result<(), CommandError> {
    with_timeout(global, inspect(global, s)).await
}

async fn inspect(global: &GlobalSettings, s: &InspectSettings) -> Result<(), CommandError> {
    let report = Reporter::new(true, global.debug);
    let (input, template) = check_args(s)?;
    let name = ImageName::parse(input)
        .map_err(|e| e.to_string())
        .and_then(|n| crate::transport::resolve_name(n, input).map_err(|e| e.to_string()))
        .map_err(|e| invalid(format!("Error parsing image name {input:?}: {e}")))?;
    let opts = OpenOptions {
        tmpdir: tmpdir(global),
        shared_blob_dir: s.image.shared_blob_dir.clone(),
        registry: registry_options(global, &s.image, None, None, &report),
        ..Default::default()
    };
    let (src, top_raw, top_mime) = with_retries(s.retry_times, s.retry_delay, &report, || async {
        let src = SourceImage::open(&name, &opts).await.map_err(|e| {
            CommandError::transport(format!("Error parsing image name {input:?}"), e)
        })?;
        let (raw, mime) = src.top_raw().await.map_err(manifest_error)?;
        Ok::<_, CommandError>((src, raw, mime))
    })
    .await?;
    if s.raw && !s.config {
        return print(&top_raw);
    }
    let top = src
        .parse(top_raw.clone(), top_mime.as_deref())
        .map_err(manifest_error)?;
    let (image, config_raw) = read_single(global, s, &report, &src, &top).await?;
    let config: Option<Value> = config_raw
        .as_deref()
        .map(serde_json::from_slice)
        .transpose()
        .map_err(|e| {
            invalid(format!(
                "Error parsing manifest for image: config is not valid JSON: {e}"
            ))
        })?;
    if s.config {
        return print_config(s, config_raw, config.as_ref(), template.as_ref());
    }
    let facts = image_info::facts(&image, config.as_ref()).map_err(|e| reading_config(&e))?;
    let digest = manifest_digest(&top_raw)
        .map_err(|e| invalid(format!("Error computing manifest digest: {e}")))?;
    let repo_tags = repo_tags(&name, s.no_tags, &opts, &report).await?;
    let output = image_info::output(
        name.docker_reference().map(|r| r.name()),
        &digest.to_string(),
        repo_tags,
        facts,
    );
    print(render(&output, template.as_ref())?.as_bytes())
}

/// skopeo's checks of the arguments, in its order, and the `--format` template, parsed
/// before any network traffic so that a typo fails at once.
fn check_args(s: &InspectSettings) -> Result<(&String, Option<Template>), CommandError> {
    if s.args.len() != 1 {
        return Err(invalid("Exactly one argument expected"));
    }
    let format = s.format.as_deref().unwrap_or("");
    if s.raw && !format.is_empty() {
        return Err(invalid("raw output does not support format option"));
    }
    s.image.validate().map_err(CommandError::Invalid)?;
    let template = if format.is_empty() || is_json_format(format) || s.raw {
        None
    } else {
        Some(Template::parse(format)?)
    };
    Ok((&s.args[0], template))
}

/// The image for this platform (the top manifest, or its instance) and its config
/// blob (None for schema 1).
async fn read_single(
    global: &GlobalSettings,
    s: &InspectSettings,
    report: &Reporter,
    src: &SourceImage,
    top: &Manifest,
) -> Result<(Manifest, Option<Vec<u8>>), CommandError> {
    let wanted = WantedPlatform::host(
        global.override_os.as_deref(),
        global.override_arch.as_deref(),
        global.override_variant.as_deref(),
    );
    let (image, _) = with_retries(s.retry_times, s.retry_delay, report, || async {
        src.single(top, &wanted).await.map_err(manifest_error)
    })
    .await?;
    let config_raw = match &image.kind {
        Kind::Image { config, .. } => Some(
            with_retries(s.retry_times, s.retry_delay, report, || async {
                src.config(config).await.map_err(reading_config_blob)
            })
            .await?,
        ),
        _ => None,
    };
    Ok((image, config_raw))
}

/// `--config`: the config blob as stored (`--raw`), or as c/image's OCI config.
fn print_config(
    s: &InspectSettings,
    config_raw: Option<Vec<u8>>,
    config: Option<&Value>,
    template: Option<&Template>,
) -> Result<(), CommandError> {
    let Some(config_raw) = config_raw else {
        return Err(CommandError::NotSupportedYet(
            "--config for a Docker schema 1 image".into(),
        ));
    };
    if s.raw {
        return print(&config_raw);
    }
    let oci =
        image_info::oci_config(config.unwrap_or(&Value::Null)).map_err(|e| reading_config(&e))?;
    print(render(&oci, template)?.as_bytes())
}

/// RepoTags: the repository's tags for `docker://` (unless `--no-tags`), empty for other
/// transports, None (`null`) when the registry refuses the list, as skopeo goes on
/// without it.
async fn repo_tags(
    name: &ImageName,
    no_tags: bool,
    opts: &OpenOptions,
    report: &Reporter,
) -> Result<Option<Vec<String>>, CommandError> {
    let ImageName::Docker(reference) = name else {
        return Ok(Some(Vec::new()));
    };
    if no_tags {
        return Ok(Some(Vec::new()));
    }
    match transport::docker::list_tags(reference, &opts.registry).await {
        Ok(tags) => Ok(Some(tags)),
        Err(e) if matches!(e.registry().and_then(|r| r.status()), Some(401 | 403)) => {
            report.warn("Registry disallows tag list retrieval; skipping");
            Ok(None)
        }
        Err(e) => Err(CommandError::transport(
            "Error determining repository tags",
            e,
        )),
    }
}

fn reading_config(e: &InfoError) -> CommandError {
    invalid(format!(
        "Error reading OCI-formatted configuration data: {e}"
    ))
}

fn render(value: &GoValue, template: Option<&Template>) -> Result<String, CommandError> {
    match template {
        None => Ok(indented_json(&value.to_json())),
        Some(t) => Ok(t.execute(value)?),
    }
}

/// skopeo's words for a manifest that could not be read, parsed or chosen from a list.
fn manifest_error(e: ImageError) -> CommandError {
    match e {
        ImageError::ParseManifest { source, .. } => {
            invalid(format!("Error parsing manifest for image: {source}"))
        }
        ImageError::ChooseInstance { source, .. } => invalid(format!(
            "Error parsing manifest for image: choosing image instance: {source}"
        )),
        ImageError::ReadManifest { source, .. } => {
            CommandError::transport("Error retrieving manifest for image", source)
        }
        other => CommandError::Image(other),
    }
}

/// skopeo's words for a config blob that could not be read or verified.
fn reading_config_blob(e: ImageError) -> CommandError {
    let context = "Error reading configuration blob";
    match e {
        ImageError::ConfigSource { source, .. } => CommandError::transport(context, source),
        ImageError::Config { digest, source } => CommandError::Io {
            context: format!("{context} {digest}"),
            source,
        },
        other => CommandError::Image(other),
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_format;

    #[test]
    fn json_formats() {
        for f in ["json", " json ", "{{json .}}", "{{ json . }}", "{{json}}"] {
            assert!(is_json_format(f), "{f}");
        }
        for f in ["{{json .Labels}}", "{{.Digest}}", "jsonx"] {
            assert!(!is_json_format(f), "{f}");
        }
    }
}
