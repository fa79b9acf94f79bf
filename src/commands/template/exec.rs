//! Running a parsed template on a value, with Go's truth, printing and functions.

use std::collections::BTreeMap;

use super::parse::{Command, Node, Operand, Pipeline};
use super::{TemplateError, exec_err};
use crate::commands::value::GoValue;

pub(super) struct Scope<'a> {
    pub(super) root: &'a GoValue,
    pub(super) vars: Vec<(String, GoValue)>,
}

pub(super) fn exec_nodes(
    nodes: &[Node],
    dot: &GoValue,
    scope: &mut Scope<'_>,
    out: &mut String,
) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => {
                let v = eval_pipeline(p, dot, scope)?;
                out.push_str(
                    &v.map(|v| v.to_text())
                        .unwrap_or_else(|| "<no value>".into()),
                );
            }
            Node::If(p, then, otherwise) => {
                let v = eval_pipeline(p, dot, scope)?;
                let branch = if truthy(v.as_ref()) { then } else { otherwise };
                exec_nodes(branch, dot, scope, out)?;
            }
            Node::With(p, then, otherwise) => {
                let v = eval_pipeline(p, dot, scope)?;
                match v.filter(|v| truthy(Some(v))) {
                    Some(v) => exec_nodes(then, &v, scope, out)?,
                    None => exec_nodes(otherwise, dot, scope, out)?,
                }
            }
            Node::Range(vars, p, body, otherwise) => {
                let v = eval_pipeline(p, dot, scope)?;
                let entries: Vec<(GoValue, GoValue)> = match &v {
                    Some(GoValue::List(items)) => items
                        .iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, v)| (GoValue::Int(i as i64), v.clone()))
                        .collect(),
                    Some(GoValue::Map(m)) => m
                        .iter()
                        .flatten()
                        .map(|(k, v)| (GoValue::Str(k.clone()), v.clone()))
                        .collect(),
                    None | Some(GoValue::Nil) => Vec::new(),
                    Some(other) => {
                        return Err(exec_err(
                            &p.text,
                            format!("range can't iterate over {}", other.to_text()),
                        ));
                    }
                };
                if entries.is_empty() {
                    exec_nodes(otherwise, dot, scope, out)?;
                    continue;
                }
                for (key, value) in entries {
                    let mark = scope.vars.len();
                    match vars.as_slice() {
                        [v] => scope.vars.push((v.clone(), value.clone())),
                        [k, v] => {
                            scope.vars.push((k.clone(), key));
                            scope.vars.push((v.clone(), value.clone()));
                        }
                        _ => {}
                    }
                    let result = exec_nodes(body, &value, scope, out);
                    scope.vars.truncate(mark);
                    result?;
                }
            }
        }
    }
    Ok(())
}

/// Go's truth: false, 0, nil and empty strings, slices and maps are false.
fn truthy(v: Option<&GoValue>) -> bool {
    v.is_some_and(|v| !v.is_empty())
}

/// `None` is Go's "no value" (a missing map key reached through a field chain).
fn eval_pipeline(
    p: &Pipeline,
    dot: &GoValue,
    scope: &Scope<'_>,
) -> Result<Option<GoValue>, TemplateError> {
    let mut previous: Option<Option<GoValue>> = None;
    for cmd in &p.commands {
        let value = match cmd {
            Command::Operand(o) => {
                if previous.is_some() {
                    return Err(exec_err(&p.text, "can't give argument to non-function"));
                }
                eval_operand(o, dot, scope)?
            }
            Command::Call(name, args) => {
                let mut values = args
                    .iter()
                    .map(|a| eval_operand(a, dot, scope))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(prev) = previous.take() {
                    values.push(prev);
                }
                Some(call(name, &values, &p.text)?)
            }
        };
        previous = Some(value);
    }
    Ok(previous.flatten())
}

fn eval_operand(
    o: &Operand,
    dot: &GoValue,
    scope: &Scope<'_>,
) -> Result<Option<GoValue>, TemplateError> {
    match o {
        Operand::Field(chain) => walk(dot, chain, &format!(".{}", chain.join("."))),
        Operand::Var(name, chain) => {
            let base = if name == "$" {
                scope.root.clone()
            } else {
                scope
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| exec_err(name, format!("undefined variable: {name}")))?
            };
            walk(&base, chain, name)
        }
        Operand::Str(s) => Ok(Some(GoValue::Str(s.clone()))),
        Operand::Int(n) => Ok(Some(GoValue::Int(*n))),
        Operand::Bool(b) => Ok(Some(GoValue::Bool(*b))),
        Operand::Paren(p) => eval_pipeline(p, dot, scope),
    }
}

fn walk(base: &GoValue, chain: &[String], at: &str) -> Result<Option<GoValue>, TemplateError> {
    let mut current = base.clone();
    for name in chain {
        current = match &current {
            GoValue::Struct(_) => match current.field(name) {
                Some(v) => v.clone(),
                None => {
                    return Err(exec_err(
                        at,
                        format!("can't evaluate field {name} in type {}", struct_name(base)),
                    ));
                }
            },
            GoValue::Map(m) => match m.as_ref().and_then(|m| m.get(name)) {
                Some(v) => v.clone(),
                None => return Ok(None),
            },
            other => {
                return Err(exec_err(
                    at,
                    format!("can't evaluate field {name} in type {}", other.type_name()),
                ));
            }
        };
    }
    Ok(Some(current))
}

