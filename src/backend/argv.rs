//! Command-line templates: `{placeholder}` substitution inside single argv
//! elements, conditional groups and per-image groups. Pure; no shell is ever
//! involved, so a value can never become more than the one element it is in.
//!
//! Placeholders are a closed set checked when the config loads: the
//! built-ins below plus the template's own `vars`. The prompt is never a
//! placeholder: it goes on stdin, or last after `--` (see `PromptVia`).

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::spec::RawArg;
use crate::location::{FieldError, KeyPath};

/// Built-in placeholders that always have a value.
pub const ALWAYS_SET: &[&str] = &["model", "workspace", "request_id"];
/// Built-in placeholders that may be empty: only usable inside a `when` group.
pub const OPTIONAL: &[&str] = &["system", "session", "effort"];
/// Placeholders holding free text from the client: never a whole argv
/// element, since the text could start with `-` and be read as an option.
pub const CLIENT_TEXT: &[&str] = &["system"];
/// The built-in list a group can repeat over, and its own name for the item.
pub const IMAGES: (&str, &str) = ("images", "image");
/// Inside an `each` group, the current item of the list.
pub const ITEM: &str = "item";
/// A whole element that marks where the backend's `extra_args` go (by
/// default after all the args), e.g. before a subcommand that takes fewer
/// options. They are spliced in when the template compiles.
pub const EXTRA_ARGS: &str = "{extra_args}";

/// A compiled argv template.
#[derive(Debug, Clone, PartialEq)]
pub struct ArgvTemplate {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Arg(Piece),
    When { var: String, args: Vec<Piece> },
    Each { list: String, args: Vec<Piece> },
}

#[derive(Debug, Clone, PartialEq)]
struct Piece(Vec<Segment>);

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Var(String),
}

/// The values a template is rendered with.
#[derive(Debug, Clone, Default)]
pub struct ArgValues {
    /// Scalar placeholders; a missing or empty value counts as unset.
    pub scalars: BTreeMap<String, String>,
    /// Lists for `each` groups: the template's list variables, and `images`
    /// (the paths of the request's image files).
    pub lists: BTreeMap<String, Vec<String>>,
}

impl ArgValues {
    fn get(&self, name: &str) -> &str {
        self.scalars.get(name).map(String::as_str).unwrap_or("")
    }
}

impl ArgvTemplate {
    /// Compiles `raw`, checking every placeholder against the built-ins and
    /// the template's `vars` (text) and `lists`, with `extra_args` as literal
    /// elements at the [`EXTRA_ARGS`] marker, or last.
    pub fn compile(
        raw: &[RawArg],
        vars: &BTreeSet<String>,
        lists: &BTreeSet<String>,
        extra_args: &[String],
    ) -> Result<ArgvTemplate, FieldError> {
        let extra = || {
            extra_args
                .iter()
                .map(|arg| Item::Arg(Piece(vec![Segment::Literal(arg.clone())])))
        };
        let mut items = Vec::with_capacity(raw.len() + extra_args.len());
        let mut placed = false;
        for (i, arg) in raw.iter().enumerate() {
            let here = KeyPath::default().index(i);
            if matches!(arg, RawArg::Plain(text) if text == EXTRA_ARGS) {
                if placed {
                    return Err(FieldError::new(
                        here,
                        format!("`{EXTRA_ARGS}` may appear only once"),
                    ));
                }
                placed = true;
                items.extend(extra());
            } else {
                items.push(compile_item(arg, vars, lists).map_err(|e| e.under(&here))?);
            }
        }
        if !placed {
            items.extend(extra());
        }
        Ok(ArgvTemplate { items })
    }

    /// Renders the argv elements (without the program name).
    pub fn render(&self, values: &ArgValues) -> Vec<String> {
        let mut out = Vec::new();
        for item in &self.items {
            match item {
                Item::Arg(piece) => out.push(piece.render(values, None)),
                Item::When { var, args } => {
                    if !values.get(var).is_empty() {
                        out.extend(args.iter().map(|p| p.render(values, None)));
                    }
                }
                Item::Each { list, args } => {
                    for item in values.lists.get(list).into_iter().flatten() {
                        out.extend(args.iter().map(|p| p.render(values, Some(item))));
                    }
                }
            }
        }
        out
    }

    /// Whether any element uses `{name}`.
    pub fn uses(&self, name: &str) -> bool {
        let in_piece = |p: &Piece| {
            p.0.iter()
                .any(|s| matches!(s, Segment::Var(v) if v == name))
        };
        self.items.iter().any(|item| match item {
            Item::Arg(p) => in_piece(p),
            Item::When { var, args } => var == name || args.iter().any(in_piece),
            Item::Each { list, args } => list == name || args.iter().any(in_piece),
        })
    }

    /// Whether the template passes image files to the CLI.
    pub fn takes_images(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(i, Item::Each { list, .. } if list == IMAGES.0))
    }
}

impl Piece {
    fn render(&self, values: &ArgValues, item: Option<&str>) -> String {
        let mut out = String::new();
        for segment in &self.0 {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var(name) if name == ITEM || name == IMAGES.1 => {
                    out.push_str(item.unwrap_or(""));
                }
                Segment::Var(name) => out.push_str(values.get(name)),
            }
        }
        out
    }
}

