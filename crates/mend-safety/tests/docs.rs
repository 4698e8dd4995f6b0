//! `docs/safety.md` holds the rules table exactly as the code has it
//! (`MEND_BLESS=1 cargo test -p mend-safety --test docs` rewrites it).

use std::path::Path;

#[test]
fn the_rules_table_in_the_docs_is_the_codes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/safety.md");
    let text = std::fs::read_to_string(&path).expect("docs/safety.md");
    let (start, end) = ("<!-- rules:start -->\n", "<!-- rules:end -->");
    let a = text.find(start).expect("rules:start marker") + start.len();
    let b = text.find(end).expect("rules:end marker");
    let want = mend_safety::rules_markdown();
    if std::env::var_os("MEND_BLESS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &text[..a], &text[b..])).expect("write docs/safety.md");
        return;
    }
    assert_eq!(&text[a..b], want, "docs/safety.md is stale: run MEND_BLESS=1 cargo test -p mend-safety --test docs");
}
