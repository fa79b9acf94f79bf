//! The Go `text/template` forms scripts pass to `inspect --format`: field chains
//! (`{{.Digest}}`, `{{.Config.Labels}}`, `{{.Labels.k}}`), `{{range}}`/`{{if}}`/`{{with}}`
//! with `{{else}}`, range variables (`{{range $k, $v := .Labels}}`), pipes and parentheses,
//! `-` trim markers, comments, and the functions `json`, `index`, `len`, `print`, `printf`,
//! `println`, `eq`, `ne`, `not`, `and`, `or`. Anything else is refused with an error
//! naming it, never guessed at.
//!
//! The format is prepared as skopeo's containers/common `NormalizeFormat` does (`\t`, `\n`
//! escapes, a final newline, the `table ` prefix) and the output aligned like Go's
//! tabwriter (min width 8, padding 2). `parse` and `exec` do the work, `error` has the
//! error type.

mod error;
mod exec;
mod parse;
mod tabwriter;

use super::value::GoValue;
use parse::{Node, parse_nodes, split_actions};

use error::parse_err;

pub use error::TemplateError;

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    /// Prepares `format` as skopeo does and parses it.
    pub fn parse(format: &str) -> Result<Template, TemplateError> {
        let text = normalize_format(format);
        let items = split_actions(&text)?;
        let mut pos = 0;
        let (nodes, stop) = parse_nodes(&items, &mut pos)?;
        if let Some(stop) = stop {
            return Err(parse_err(format!("unexpected {{{{{stop}}}}}")));
        }
        Ok(Template { nodes })
    }

    /// Runs the template on `data` and aligns tab-separated columns.
    pub fn execute(&self, data: &GoValue) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut scope = exec::Scope {
            root: data,
            vars: Vec::new(),
        };
        exec::exec_nodes(&self.nodes, data, &mut scope, &mut out)?;
        Ok(tabwriter::align_tabs(&out))
    }
}

/// containers/common `report.NormalizeFormat`.
fn normalize_format(format: &str) -> String {
    let mut f = match format.strip_prefix("table ") {
        Some(rest) => rest
            .replace("\\t", "\t")
            .replace(' ', "\t")
            .replace("\\n", "\n"),
        None => format.replace("\\t", "\t").replace("\\n", "\n"),
    };
    if !f.ends_with('\n') {
        f.push('\n');
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::value::field;
    use std::collections::BTreeMap;

    fn data() -> GoValue {
        let labels: BTreeMap<String, String> = [
            ("a.b".to_string(), "1".to_string()),
            ("k".to_string(), "<v>".to_string()),
        ]
        .into();
        GoValue::Struct(vec![
            field("Name", "Name", GoValue::str("r.io/x")),
            field("Digest", "Digest", GoValue::str("sha256:abc")),
            field(
                "RepoTags",
                "RepoTags",
                GoValue::strings(Some(vec!["v1".into(), "v2".into()])),
            ),
            field("Labels", "Labels", GoValue::string_map(Some(labels))),
            field("Env", "Env", GoValue::strings(None)),
        ])
    }

    fn run(format: &str) -> Result<String, TemplateError> {
        Template::parse(format)?.execute(&data())
    }

    #[test]
    fn the_forms_scripts_use() {
        assert_eq!(run("{{.Digest}}").unwrap(), "sha256:abc\n");
        assert_eq!(
            run("{{ .Name }}@{{.Digest}}").unwrap(),
            "r.io/x@sha256:abc\n"
        );
        assert_eq!(
            run("{{json .Labels}}").unwrap(),
            "{\"a.b\":\"1\",\"k\":\"<v>\"}\n"
        );
        assert_eq!(run(r#"{{index .Labels "a.b"}}"#).unwrap(), "1\n");
        assert_eq!(run(r#"{{index .Labels "nope"}}"#).unwrap(), "\n");
        assert_eq!(run("{{range .RepoTags}}{{.}},{{end}}").unwrap(), "v1,v2,\n");
        assert_eq!(
            run(r"{{range .RepoTags}}{{.}}\n{{end}}").unwrap(),
            "v1\nv2\n\n"
        );
        assert_eq!(
            run("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}").unwrap(),
            "a.b=1;k=<v>;\n"
        );
        assert_eq!(run("literal").unwrap(), "literal\n");
        assert_eq!(
            run("{{.Labels.k}}|{{.Labels.zz}}").unwrap(),
            "<v>|<no value>\n"
        );
        assert_eq!(
            run("{{.RepoTags}} {{.Env}} {{.Labels}}").unwrap(),
            "[v1 v2] [] map[a.b:1 k:<v>]\n"
        );
        assert_eq!(run("{{len .RepoTags}}").unwrap(), "2\n");
        assert_eq!(run("{{if .Env}}y{{else}}n{{end}}").unwrap(), "n\n");
        assert_eq!(run("{{range .Env}}x{{else}}none{{end}}").unwrap(), "none\n");
        assert_eq!(
            run("{{.Labels | json}}").unwrap(),
            run("{{json .Labels}}").unwrap()
        );
        assert_eq!(
            run(r#"{{printf "%s-%d" .Name (len .RepoTags)}}"#).unwrap(),
            "r.io/x-2\n"
        );
        assert_eq!(run("{{- .Name -}}  \n").unwrap(), "r.io/x");
        assert_eq!(run("{{/* c */}}x").unwrap(), "x\n");
        assert_eq!(
            run(r#"{{if eq .Name "r.io/x"}}same{{end}}"#).unwrap(),
            "same\n"
        );
    }

    #[test]
    fn tabs_align_like_tabwriter() {
        assert_eq!(run(r"a\tb\nccc\td").unwrap(), "a       b\nccc     d\n");
        assert_eq!(
            run(r"{{.Name}}\t{{.Digest}}").unwrap(),
            "r.io/x  sha256:abc\n"
        );
        assert_eq!(
            run("table {{.Name}} {{.Digest}}").unwrap(),
            "r.io/x  sha256:abc\n"
        );
    }

    #[test]
    fn bad_templates_are_clear_errors() {
        let e = run("{{.Digest").unwrap_err().to_string();
        assert!(e.contains("unclosed action"), "{e}");
        let e = run("{{.Bogus}}").unwrap_err().to_string();
        assert!(
            e.contains("can't evaluate field Bogus in type inspect.Output"),
            "{e}"
        );
        let e = run("{{foo .Name}}").unwrap_err().to_string();
        assert!(e.contains("function \"foo\" not defined"), "{e}");
        let e = run("{{range .RepoTags}}x").unwrap_err().to_string();
        assert!(e.contains("missing {{end}}"), "{e}");
        let e = run("{{template \"x\"}}").unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
        let e = run("{{end}}").unwrap_err().to_string();
        assert!(e.contains("unexpected {{end}}"), "{e}");
        let e = run(r#"{{printf "%x" .Name}}"#).unwrap_err().to_string();
        assert!(e.contains("%x"), "{e}");
        let e = run("{{range .Name}}x{{end}}").unwrap_err().to_string();
        assert!(e.contains("range can't iterate"), "{e}");
    }
}
