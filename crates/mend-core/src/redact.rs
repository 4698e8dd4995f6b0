//! Secret redaction: applied to every event, report line and (later) lesson
//! and prompt before it leaves the engine.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Replacement text.
pub const REDACTED: &str = "[REDACTED]";

/// Environment variable names whose values are treated as secrets even when
/// the job does not list them.
const SECRET_NAME_HINTS: &[&str] = &["TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL"];

/// Object keys whose values are always redacted.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "api_key",
    "apikey",
    "x-api-key",
    "client_secret",
    "private_key",
];

/// Removes secrets from strings and JSON values.
#[derive(Debug, Clone)]
pub struct Redactor {
    /// (name, value) of secret values to replace, longest first.
    values: Vec<(String, String)>,
}

/// The built-in token patterns with their replacements, and all of them as
/// one set: one pass tells whether any applies (most strings hold no
/// secret, and this keeps redaction off the hot path). Compiled once per
/// process, not per run.
static PATTERNS: LazyLock<(Vec<(Regex, &'static str)>, regex::RegexSet)> = LazyLock::new(|| {
    let pat = |p: &str| Regex::new(p).expect("built-in redaction pattern compiles");
    let patterns = vec![
        (pat(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), "$1 [REDACTED]"),
        (pat(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
        (pat(r"\b(ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,}"), REDACTED),
        (pat(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), REDACTED),
        (pat(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
        (pat(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), REDACTED),
        (pat(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), REDACTED),
        (pat(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)"), REDACTED),
        (
            pat(r#"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)(["']?\s*[=:]\s*["']?)[^\s"'&,;]{3,}"#),
            "$1$2[REDACTED]",
        ),
        (pat(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@"), "$1:[REDACTED]@"),
    ];
    let any = regex::RegexSet::new(patterns.iter().map(|(r, _)| r.as_str())).expect("built-in redaction patterns compile");
    (patterns, any)
});

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(std::iter::empty::<(String, String)>())
    }
}

impl Redactor {
    /// A redactor that knows these (name, value) secrets plus the built-in
    /// token patterns. Values shorter than 4 characters are ignored (they
    /// would redact ordinary text).
    pub fn new<I, K, V>(secrets: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut values: Vec<(String, String)> =
            secrets.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| v.len() >= 4).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.1.len()));
        Redactor { values }
    }

    /// A redactor for these environment variable names (their current values
    /// are the secrets), plus every variable whose name looks secret.
    pub fn from_env<'a>(names: impl IntoIterator<Item = &'a str>, env: &[(String, String)]) -> Self {
        let listed: Vec<&str> = names.into_iter().collect();
        let secrets = env.iter().filter(|(k, _)| {
            let upper = k.to_ascii_uppercase();
            listed.iter().any(|n| n == k) || SECRET_NAME_HINTS.iter().any(|h| upper.contains(h))
        });
        Redactor::new(secrets.map(|(k, v)| (k.clone(), v.clone())))
    }

    /// Redacts a string.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (name, value) in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("[REDACTED:{name}]"));
            }
        }
        let (patterns, any) = &*PATTERNS;
        if !any.is_match(&out) {
            return out;
        }
        for (re, with) in patterns {
            if re.is_match(&out) {
                out = re.replace_all(&out, *with).into_owned();
            }
        }
        out
    }

    /// Redacts a JSON value in place: secret keys lose their values, every
    /// string is scanned.
    pub fn value(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let r = self.text(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS.contains(&lower.as_str()) && !val.is_null() {
                        *val = Value::String(REDACTED.to_owned());
                    } else {
                        self.value(val);
                    }
                }
            }
            _ => {}
        }
    }

    /// A redacted copy.
    pub fn redacted(&self, v: &Value) -> Value {
        let mut c = v.clone();
        self.value(&mut c);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_values_keys_and_patterns_are_redacted() {
        let r = Redactor::new([("DEPLOY_TOKEN", "s3cr3t-value-123")]);
        assert_eq!(r.text("push with s3cr3t-value-123 now"), "push with [REDACTED:DEPLOY_TOKEN] now");
        let mut v = json!({
            "headers": {"Authorization": "Bearer abc.def.ghi", "Accept": "json"},
            "url": "https://bob:hunter22@db.example/x?api_key=XYZ12345",
            "note": "key sk-abcdefghijklmnopqrstuvwx and AKIAABCDEFGHIJKLMNOP",
            "args": ["--password=swordfish", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
            "n": 3
        });
        r.value(&mut v);
        let s = v.to_string();
        for secret in ["abc.def.ghi", "hunter22", "XYZ12345", "sk-abcdef", "AKIAABCD", "swordfish", "ghp_abc"] {
            assert!(!s.contains(secret), "{secret} leaked in {s}");
        }
        assert_eq!(v["headers"]["Accept"], "json");
        assert_eq!(v["n"], 3);
        assert!(s.contains("bob:[REDACTED]@db.example"));
    }

    #[test]
    fn env_names_that_look_secret_are_picked_up() {
        let env = vec![
            ("GITHUB_TOKEN".to_owned(), "tok-aaaaaaaaaa".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
            ("MY_VAR".to_owned(), "listed-value".to_owned()),
        ];
        let r = Redactor::from_env(["MY_VAR"], &env);
        assert_eq!(r.text("tok-aaaaaaaaaa /root listed-value"), "[REDACTED:GITHUB_TOKEN] /root [REDACTED:MY_VAR]");
    }

    #[test]
    fn plain_text_is_untouched() {
        let r = Redactor::default();
        let s = "connection refused on 127.0.0.1:8080; retrying in 200ms";
        assert_eq!(r.text(s), s);
    }
}
