//! MEMORY.md comes from outside (any editor, any person): parsing and
//! editing never panic, whatever the bytes, and ranges stay inside the text.

use mend_memory::edit::{Edit, apply, apply_parsed};
use mend_memory::{NewLesson, parse};
use proptest::prelude::*;

/// Markdown-ish text: headings, list markers, fields, fences, CRLF, non-ASCII.
fn markdownish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("## ".to_owned()),
        Just("# ".to_owned()),
        Just("- ".to_owned()),
        Just("  - when: ".to_owned()),
        Just("  - fix: ".to_owned()),
        Just("  - seen: ".to_owned()),
        Just("  - id: ".to_owned()),
        Just("1. ".to_owned()),
        Just("```".to_owned()),
        Just("> ".to_owned()),
        Just("<!-- ".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("retry_same {\"a\": 1}".to_owned()),
        "[a-zA-Z_ :·\"`{}é✓]{0,12}",
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn parsing_and_editing_never_panic(text in markdownish()) {
        let m = parse(&text);
        for l in m.lessons() {
            prop_assert!(l.range.end <= text.len() && text.is_char_boundary(l.range.start) && text.is_char_boundary(l.range.end));
        }
        if let Some(l) = m.lessons().next() {
            let _ = apply(&text, &Edit::Replace { id: l.id.clone(), lesson: NewLesson { text: "x".into(), ..Default::default() } });
            let deleted = apply(&text, &Edit::Delete { id: l.id.clone() });
            prop_assert!(deleted.is_ok());
        }
        let edit = Edit::Add { section: "new".into(), lesson: NewLesson { text: "y".into(), ..Default::default() } };
        let added = apply(&text, &edit);
        prop_assert!(added.is_ok());
        if let Some(s) = m.sections.iter().find(|s| !s.title.is_empty()) {
            let edit = Edit::DeleteSection { title: s.title.clone() };
            prop_assert!(apply(&text, &edit).is_ok());
        }
    }

    #[test]
    fn adding_then_deleting_a_lesson_gives_the_file_back_byte_for_byte(text in markdownish()) {
        // Into a section that has lessons, in a file that ends its last line
        // (else the edit also adds the line break or blank line it needs).
        let text = if text.ends_with('\n') { text } else { text + "\n" };
        prop_assume!(parse(&text).lesson("prop-added").is_none());
        let m = parse(&text);
        let Some(section) = m.sections.iter().find(|s| !s.title.is_empty() && !s.lessons.is_empty()).map(|s| s.title.clone()) else {
            return Ok(());
        };
        let lesson = NewLesson { id: Some("prop-added".into()), text: "added".into(), ..Default::default() };
        let added = apply(&text, &Edit::Add { section, lesson }).unwrap();
        let after = parse(&added);
        prop_assert_eq!(after.lessons().count(), m.lessons().count() + 1);
        prop_assert_eq!(after.lesson("prop-added").map(|l| l.text.as_str()), Some("added"));
        // Every other lesson reads exactly as before: nothing was absorbed.
        let before: Vec<&str> = m.lessons().map(|l| l.text.as_str()).collect();
        let others: Vec<&str> = after.lessons().filter(|l| l.id != "prop-added").map(|l| l.text.as_str()).collect();
        prop_assert_eq!(others, before);
        let back = apply(&added, &Edit::Delete { id: "prop-added".into() }).unwrap();
        // Byte for byte, unless the lesson had to be kept apart from the text after it.
        if back != text {
            prop_assert_eq!(parse(&back).lessons().map(|l| l.text.clone()).collect::<Vec<_>>(), m.lessons().map(|l| l.text.clone()).collect::<Vec<_>>());
            prop_assert!(matches!(back.len() - text.len(), 1 | 2), "only the separating line break stays");
            prop_assert_eq!(back.replace("\r\n", "\n").replace("\n\n", "\n"), text.replace("\r\n", "\n").replace("\n\n", "\n"));
        }
    }

    #[test]
    fn parsing_only_the_edited_section_gives_the_same_result_as_parsing_everything(text in markdownish(), pick in 0usize..8, kind in 0u8..3) {
        let m = parse(&text);
        let ids: Vec<String> = m.lessons().map(|l| l.id.clone()).collect();
        let titles: Vec<String> = m.sections.iter().filter(|s| !s.title.is_empty()).map(|s| s.title.clone()).collect();
        let lesson = NewLesson { id: Some("prop-x".into()), text: "changed\nover two lines".into(), ..Default::default() };
        let edit = match kind {
            0 if !ids.is_empty() => Edit::Replace { id: ids[pick % ids.len()].clone(), lesson },
            1 if !ids.is_empty() => Edit::Delete { id: ids[pick % ids.len()].clone() },
            _ if !titles.is_empty() => Edit::Add { section: titles[pick % titles.len()].clone(), lesson },
            _ => return Ok(()),
        };
        let (Ok(full), Ok(quick)) = (apply(&text, &edit), apply_parsed(&text, &m, &edit)) else { return Ok(()) };
        prop_assert_eq!(&quick.text, &full);
        prop_assert_eq!(quick.memory, parse(&full));
    }

    #[test]
    fn any_string_parses(text in any::<String>()) {
        let _ = parse(&text);
    }
}