fn compile_item(
    arg: &RawArg,
    vars: &BTreeSet<String>,
    lists: &BTreeSet<String>,
) -> Result<Item, FieldError> {
    let here = KeyPath::default();
    match arg {
        RawArg::Plain(text) => {
            let piece = parse_piece(text).map_err(|m| FieldError::new(here.clone(), m))?;
            check_vars(&piece, vars, Scope::Plain).map_err(|m| FieldError::new(here, m))?;
            Ok(Item::Arg(piece))
        }
        RawArg::Group(group) => {
            let pieces = group
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    parse_piece(a).map_err(|m| FieldError::new(here.key("args").index(i), m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let kind = match (&group.when, &group.each) {
                (Some(var), None) => {
                    if !is_known(var, vars) || var == IMAGES.1 || var == ITEM {
                        return Err(FieldError::new(
                            here.key("when"),
                            format!("unknown variable `{var}`; {}", known_list(vars)),
                        ));
                    }
                    Group::When(var.clone())
                }
                (None, Some(list)) if list == IMAGES.0 || lists.contains(list) => {
                    Group::Each(list.clone())
                }
                (None, Some(list)) => {
                    let mut known = vec![IMAGES.0];
                    known.extend(lists.iter().map(String::as_str));
                    return Err(FieldError::new(
                        here.key("each"),
                        format!(
                            "unknown list `{list}`; lists: {} (a list variable is `vars = {{ {list} = [] }}`)",
                            known.join(", ")
                        ),
                    ));
                }
                _ => {
                    return Err(FieldError::new(
                        here,
                        "a group needs exactly one of `when = \"var\"` or `each = \"images\"`",
                    ));
                }
            };
            for (i, piece) in pieces.iter().enumerate() {
                check_vars(piece, vars, kind.scope())
                    .map_err(|m| FieldError::new(here.key("args").index(i), m))?;
            }
            Ok(match kind {
                Group::When(var) => Item::When { var, args: pieces },
                Group::Each(list) => Item::Each { list, args: pieces },
            })
        }
    }
}

/// Where a piece stands: alone, or in a group.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Plain,
    When(&'a str),
    Each(&'a str),
}

/// What a group is.
enum Group {
    When(String),
    Each(String),
}

impl Group {
    fn scope(&self) -> Scope<'_> {
        match self {
            Group::When(var) => Scope::When(var),
            Group::Each(list) => Scope::Each(list),
        }
    }
}

fn is_known(name: &str, vars: &BTreeSet<String>) -> bool {
    ALWAYS_SET.contains(&name) || OPTIONAL.contains(&name) || vars.contains(name)
}

fn known_list(vars: &BTreeSet<String>) -> String {
    let mut names: Vec<&str> = ALWAYS_SET.iter().chain(OPTIONAL).copied().collect();
    names.extend(vars.iter().map(String::as_str));
    format!(
        "known: {} (and {{item}} inside an `each` group, {{image}} inside `each = \"images\"`)",
        names.join(", ")
    )
}

fn check_vars(piece: &Piece, vars: &BTreeSet<String>, scope: Scope<'_>) -> Result<(), String> {
    if let [Segment::Var(name)] = piece.0.as_slice()
        && CLIENT_TEXT.contains(&name.as_str())
    {
        return Err(format!(
            "`{{{name}}}` is client text and could start with `-`: join it to its option, \
             e.g. \"--{name}={{{name}}}\""
        ));
    }
    for segment in &piece.0 {
        let Segment::Var(name) = segment else {
            continue;
        };
        if name == "prompt" {
            return Err(
                "`{prompt}` cannot appear in args: the prompt goes on stdin \
                        (`prompt = \"stdin\"`) or last after `--` (`prompt = \"arg\"`)"
                    .to_owned(),
            );
        }
        if name == IMAGES.1 {
            if matches!(scope, Scope::Each(list) if list == IMAGES.0) {
                continue;
            }
            return Err(
                "`{image}` is only defined inside `{ each = \"images\", args = [...] }`".to_owned(),
            );
        }
        if name == ITEM {
            if matches!(scope, Scope::Each(_)) {
                continue;
            }
            return Err(
                "`{item}` is only defined inside an `each` group: `{ each = \"LIST\", args = [...] }`"
                    .to_owned(),
            );
        }
        if !is_known(name, vars) {
            return Err(format!(
                "unknown placeholder `{{{name}}}`; {}",
                known_list(vars)
            ));
        }
        let guarded = matches!(scope, Scope::When(var) if var == name);
        if OPTIONAL.contains(&name.as_str()) && !guarded {
            return Err(format!(
                "`{{{name}}}` may be empty: use it inside `{{ when = \"{name}\", args = [...] }}`"
            ));
        }
    }
    Ok(())
}

fn parse_piece(text: &str) -> Result<Piece, String> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                        _ => {
                            return Err(format!(
                                "bad placeholder in `{text}`: write {{name}} with letters, digits and _, or {{{{ for a literal brace"
                            ));
                        }
                    }
                }
                if name.is_empty() {
                    return Err(format!("empty placeholder `{{}}` in `{text}`"));
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Var(name));
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` in `{text}` (write }}}} for a literal brace)"
                ));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(Piece(segments))
}

#[cfg(test)]
mod tests;
