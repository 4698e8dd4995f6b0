//! A 50,000-lesson file loads whole (nothing truncated), indexes, searches,
//! and takes an edit of one lesson.

use mend_memory::edit::{Edit, apply};
use mend_memory::index::{Filter, LessonIndex};
use mend_memory::{NewLesson, parse, synth};

#[test]
fn a_50k_lesson_file_loads_searches_and_edits() {
    let text = synth::memory_file(50_000);
    let m = parse(&text);
    assert!(m.problems.is_empty(), "{:?}", &m.problems[..m.problems.len().min(3)]);
    assert_eq!(m.lessons().count(), 50_000);
    assert_eq!(m.lesson("L49999").unwrap().text.split_whitespace().last(), Some("49999."));
    let dir = tempfile::tempdir().unwrap();
    let (mut idx, _) = LessonIndex::open(dir.path(), &m, 1).unwrap();
    assert_eq!(idx.len(), 50_000);
    // Typo tolerance also finds near numbers (1337); the exact one ranks first.
    let hits = idx.search("lesson 31337", &Filter::default(), 5).unwrap();
    assert_eq!(hits[0].id, "L31337", "{hits:?}");
    let hits = idx.search("nightly deploy", &Filter { tool: Some("fs".into()), code: Some("TIMEOUT".into()) }, 20).unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| m.lesson(&h.id).is_some_and(|l| l.when.tool.as_deref() == Some("fs") && l.when.code.as_deref() == Some("TIMEOUT")))
    );
    // One edit re-indexes one lesson.
    let lesson = NewLesson { text: "rewritten: quarterly audit".into(), ..NewLesson::from(m.lesson("L25000").unwrap()) };
    let edited = apply(&text, &Edit::Replace { id: "L25000".into(), lesson }).unwrap();
    let new = parse(&edited);
    assert_eq!(idx.sync(&m, &new, 2).unwrap(), 1);
    assert_eq!(idx.search("quarterly audit", &Filter::default(), 1).unwrap()[0].id, "L25000");
}
