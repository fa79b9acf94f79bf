//! Parsing: actions out of text, then pipelines out of actions.

use super::error::{TemplateError, parse_err};

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Print(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    Range(Vec<String>, Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
pub(super) struct Pipeline {
    pub(super) commands: Vec<Command>,
    pub(super) text: String,
}

#[derive(Debug, Clone)]
pub(super) enum Command {
    Operand(Operand),
    Call(String, Vec<Operand>),
}

#[derive(Debug, Clone)]
pub(super) enum Operand {
    /// `.A.B` (empty chain = `.`).
    Field(Vec<String>),
    /// `$x.A.B` (`$` alone is the root data).
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
    Paren(Box<Pipeline>),
}

pub(super) const FUNCTIONS: &[&str] = &[
    "json", "index", "len", "print", "printf", "println", "eq", "ne", "not", "and", "or",
];
/// Go's other builtins and template actions, refused by name.
const UNSUPPORTED: &[&str] = &[
    "call", "html", "js", "slice", "urlquery", "lt", "le", "gt", "ge", "define", "template",
    "block", "break", "continue",
];

pub(super) enum Item {
    Text(String),
    Action(String),
}

/// Splits text and `{{…}}` actions, applying `{{-` / `-}}` trimming and dropping comments.
pub(super) fn split_actions(text: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let trim_before =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_before {
            literal = literal.trim_end();
        }
        if !literal.is_empty() {
            items.push(Item::Text(literal.to_string()));
        }
        let body_start = if trim_before { 1 } else { 0 };
        let end = find_action_end(after).ok_or_else(|| parse_err("unclosed action"))?;
        let mut body = &after[body_start..end];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            items.push(Item::Action(body.to_string()));
        }
        rest = &after[end + 2..];
    }
    let literal = if trim_next { rest.trim_start() } else { rest };
    if !literal.is_empty() {
        items.push(Item::Text(literal.to_string()));
    }
    Ok(items)
}

/// The offset of the `}}` closing an action, skipping quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses nodes until `{{end}}` or `{{else…}}`, which is returned (without braces).
pub(super) fn parse_nodes(
    items: &[Item],
    pos: &mut usize,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let item = &items[*pos];
        *pos += 1;
        let action = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Item::Action(a) => a.as_str(),
        };
        let (keyword, rest) = match action.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (action, ""),
        };
        match keyword {
            "end" | "else" => return Ok((nodes, Some(action.to_string()))),
            "if" | "with" => {
                let pipe = parse_pipeline(rest)?;
                let (body, else_body) = parse_branches(items, pos, keyword)?;
                nodes.push(if keyword == "if" {
                    Node::If(pipe, body, else_body)
                } else {
                    Node::With(pipe, body, else_body)
                });
            }
            "range" => {
                let (vars, pipe_text) = split_declaration(rest)?;
                let pipe = parse_pipeline(pipe_text)?;
                let (body, else_body) = parse_branches(items, pos, "range")?;
                nodes.push(Node::Range(vars, pipe, body, else_body));
            }
            k if UNSUPPORTED.contains(&k) => {
                return Err(parse_err(format!(
                    "{{{{{k}}}}} is not supported by skiff's template engine"
                )));
            }
            _ => {
                if action.starts_with('$') && action.contains(":=") {
                    return Err(parse_err(
                        "variable declarations outside {{range}} are not supported by skiff's template engine",
                    ));
                }
                nodes.push(Node::Print(parse_pipeline(action)?));
            }
        }
    }
    Ok((nodes, None))
}

/// The body of an if/with/range and its else branch (an `else if` nests).
fn parse_branches(
    items: &[Item],
    pos: &mut usize,
    keyword: &str,
) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
    let (body, stop) = parse_nodes(items, pos)?;
    match stop.as_deref() {
        Some("end") => Ok((body, Vec::new())),
        Some("else") => {
            let (else_body, stop) = parse_nodes(items, pos)?;
            match stop.as_deref() {
                Some("end") => Ok((body, else_body)),
                _ => Err(parse_err(format!(
                    "missing {{{{end}}}} after {{{{else}}}} of {{{{{keyword}}}}}"
                ))),
            }
        }
        Some(other) if other.starts_with("else if ") || other.starts_with("else with ") => {
            let nested = &other["else ".len()..];
            let (kw, cond) = nested.split_once(' ').unwrap_or((nested, ""));
            let pipe = parse_pipeline(cond.trim())?;
            let (inner_body, inner_else) = parse_branches(items, pos, kw)?;
            let node = if kw == "if" {
                Node::If(pipe, inner_body, inner_else)
            } else {
                Node::With(pipe, inner_body, inner_else)
            };
            Ok((body, vec![node]))
        }
        Some(other) => Err(parse_err(format!("unexpected {{{{{other}}}}}"))),
        None => Err(parse_err(format!(
            "unexpected EOF: missing {{{{end}}}} for {{{{{keyword}}}}}"
        ))),
    }
}

