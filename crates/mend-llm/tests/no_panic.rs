//! Model replies come from outside: the parser never panics, whatever the
//! bytes (a bounded fuzz run in CI: `PROPTEST_CASES` raises it).

use mend_llm::parse::parse;
use proptest::prelude::*;

fn replyish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("ACTION: ".to_owned()),
        Just("action".to_owned()),
        Just("\"action\":".to_owned()),
        Just("MODIFIED_ARGS: ".to_owned()),
        Just("ROOT_CAUSE:".to_owned()),
        Just("```json\n".to_owned()),
        Just("```".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\n".to_owned()),
        Just("retry_modified".to_owned()),
        Just("{\"path\": \"/a\"}".to_owned()),
        "[a-zA-Z_:{}\"\\[\\], é✓-]{0,10}",
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reply_shaped_text_never_panics(text in replyish()) {
        if let Ok(r) = parse(&text) {
            prop_assert!(!r.action.is_empty());
            prop_assert!(r.action.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }

    #[test]
    fn any_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }
}
