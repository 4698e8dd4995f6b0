//! Issue 13, as a property: for a lesson of any shape (list marker, field
//! indent and marker, line endings, a byte-order mark, a comment or second
//! paragraph, which fields it has) and any one-field edit, the edit changes
//! that field's line only (or inserts or removes one line), and editing it
//! back gives the original bytes.

use mend_memory::edit::{Edit, apply};
use mend_memory::{Fix, NewLesson, Provenance, When, parse};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Shape {
    bom: bool,
    marker: &'static str,
    indent: &'static str,
    field_marker: &'static str,
    eol: &'static str,
    extra: &'static str,
    when: bool,
    fix: Option<&'static str>,
    seen: Option<u32>,
    text: String,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<bool>(),
        prop::sample::select(vec!["- ", "* ", "+ ", "1. ", "7) "]),
        prop::sample::select(vec!["   ", "    ", "\t"]),
        prop::sample::select(vec!["- ", "* ", "+ "]),
        prop::sample::select(vec!["\n", "\r\n"]),
        prop::sample::select(vec!["", "<!-- kept as is -->", "A second paragraph, kept."]),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["retry_same", "verify_state", "escalate"])),
        prop::option::of(1u32..50),
        "[a-z]{3,10}( [a-z]{2,8}){0,5}",
    )
        .prop_map(|(bom, marker, indent, field_marker, eol, extra, when, fix, seen, text)| Shape {
            bom,
            marker,
            indent,
            field_marker,
            eol,
            extra,
            when,
            fix,
            seen,
            text,
        })
}

fn file(s: &Shape) -> String {
    let (i, m, e) = (s.indent, s.field_marker, s.eol);
    let mut f = format!("{}# Lessons{e}{e}## http{e}{e}- before it{e}{i}{m}id: before{e}{e}", if s.bom { "\u{FEFF}" } else { "" });
    f.push_str(&format!("{}{}{e}", s.marker, s.text));
    if !s.extra.is_empty() {
        f.push_str(&format!("{e}{i}{}{e}{e}", s.extra));
    }
    if s.when {
        f.push_str(&format!("{i}{m}when: `http` `TIMEOUT`{e}"));
    }
    if let Some(fix) = s.fix {
        f.push_str(&format!("{i}{m}fix: {fix}{e}"));
    }
    if let Some(n) = s.seen {
        f.push_str(&format!("{i}{m}seen: {n}{e}"));
    }
    f.push_str(&format!("{i}{m}id: target{e}{e}- after it{e}{i}{m}id: after{e}"));
    f
}

/// How many lines were removed and added between `a` and `b`.
fn diff(a: &str, b: &str) -> (usize, usize) {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.split_inclusive('\n').collect(), b.split_inclusive('\n').collect());
    let head = la.iter().zip(&lb).take_while(|(x, y)| x == y).count();
    let tail = la.iter().rev().zip(lb.iter().rev()).take_while(|(x, y)| x == y).count().min(la.len().min(lb.len()) - head);
    (la.len() - head - tail, lb.len() - head - tail)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_one_field_edit_touches_one_line_and_reverts_to_the_same_bytes(s in shape(), which in 0usize..4, n in 1u32..99) {
        let text = file(&s);
        let m = parse(&text);
        let old = m.lesson("target").expect("the lesson parses");
        prop_assert_eq!(&old.text.lines().next().unwrap_or(""), &s.text.as_str());
        let base = NewLesson::from(old);
        let mut new = base.clone();
        match which {
            0 => new.fix = Some(Fix { action: if s.fix == Some("use_alternative") { "abort".into() } else { "use_alternative".into() }, args: None }),
            1 => new.when = if s.when { When { code: Some("RATE_LIMITED".into()), ..old.when.clone() } } else { When { tool: Some("exec".into()), ..When::default() } },
            2 => new.provenance = Provenance { seen: old.provenance.seen + n, ..old.provenance.clone() },
            _ => new.text = old.text.replacen(&s.text, &format!("{} edited", s.text), 1),
        }
        let after = apply(&text, &Edit::Replace { id: "target".into(), lesson: new }).unwrap();
        let (removed, added) = diff(&text, &after);
        prop_assert!(removed <= 1 && added == 1, "one line changed or inserted: {:?} -> {:?}", text, after);
        prop_assert_eq!(after.starts_with('\u{FEFF}'), s.bom);
        let back = apply(&after, &Edit::Replace { id: "target".into(), lesson: base }).unwrap();
        prop_assert_eq!(back, text);
    }
}
