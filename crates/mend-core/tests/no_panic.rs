//! Input from outside never panics: job files, config files, durations,
//! codes, redaction, whatever bytes they hold.

use std::path::Path;

use mend_core::code::ErrorCode;
use mend_core::config::Config;
use mend_core::job::{Job, expand, parse_duration_ms};
use mend_core::redact::Redactor;
use proptest::prelude::*;

/// Fragments of real job files, so the generator reaches deep into the parser.
const PIECES: &[&str] = &[
    "name = \"j\"\n",
    "[[steps]]\n",
    "tool = \"exec\"\n",
    "tool = \"http\"\n",
    "args = { program = \"true\" }\n",
    "args = { url = \"${env:X}\" }\n",
    "retry = { max = 3, base = \"1s\", on = [\"TIMEOUT\"] }\n",
    "retry = { base = \"-5q\" }\n",
    "[[steps.alternatives]]\n",
    "verify = { tool = \"exec\" }\n",
    "[budget]\nwall_clock = \"9999999999999d\"\n",
    "[approval]\non_timeout = \"sometimes\"\n",
    "[safety]\ndestructive = [\"(\"]\n",
    "approval = \"required\"\n",
    "wall_clock = \"1.5.5s\"\n",
    "name = \"\"\n",
    "version = 7\n",
    "\u{feff}",
    "é\r\n",
    "\"\"\"\n",
    "= =\n",
    "schedule = \"every 1s\"\n",
    "schedule = \"* * 31 2 *\"\n",
];

fn job_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn job_parsing_never_panics(text in job_text()) {
        if let Err(e) = Job::parse(&text, "fuzz.toml", Path::new(".")) {
            for err in e.0 {
                prop_assert_eq!(err.file.as_str(), "fuzz.toml");
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Job::parse(&text, "fuzz.toml", Path::new("."));
        let _ = Config::parse(&text, "config.toml");
        let _ = parse_duration_ms(&text);
        let _ = ErrorCode::parse(&text);
        let r = Redactor::new([("K", "secret-value")]);
        let out = r.text(&text);
        prop_assert!(!out.contains("secret-value"));
        let _ = expand(&serde_json::Value::String(text.clone()), &[("X".into(), "y".into())], Path::new("/j"));
    }
}
