//! Tests of `argv`.

use super::*;
use crate::backend::spec::RawArgGroup;

fn plain(s: &str) -> RawArg {
    RawArg::Plain(s.to_owned())
}

fn when(var: &str, args: &[&str]) -> RawArg {
    RawArg::Group(RawArgGroup {
        when: Some(var.to_owned()),
        each: None,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
    })
}

fn each(list: &str, args: &[&str]) -> RawArg {
    RawArg::Group(RawArgGroup {
        when: None,
        each: Some(list.to_owned()),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
    })
}

fn vars(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn extra_args_go_where_marked_or_last_and_only_once() {
    let mut values = ArgValues::default();
    values.scalars.insert("session".into(), "t-1".into());
    let extra = ["--add-dir".to_owned(), "/{data}".to_owned()];
    let resume = when("session", &["resume", "{session}"]);
    let marked = ArgvTemplate::compile(
        &[plain("exec"), plain(EXTRA_ARGS), resume.clone()],
        &vars(&[]),
        &vars(&[]),
        &extra,
    )
    .unwrap();
    assert_eq!(
        marked.render(&values),
        ["exec", "--add-dir", "/{data}", "resume", "t-1"]
    );
    let unmarked = ArgvTemplate::compile(
        &[plain("exec"), resume.clone()],
        &vars(&[]),
        &vars(&[]),
        &extra,
    )
    .unwrap();
    assert_eq!(
        unmarked.render(&values),
        ["exec", "resume", "t-1", "--add-dir", "/{data}"]
    );
    let twice = ArgvTemplate::compile(
        &[plain(EXTRA_ARGS), resume, plain(EXTRA_ARGS)],
        &vars(&[]),
        &vars(&[]),
        &extra,
    )
    .unwrap_err();
    assert_eq!(twice.at.to_string(), "[2]");
    assert!(twice.message.contains("only once"), "{}", twice.message);
}

#[test]
fn renders_placeholders_inside_one_element() {
    let t = ArgvTemplate::compile(
        &[
            plain("--model"),
            plain("{model}"),
            plain("-c=x={sandbox}"),
            plain("{{lit}}"),
        ],
        &vars(&["sandbox"]),
        &vars(&[]),
        &[],
    )
    .unwrap();
    let mut values = ArgValues::default();
    values
        .scalars
        .insert("model".into(), "a b; rm -rf /".into());
    values.scalars.insert("sandbox".into(), "read-only".into());
    assert_eq!(
        t.render(&values),
        ["--model", "a b; rm -rf /", "-c=x=read-only", "{lit}"]
    );
}

#[test]
fn groups_are_conditional_or_repeated() {
    let t = ArgvTemplate::compile(
        &[
            when("session", &["--resume", "{session}"]),
            RawArg::Group(RawArgGroup {
                when: None,
                each: Some("images".into()),
                args: vec!["-i".into(), "{image}".into()],
            }),
        ],
        &vars(&[]),
        &vars(&[]),
        &[],
    )
    .unwrap();
    assert!(t.takes_images());
    assert!(t.uses("session"));
    let mut values = ArgValues::default();
    assert!(t.render(&values).is_empty());
    values.scalars.insert("session".into(), "abc".into());
    values.lists.insert(
        IMAGES.0.into(),
        vec!["/tmp/a.png".into(), "/tmp/b.png".into()],
    );
    assert_eq!(
        t.render(&values),
        ["--resume", "abc", "-i", "/tmp/a.png", "-i", "/tmp/b.png"]
    );
}

#[test]
fn bad_templates_are_rejected_with_their_place() {
    let err = |args: &[RawArg]| {
        ArgvTemplate::compile(args, &vars(&[]), &vars(&["dirs"]), &[]).unwrap_err()
    };
    let e = err(&[plain("ok"), plain("{nope}")]);
    assert_eq!(e.at.to_string(), "[1]");
    assert!(
        e.message.starts_with("unknown placeholder `{nope}`"),
        "{}",
        e.message
    );
    assert!(
        err(&[plain("{session}")])
            .message
            .contains("when = \"session\"")
    );
    assert!(err(&[plain("{prompt}")]).message.contains("stdin"));
    assert!(err(&[plain("{image}")]).message.contains("each"));
    let standalone = err(&[when("system", &["--system", "{system}"])]);
    assert!(
        standalone.message.contains("--system={system}"),
        "{}",
        standalone.message
    );
    assert!(err(&[plain("{model")]).message.contains("bad placeholder"));
    let e = err(&[when("nope", &["x"])]);
    assert_eq!(e.at.to_string(), "[0].when");
    assert!(err(&[plain("{item}")]).message.contains("each"));
    let e = err(&[each("nope", &["{item}"])]);
    assert_eq!(e.at.to_string(), "[0].each");
    assert!(e.message.contains("lists: images, dirs"), "{}", e.message);
    assert!(
        err(&[each("dirs", &["{image}"])])
            .message
            .contains("each = \"images\"")
    );
}

#[test]
fn list_variables_repeat_their_group() {
    let t = ArgvTemplate::compile(
        &[plain("run"), each("dirs", &["--add-dir", "{item}"])],
        &vars(&[]),
        &vars(&["dirs"]),
        &[],
    )
    .unwrap();
    assert!(!t.takes_images());
    let mut values = ArgValues::default();
    assert_eq!(t.render(&values), ["run"]);
    values
        .lists
        .insert("dirs".into(), vec!["/a".into(), "/b c".into()]);
    assert_eq!(
        t.render(&values),
        ["run", "--add-dir", "/a", "--add-dir", "/b c"]
    );
}
