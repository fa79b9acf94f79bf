//! Running a parsed template on a value, with Go's truth, printing and functions.

use std::collections::BTreeMap;

use super::error::{TemplateError, exec_err};
use super::parse::{Command, Node, Operand, Pipeline};
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

/// A builtin function's arguments, with Go's arity errors.
struct Args<'a> {
    name: &'a str,
    args: &'a [Option<GoValue>],
    at: &'a str,
}

impl Args<'_> {
    fn value(&self, i: usize) -> Result<GoValue, TemplateError> {
        self.args
            .get(i)
            .cloned()
            .ok_or_else(|| exec_err(self.at, format!("wrong number of args for {}", self.name)))
            .map(|v| v.unwrap_or(GoValue::Nil))
    }

    /// The values from argument `start` on.
    fn values_from(&self, start: usize) -> Result<Vec<GoValue>, TemplateError> {
        (start..self.args.len()).map(|i| self.value(i)).collect()
    }

    fn arity(&self, n: usize) -> Result<(), TemplateError> {
        if self.args.len() == n {
            Ok(())
        } else {
            Err(exec_err(
                self.at,
                format!(
                    "wrong number of args for {}: want {n} got {}",
                    self.name,
                    self.args.len()
                ),
            ))
        }
    }
}

/// Calls one of text/template's builtin functions.
fn call(name: &str, args: &[Option<GoValue>], at: &str) -> Result<GoValue, TemplateError> {
    let a = Args { name, args, at };
    Ok(match name {
        "json" => {
            a.arity(1)?;
            GoValue::Str(serde_json::to_string(&a.value(0)?.to_json()).unwrap_or_default())
        }
        "len" => {
            a.arity(1)?;
            len_of(a.value(0)?, at)?
        }
        "index" => index(&a)?,
        "print" | "println" => GoValue::Str(print(&a.values_from(0)?, name == "println")),
        "printf" => {
            let GoValue::Str(format) = a.value(0)? else {
                return Err(exec_err(at, "printf needs a format string"));
            };
            GoValue::Str(sprintf(&format, &a.values_from(1)?, at)?)
        }
        "eq" | "ne" => {
            let any_equal = eq(&a)?;
            GoValue::Bool(if name == "eq" { any_equal } else { !any_equal })
        }
        "not" => {
            a.arity(1)?;
            GoValue::Bool(!truthy(Some(&a.value(0)?)))
        }
        "and" | "or" => and_or(a.values_from(0)?, name == "and"),
        other => return Err(exec_err(at, format!("function {other:?} not defined"))),
    })
}

/// `len`: of a string (bytes), a list or a map.
fn len_of(v: GoValue, at: &str) -> Result<GoValue, TemplateError> {
    Ok(GoValue::Int(match v {
        GoValue::Str(s) => s.len() as i64,
        GoValue::List(l) => l.map_or(0, |l| l.len() as i64),
        GoValue::Map(m) => m.map_or(0, |m| m.len() as i64),
        other => {
            return Err(exec_err(at, format!("len of type {}", other.type_name())));
        }
    }))
}

/// `index x k1 k2...`: map keys and list positions, one after the other.
fn index(a: &Args) -> Result<GoValue, TemplateError> {
    let mut current = a.value(0)?;
    for i in 1..a.args.len() {
        current = match (&current, a.value(i)?) {
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
                            a.at,
                            format!("error calling index: index out of range: {n}"),
                        )
                    })?
            }
            (c, k) => {
                return Err(exec_err(
                    a.at,
                    format!(
                        "error calling index: can't index item of type {} with {}",
                        c.type_name(),
                        k.type_name()
                    ),
                ));
            }
        };
    }
    Ok(current)
}

/// `print` (a space between operands when neither is a string) and `println` (always a
/// space, and a newline).
fn print(parts: &[GoValue], line: bool) -> String {
    let mut s = String::new();
    for (i, p) in parts.iter().enumerate() {
        let both_strings =
            i > 0 && matches!(p, GoValue::Str(_)) && matches!(parts[i - 1], GoValue::Str(_));
        if i > 0 && (line || !both_strings) {
            s.push(' ');
        }
        s.push_str(&p.to_text());
    }
    if line {
        s.push('\n');
    }
    s
}

/// `eq a b c...`: whether `a` equals any of the others.
fn eq(a: &Args) -> Result<bool, TemplateError> {
    if a.args.len() < 2 {
        return Err(exec_err(
            a.at,
            format!("wrong number of args for {}", a.name),
        ));
    }
    let first = a.value(0)?;
    Ok(a.values_from(1)?
        .iter()
        .any(|v| v.to_text() == first.to_text() && v.type_name() == first.type_name()))
}

/// `and` gives the first false operand, `or` the first true one, else the last.
fn and_or(values: Vec<GoValue>, and: bool) -> GoValue {
    let mut last = GoValue::Nil;
    for v in values {
        let t = truthy(Some(&v));
        if and != t {
            return v;
        }
        last = v;
    }
    last
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