/// `$k, $v := .Labels` -> (["k", "v"], ".Labels").
fn split_declaration(s: &str) -> Result<(Vec<String>, &str), TemplateError> {
    let Some((decl, pipe)) = s.split_once(":=") else {
        return Ok((Vec::new(), s));
    };
    let vars: Vec<String> = decl.split(',').map(|v| v.trim().to_string()).collect();
    if vars.len() > 2 || vars.iter().any(|v| !v.starts_with('$') || v.len() < 2) {
        return Err(parse_err(format!("invalid range declaration {decl:?}")));
    }
    Ok((vars, pipe.trim()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Ident(String),
    Pipe,
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '.')
        {
            j += 1;
        }
        j
    };
    let chain = |w: &str| -> Vec<String> {
        w.split('.')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '.' => {
                let j = word_end(i + 1);
                let w: String = chars[i..j].iter().collect();
                out.push(Token::Field(chain(&w)));
                i = j;
            }
            '$' => {
                let j = word_end(i + 1);
                let w: String = chars[i + 1..j].iter().collect();
                let (name, rest) = w.split_once('.').unwrap_or((&w, ""));
                out.push(Token::Var(format!("${name}"), chain(rest)));
                i = j;
            }
            '"' => {
                let (token, next) = quoted(&chars, i + 1)?;
                out.push(token);
                i = next;
            }
            '`' => {
                let (token, next) = raw_quoted(&chars, i + 1)?;
                out.push(token);
                i = next;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let (token, next) = number(&chars, i)?;
                out.push(token);
                i = next;
            }
            c if c.is_alphabetic() || c == '_' => {
                let j = word_end(i);
                out.push(Token::Ident(chars[i..j].iter().collect()));
                i = j;
            }
            other => {
                return Err(parse_err(format!("unexpected {other:?} in operand")));
            }
        }
    }
    Ok(out)
}

/// A `"..."` string starting after its opening quote (Go's escapes `\n`, `\t`, `\r`; any
/// other escaped character stands for itself). Returns it and the index after it.
fn quoted(chars: &[char], mut i: usize) -> Result<(Token, usize), TemplateError> {
    let mut s = String::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(parse_err("unterminated quoted string"));
        };
        i += 1;
        match c {
            '"' => return Ok((Token::Str(s), i)),
            '\\' => {
                let e = chars.get(i).copied().unwrap_or('\\');
                i += 1;
                s.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    other => other,
                });
            }
            c => s.push(c),
        }
    }
}

/// A `` `...` `` string starting after its opening backquote, taken as it is.
fn raw_quoted(chars: &[char], start: usize) -> Result<(Token, usize), TemplateError> {
    let end = chars[start..]
        .iter()
        .position(|c| *c == '`')
        .ok_or_else(|| parse_err("unterminated raw quoted string"))?;
    Ok((
        Token::Str(chars[start..start + end].iter().collect()),
        start + end + 1,
    ))
}

/// An integer (optionally negative) starting at `start`.
fn number(chars: &[char], start: usize) -> Result<(Token, usize), TemplateError> {
    let mut j = start + 1;
    while j < chars.len() && chars[j].is_ascii_digit() {
        j += 1;
    }
    let w: String = chars[start..j].iter().collect();
    let n = w
        .parse()
        .map_err(|_| parse_err(format!("bad number syntax: {w:?}")))?;
    Ok((Token::Int(n), j))
}

fn parse_pipeline(text: &str) -> Result<Pipeline, TemplateError> {
    if text.is_empty() {
        return Err(parse_err("missing value for command"));
    }
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let pipe = pipeline_from(&tokens, &mut pos, text)?;
    if pos != tokens.len() {
        return Err(parse_err(format!(
            "unexpected {:?} in command",
            tokens[pos]
        )));
    }
    Ok(pipe)
}

fn pipeline_from(tokens: &[Token], pos: &mut usize, text: &str) -> Result<Pipeline, TemplateError> {
    let mut commands = Vec::new();
    loop {
        let mut words = Vec::new();
        while *pos < tokens.len() && !matches!(tokens[*pos], Token::Pipe | Token::Close) {
            words.push(operand_from(tokens, pos, text)?);
        }
        let cmd = match words.split_first() {
            None => return Err(parse_err("missing command")),
            Some((Word::Func(name), args)) => Command::Call(
                name.clone(),
                args.iter().map(Word::operand).collect::<Result<_, _>>()?,
            ),
            Some((first, [])) => Command::Operand(first.operand()?),
            Some((first, _)) => {
                return Err(parse_err(format!(
                    "can't give argument to non-function {}",
                    first.describe()
                )));
            }
        };
        commands.push(cmd);
        if *pos < tokens.len() && tokens[*pos] == Token::Pipe {
            *pos += 1;
            continue;
        }
        return Ok(Pipeline {
            commands,
            text: text.to_string(),
        });
    }
}

enum Word {
    Func(String),
    Operand(Operand),
}

impl Word {
    fn operand(&self) -> Result<Operand, TemplateError> {
        match self {
            Word::Operand(o) => Ok(o.clone()),
            Word::Func(f) => Err(parse_err(format!(
                "function {f:?} used as a value (wrap calls in parentheses)"
            ))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Word::Func(f) => f.clone(),
            Word::Operand(o) => format!("{o:?}"),
        }
    }
}

fn operand_from(tokens: &[Token], pos: &mut usize, text: &str) -> Result<Word, TemplateError> {
    let token = tokens[*pos].clone();
    *pos += 1;
    Ok(Word::Operand(match token {
        Token::Field(chain) => Operand::Field(chain),
        Token::Var(name, chain) => Operand::Var(name, chain),
        Token::Str(s) => Operand::Str(s),
        Token::Int(n) => Operand::Int(n),
        Token::Ident(id) => match id.as_str() {
            "true" => Operand::Bool(true),
            "false" => Operand::Bool(false),
            f if FUNCTIONS.contains(&f) => return Ok(Word::Func(id)),
            f if UNSUPPORTED.contains(&f) => {
                return Err(parse_err(format!(
                    "function {f:?} is not supported by skiff's template engine"
                )));
            }
            _ => return Err(parse_err(format!("function {id:?} not defined"))),
        },
        Token::Open => {
            let inner = pipeline_from(tokens, pos, text)?;
            if tokens.get(*pos) != Some(&Token::Close) {
                return Err(parse_err("unclosed left paren"));
            }
            *pos += 1;
            Operand::Paren(Box::new(inner))
        }
        Token::Pipe | Token::Close => return Err(parse_err("unexpected token in operand")),
    }))
}