fn struct_name(v: &GoValue) -> &'static str {
    if v.field("RepoTags").is_some() {
        "inspect.Output"
    } else if v.field("RootFS").is_some() {
        "v1.Image"
    } else {
        v.type_name()
    }
}

fn call(name: &str, args: &[Option<GoValue>], at: &str) -> Result<GoValue, TemplateError> {
    let value = |i: usize| -> Result<GoValue, TemplateError> {
        args.get(i)
            .cloned()
            .ok_or_else(|| exec_err(at, format!("wrong number of args for {name}")))
            .map(|v| v.unwrap_or(GoValue::Nil))
    };
    let arity = |n: usize| -> Result<(), TemplateError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(exec_err(
                at,
                format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ),
            ))
        }
    };
    Ok(match name {
        "json" => {
            arity(1)?;
            GoValue::Str(serde_json::to_string(&value(0)?.to_json()).unwrap_or_default())
        }
        "len" => {
            arity(1)?;
            GoValue::Int(match value(0)? {
                GoValue::Str(s) => s.len() as i64,
                GoValue::List(l) => l.map_or(0, |l| l.len() as i64),
                GoValue::Map(m) => m.map_or(0, |m| m.len() as i64),
                other => {
                    return Err(exec_err(at, format!("len of type {}", other.type_name())));
                }
            })
        }
        "index" => {
            let mut current = value(0)?;
            for i in 1..args.len() {
                current = match (&current, value(i)?) {
                    (GoValue::Map(m), GoValue::Str(k)) => m
                        .as_ref()
                        .and_then(|m| m.get(&k))
                        .cloned()
                        .unwrap_or_else(|| zero_of(m.as_ref())),
                    (GoValue::List(l), GoValue::Int(n)) => {
                        let items = l.as_deref().unwrap_or_default();
                        usize::try_from(n)
                            .ok()
                            .and_then(|n| items.get(n))
                            .cloned()
                            .ok_or_else(|| {
                                exec_err(
                                    at,
                                    format!("error calling index: index out of range: {n}"),
                                )
                            })?
                    }
                    (c, k) => {
                        return Err(exec_err(
                            at,
                            format!(
                                "error calling index: can't index item of type {} with {}",
                                c.type_name(),
                                k.type_name()
                            ),
                        ));
                    }
                };
            }
            current
        }
        "print" | "println" => {
            let parts: Vec<GoValue> = (0..args.len()).map(value).collect::<Result<_, _>>()?;
            let mut s = String::new();
            for (i, p) in parts.iter().enumerate() {
                let both_strings = i > 0
                    && matches!(p, GoValue::Str(_))
                    && matches!(parts[i - 1], GoValue::Str(_));
                if i > 0 && (name == "println" || !both_strings) {
                    s.push(' ');
                }
                s.push_str(&p.to_text());
            }
            if name == "println" {
                s.push('\n');
            }
            GoValue::Str(s)
        }
        "printf" => {
            let GoValue::Str(format) = value(0)? else {
                return Err(exec_err(at, "printf needs a format string"));
            };
            let rest: Vec<GoValue> = (1..args.len()).map(value).collect::<Result<_, _>>()?;
            GoValue::Str(sprintf(&format, &rest, at)?)
        }
        "eq" | "ne" => {
            if args.len() < 2 {
                return Err(exec_err(at, format!("wrong number of args for {name}")));
            }
            let first = value(0)?;
            let any_equal = (1..args.len())
                .map(value)
                .collect::<Result<Vec<_>, _>>()?
                .iter()
                .any(|v| v.to_text() == first.to_text() && v.type_name() == first.type_name());
            GoValue::Bool(if name == "eq" { any_equal } else { !any_equal })
        }
        "not" => {
            arity(1)?;
            GoValue::Bool(!truthy(Some(&value(0)?)))
        }
        "and" | "or" => {
            let mut last = GoValue::Nil;
            for i in 0..args.len() {
                last = value(i)?;
                let t = truthy(Some(&last));
                if (name == "and" && !t) || (name == "or" && t) {
                    return Ok(last);
                }
            }
            last
        }
        other => return Err(exec_err(at, format!("function {other:?} not defined"))),
    })
}

/// The zero value of a map's element type (skopeo's maps hold strings).
fn zero_of(m: Option<&BTreeMap<String, GoValue>>) -> GoValue {
    match m.and_then(|m| m.values().next()) {
        Some(GoValue::Struct(_)) => GoValue::Struct(Vec::new()),
        _ => GoValue::Str(String::new()),
    }
}

/// `fmt.Sprintf` for `%s`, `%v`, `%d`, `%q` and `%%`.
fn sprintf(format: &str, args: &[GoValue], at: &str) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'v' | 'd' | 'q')) => match next.next() {
                Some(v) if verb == 'q' => out.push_str(&format!("{:?}", v.to_text())),
                Some(v) => out.push_str(&v.to_text()),
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            Some(other) => {
                return Err(exec_err(
                    at,
                    format!("printf verb %{other} is not supported by skiff's template engine"),
                ));
            }
            None => out.push_str("%!(NOVERB)"),
        }
    }
    Ok(out)
}
