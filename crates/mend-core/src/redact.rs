//! Secret redaction: applied to every event, report line and (later) lesson
//! and prompt before it leaves the engine.
//!
//! A known secret value is replaced by `[REDACTED:NAME]` wherever it appears,
//! and also in the encoded forms a server or a tool may echo it in (issue 11
//! item 8: a password sent in a query string came back as `p@ss%20w0rd` in a
//! 401 body, and from there went to the journal, the logs and the report):
//! - percent-encoded: RFC 3986 `%XX` with hex digits in either case, however
//!   many of the characters the encoder chose to encode, and
//!   application/x-www-form-urlencoded (`+` for space);
//! - JSON-escaped: `\"`, `\\`, `\/`, `\b\f\n\r\t`, and `\uXXXX` (surrogate
//!   pairs included, hex in either case), so serde_json's form and the
//!   all-ASCII form alike;
//! - base64, standard and URL-safe alphabets, padded or not, on its own or as
//!   part of a longer encoded string (`user:secret` in a Basic header, a JSON
//!   blob).
//!
//! The plain value and its base64 forms are the needles of one Aho-Corasick
//! automaton built in [`Redactor::new`]. Percent and JSON escapes are undone
//! rather than enumerated: a string that holds such escapes is also searched
//! in decoded views of itself, up to two decodings deep (JSON in a query
//! string, `%2520`). Each byte of a view remembers where in the original it
//! came from, so a match in a view redacts the whole encoded text. A string
//! without `%`, `+` or `\` is searched once.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde_json::Value;

/// Replacement text of a secret key's value and of a built-in token pattern
/// match; a known secret value becomes `[REDACTED:NAME]` instead.
pub const REDACTED: &str = "[REDACTED]";

/// Secret values shorter than this many bytes are ignored: they would redact
/// ordinary text.
const MIN_SECRET_LEN: usize = 4;

/// A secret base64-encoded inside a longer string is found by the run of
/// characters that depends on its bytes only; runs shorter than this many
/// characters are not searched for, since they would hit unrelated base64
/// (issue 11 item 8).
const MIN_BASE64_RUN: usize = 8;

/// How many escape layers a string is decoded through, one on top of the
/// other, when searching for secrets: 2 covers a JSON text or an
/// already-encoded value inside a query string.
const MAX_DECODINGS: usize = 2;

/// Environment variable names whose values are treated as secrets even when
/// the job does not list them.
const SECRET_NAME_HINTS: &[&str] = &["TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL"];

/// Whether an environment variable's name looks like it holds a secret
/// (`MY_API_TOKEN`, `DB_PASSWORD`, …): such values are redacted even when a
/// job does not list them, and the safety gate asks before a healing
/// proposal changes a command that references one (issue 11 item 5).
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_HINTS.iter().any(|h| upper.contains(h))
}

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
    /// The names of the secrets that are redacted, once each, in the order given.
    names: Vec<String>,
    /// The secret values to replace; `None` when there are none.
    values: Option<Values>,
}

/// The known secret values and the needles that find them.
#[derive(Debug, Clone)]
struct Values {
    /// Each secret's plain value and base64 forms (see [`needles`]), built
    /// once: most strings hold no secret and are searched in one pass.
    needles: AhoCorasick,
    /// For each needle, by pattern id, the index of its secret in `names`.
    owner: Vec<usize>,
    /// The secret of each index, by name, longest value first: where matches
    /// overlap, the lowest index names the replacement.
    names: Vec<String>,
    /// Whether a needle holds a space: only then is it worth searching the
    /// view with `+` read as a space.
    space: bool,
}

/// One place a secret was found: a byte range of the original string.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    /// Index into [`Values::names`].
    secret: usize,
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
    /// token patterns. Values shorter than 4 bytes are ignored (they would
    /// redact ordinary text). Each value is also found in its encoded forms
    /// (see the module docs; issue 11 item 8).
    pub fn new<I, K, V>(secrets: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut secrets: Vec<(String, String)> =
            secrets.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| v.len() >= MIN_SECRET_LEN).collect();
        let mut names: Vec<String> = Vec::new();
        for (name, _) in &secrets {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        // Stable: of two secrets with values of the same length, the first given names the overlap.
        secrets.sort_by_key(|v| Reverse(v.1.len()));
        Redactor { names, values: Values::new(secrets) }
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

    /// The names of the secrets this redactor replaces (the `NAME` of
    /// `[REDACTED:NAME]`), each once, in the order they were given to
    /// [`Redactor::new`] (for [`Redactor::from_env`], the environment's
    /// order). A secret whose value is shorter than 4 bytes is not among
    /// them: it is never redacted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Redacts a string: each known secret value, plain or percent-encoded,
    /// form-encoded, JSON-escaped or base64-encoded (issue 11 item 8),
    /// becomes `[REDACTED:NAME]`, the whole encoded run at once; where
    /// secrets overlap, one replacement covers them all and names the longest.
    /// Then the built-in token patterns are applied.
    pub fn text(&self, s: &str) -> String {
        let mut out = match &self.values {
            Some(values) => values.replace(s),
            None => s.to_owned(),
        };
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

impl Values {
    /// The needles of these (name, value) secrets, longest value first;
    /// `None` when there are none.
    fn new(secrets: Vec<(String, String)>) -> Option<Values> {
        if secrets.is_empty() {
            return None;
        }
        let mut seen = HashSet::new();
        let (mut patterns, mut owner) = (Vec::new(), Vec::new());
        for (i, (_, value)) in secrets.iter().enumerate() {
            for needle in needles(value) {
                if seen.insert(needle.clone()) {
                    patterns.push(needle);
                    owner.push(i);
                }
            }
        }
        let space = patterns.iter().any(|p| p.contains(&b' '));
        // Building fails only when state or pattern ids overflow (about 2^31): gigabytes of secrets.
        let needles = AhoCorasick::new(&patterns).expect("secret needles fit an Aho-Corasick automaton");
        Some(Values { needles, owner, names: secrets.into_iter().map(|(name, _)| name).collect(), space })
    }

    /// `s` with every span where a secret was found replaced by
    /// `[REDACTED:NAME]`; overlapping spans become one.
    fn replace(&self, s: &str) -> String {
        let mut spans = Vec::new();
        self.find(s.as_bytes(), &[], &mut spans);
        self.find_decoded(s.as_bytes(), &mut Vec::new(), &mut spans);
        if spans.is_empty() {
            return s.to_owned();
        }
        // A match always covers whole characters; rounding out is a safeguard for slicing.
        for span in &mut spans {
            span.start = s.floor_char_boundary(span.start);
            span.end = s.ceil_char_boundary(span.end);
        }
        spans.sort_unstable_by_key(|sp| (sp.start, Reverse(sp.end)));
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start < last.end => {
                    last.end = last.end.max(span.end);
                    last.secret = last.secret.min(span.secret);
                }
                _ => merged.push(span),
            }
        }
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for span in merged {
            out.push_str(&s[at..span.start]);
            out.push_str("[REDACTED:");
            out.push_str(&self.names[span.secret]);
            out.push(']');
            at = span.end;
        }
        out.push_str(&s[at..]);
        out
    }

    /// Adds the spans of the original string where a needle occurs in
    /// `bytes`, which is the last of `chain` (decoded from the one before it,
    /// the first decoded from the original), or the original when `chain` is
    /// empty.
    fn find(&self, bytes: &[u8], chain: &[View], spans: &mut Vec<Span>) {
        for m in self.needles.find_overlapping_iter(bytes) {
            let (mut start, mut end) = (m.start(), m.end());
            for view in chain.iter().rev() {
                (start, end) = (view.from(start).0, view.from(end - 1).1);
            }
            spans.push(Span { start, end, secret: self.owner[m.pattern().as_usize()] });
        }
    }

    /// Searches each decoding of the last of `chain` (of `raw` when `chain`
    /// is empty) that changes it, and the decodings of those, up to
    /// [`MAX_DECODINGS`] deep. Depth first: at most that many views are alive
    /// at once.
    fn find_decoded(&self, raw: &[u8], chain: &mut Vec<View>, spans: &mut Vec<Span>) {
        for escapes in [Escapes::Percent, Escapes::Form, Escapes::Json] {
            if escapes == Escapes::Form && !self.space {
                continue;
            }
            let Some(view) = decode(chain.last().map_or(raw, |v| &v.bytes), escapes) else { continue };
            chain.push(view);
            let last = &chain[chain.len() - 1];
            self.find(&last.bytes, chain, spans);
            if chain.len() < MAX_DECODINGS {
                self.find_decoded(raw, chain, spans);
            }
            chain.pop();
        }
    }
}

/// The byte strings searched for one secret value: the value itself; its
/// base64 encodings, standard and URL-safe, padded and not; and, for a value
/// inside a longer base64-encoded string, for each of the 3 byte alignments
/// (0, 1 or 2 bytes of the string before it in its 3-byte group), the run of
/// characters that depends on the value's bytes only, when at least
/// [`MIN_BASE64_RUN`] characters long (issue 11 item 8). Percent and JSON
/// escapes are not here: they are decoded instead (see [`decode`]).
fn needles(value: &str) -> Vec<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = vec![bytes.to_vec()];
    for alphabet in [BASE64_STANDARD, BASE64_URL_SAFE] {
        let unpadded = base64(bytes, alphabet);
        let padding = "=".repeat((3 - bytes.len() % 3) % 3);
        out.push(format!("{unpadded}{padding}").into_bytes());
        out.push(unpadded.into_bytes());
        for filler in 0..3 {
            let mut shifted = vec![0; filler];
            shifted.extend_from_slice(bytes);
            // Character j carries bits 6j..6j+6; the value's bits are 8·filler..8·(filler+len).
            let (from, to) = ((8 * filler).div_ceil(6), 8 * (filler + bytes.len()) / 6);
            if to - from >= MIN_BASE64_RUN {
                out.push(base64(&shifted, alphabet).as_bytes()[from..to].to_vec());
            }
        }
    }
    out
}

/// The base64 alphabet of RFC 4648 section 4.
const BASE64_STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The URL- and filename-safe base64 alphabet of RFC 4648 section 5.
const BASE64_URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `bytes` base64-encoded in this alphabet, without padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let bits = group.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=group.len() {
            out.push(char::from(alphabet[(bits >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// An escape syntax whose decoding is searched for secrets too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escapes {
    /// `%XX`, hex in either case (RFC 3986 section 2.1).
    Percent,
    /// `%XX` and `+` for a space (application/x-www-form-urlencoded).
    Form,
    /// The escapes of a JSON string (RFC 8259 section 7).
    Json,
}

/// A decoded copy of a string (its parent: the original or another view).
struct View {
    bytes: Vec<u8>,
    /// The escapes that were decoded, in order; the bytes between them are
    /// the parent's, copied.
    escapes: Vec<Decoded>,
}

/// One escape decoded into a [`View`].
struct Decoded {
    /// Where its output starts in the view.
    at: usize,
    /// How many bytes of the view it became (1 to 4).
    out: usize,
    /// Where it starts in the parent.
    from: usize,
    /// How many bytes of the parent it took (1 to 12).
    len: usize,
}

impl View {
    /// The range of the parent that byte `i` of the view came from: one
    /// byte, or a whole escape.
    fn from(&self, i: usize) -> (usize, usize) {
        let before = self.escapes.partition_point(|e| e.at <= i);
        match before.checked_sub(1).map(|k| &self.escapes[k]) {
            None => (i, i + 1),
            Some(e) if i < e.at + e.out => (e.from, e.from + e.len),
            Some(e) => {
                let p = e.from + e.len + (i - e.at - e.out);
                (p, p + 1)
            }
        }
    }
}

/// `parent` with these escapes undone, or `None` when it holds none. Bytes
/// that do not form a valid escape are kept as they are.
fn decode(parent: &[u8], escapes: Escapes) -> Option<View> {
    let (trigger, also) = match escapes {
        Escapes::Percent => (b'%', b'%'),
        Escapes::Form => (b'+', b'%'),
        Escapes::Json => (b'\\', b'\\'),
    };
    // `contains` is memchr: most strings hold no escape. Without a `+`, the
    // form view is the percent view.
    if !parent.contains(&trigger) {
        return None;
    }
    let mut view: Option<View> = None;
    // `parent[..copied]` is in the view.
    let (mut copied, mut i) = (0, 0);
    while let Some(at) = parent[i..].iter().position(|&b| b == trigger || b == also) {
        let at = i + at;
        let Some((len, unescaped)) = unescape(&parent[at..], escapes) else {
            i = at + 1;
            continue;
        };
        let view = view.get_or_insert_with(|| View { bytes: Vec::with_capacity(parent.len()), escapes: Vec::new() });
        view.bytes.extend_from_slice(&parent[copied..at]);
        let mut buf = [0; 4];
        let out = match unescaped {
            Unescaped::Byte(b) => {
                buf[0] = b;
                &buf[..1]
            }
            Unescaped::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
        };
        view.escapes.push(Decoded { at: view.bytes.len(), out: out.len(), from: at, len });
        view.bytes.extend_from_slice(out);
        i = at + len;
        copied = i;
    }
    let mut view = view?;
    view.bytes.extend_from_slice(&parent[copied..]);
    Some(view)
}

/// What one escape stands for.
enum Unescaped {
    /// A byte (percent escapes encode UTF-8 a byte at a time).
    Byte(u8),
    /// A character (JSON escapes).
    Char(char),
}

/// The escape at the start of `s`, if there is a valid one: how many bytes
/// it takes and what it stands for.
fn unescape(s: &[u8], escapes: Escapes) -> Option<(usize, Unescaped)> {
    match (escapes, s[0]) {
        (Escapes::Percent | Escapes::Form, b'%') => Some((3, Unescaped::Byte(u8::try_from(hex(s.get(1..3)?)?).ok()?))),
        (Escapes::Form, b'+') => Some((1, Unescaped::Byte(b' '))),
        (Escapes::Json, b'\\') => {
            let c = match *s.get(1)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let unit = hex(s.get(2..6)?)?;
                    if let Some(c) = char::from_u32(unit) {
                        return Some((6, Unescaped::Char(c)));
                    }
                    // A surrogate: only a high one followed by a low one makes a character.
                    let low = s.get(6..8).filter(|u| u == b"\\u").and_then(|_| hex(s.get(8..12)?))?;
                    if !(0xD800..0xDC00).contains(&unit) || !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    return Some((12, Unescaped::Char(char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?)));
                }
                _ => return None,
            };
            Some((2, Unescaped::Char(c)))
        }
        _ => None,
    }
}

/// The value of these hex digits, either case; `None` if one is not a hex digit.
fn hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0, |n, &d| Some(n << 4 | char::from(d).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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

    #[test]
    fn text_with_escapes_but_no_secret_is_untouched() {
        let r = Redactor::new([("DB_PASSWORD", "p@ss w0rd"), ("API_SECRET", "Qu\"o\\te/ü+~ ok")]);
        for s in [
            r#"{"msg":"line\nnext \u00e9 \ud83d\ude00 \"quoted\" C:\\dir"}"#,
            "GET /search?q=50%25+off&lang=fr%2Fbe&x=%zz%4 HTTP/1.1",
            "blob Zm9vYmFy cEBzcyB3 eyJ1c2VyIjogImFsaWNlIn0= \\u12 \\ud83d trailing %",
        ] {
            assert_eq!(r.text(s), s);
        }
    }

    /// Issue 11 item 8: a server echoed the password of a query string as
    /// `p@ss%20w0rd` in a 401 body. Each encoded form, inside the body.
    #[test]
    fn password_echoed_encoded_in_a_401_body_is_redacted() {
        let r = Redactor::new([("DB_PASSWORD", "p@ss w0rd")]);
        for form in [
            "p@ss w0rd",
            "p@ss%20w0rd",                 // RFC 3986, only what must be
            "p%40ss%20w0rd",               // every reserved character
            "p%40ss+w0rd",                 // form-encoded
            "p@ss+w0rd",                   // form-encoded, only what must be
            "%70%40%73%73%20%77%30%72%64", // every byte
            "p%2540ss%2520w0rd",           // encoded twice
            r"\u0070\u0040ss\u0020w0rd",   // JSON, \u escapes
            r"p%5Cu0040ss%20w0rd",         // JSON inside a query string
            "cEBzcyB3MHJk",                // base64
        ] {
            let body = format!(r#"{{"error":"bad credentials {form} for alice"}}"#);
            assert_eq!(r.text(&body), r#"{"error":"bad credentials [REDACTED:DB_PASSWORD] for alice"}"#, "{form}");
        }
        // Escapes around the secret stay as they are.
        assert_eq!(r.text("a%20b p%40ss%20w0rd c+d"), "a%20b [REDACTED:DB_PASSWORD] c+d");
        assert_eq!(r.text(r"%2541 \u0041 p%2540ss%2520w0rd %2541 \n"), r"%2541 \u0041 [REDACTED:DB_PASSWORD] %2541 \n");
        // Inside longer base64: `alice:p@ss w0rd` (a Basic header), a JSON blob.
        assert_eq!(r.text(r#"{"auth":"YWxpY2U6cEBzcyB3MHJk"}"#), r#"{"auth":"YWxpY2U6[REDACTED:DB_PASSWORD]"}"#);
        assert_eq!(
            r.text("body eyJ1c2VyIjogImFsaWNlIiwgInBhc3N3b3JkIjogInBAc3MgdzByZCJ9 end"),
            "body eyJ1c2VyIjogImFsaWNlIiwgInBhc3N3b3JkIjogIn[REDACTED:DB_PASSWORD]CJ9 end"
        );
    }

    #[test]
    fn secret_with_quotes_slash_and_non_ascii_is_redacted_in_each_form() {
        let cases = [
            ("Qu\"o\\te/ü+~ ok", "Qu%22o%5Cte%2F%C3%BC%2B~%20ok"),
            ("Qu\"o\\te/ü+~ ok", "Qu%22o%5cte%2f%c3%bc%2b~%20ok"),
            ("Qu\"o\\te/ü+~ ok", "Qu%22o%5Cte%2F%C3%BC%2B~+ok"),
            ("Qu\"o\\te/ü+~ ok", "Qu%22o%5Cte/%C3%BC%2B~%20ok"),
            ("Qu\"o\\te/ü+~ ok", r#"Qu\"o\\te/ü+~ ok"#),
            ("Qu\"o\\te/ü+~ ok", r#"Qu\"o\\te/\u00fc+~ ok"#),
            ("Qu\"o\\te/ü+~ ok", r#"Qu\"o\\te\/\u00FC+~ ok"#),
            ("Qu\"o\\te/ü+~ ok", "UXUib1x0ZS/DvCt+IG9r"),
            ("Qu\"o\\te/ü+~ ok", "UXUib1x0ZS_DvCt-IG9r"),
            ("tök€n😀x", r"t\u00f6k\u20acn\ud83d\ude00x"),
            ("tök€n😀x", r"t\u00F6k\u20ACn\uD83D\uDE00x"),
            ("tök€n😀x", "t%C3%B6k%E2%82%ACn%F0%9F%98%80x"),
        ];
        for (secret, form) in cases {
            let r = Redactor::new([("API_SECRET", secret)]);
            assert_eq!(r.text(&format!("echo <{form}> done")), "echo <[REDACTED:API_SECRET]> done", "{form}");
        }
        let r = Redactor::new([("API_SECRET", "Qu\"o\\te/ü+~ ok")]);
        assert_eq!(r.text("k:azpRdSJvXHRlL8O8K34gb2s="), "k:azp[REDACTED:API_SECRET]s=");
    }

    #[test]
    fn json_body_held_as_a_string_is_redacted() {
        let r = Redactor::new([("API_SECRET", "Qu\"o\\te/ü+~ ok")]);
        let mut v = json!({"body": serde_json::to_string(&json!({"echo": "Qu\"o\\te/ü+~ ok"})).unwrap()});
        r.value(&mut v);
        assert_eq!(v["body"], r#"{"echo":"[REDACTED:API_SECRET]"}"#);
    }

    #[test]
    fn the_longest_secret_names_an_overlap() {
        let r = Redactor::new([("SHORT", "abcd1234"), ("LONG", "xxabcd1234yy"), ("TAIL", "34yyzz")]);
        assert_eq!(r.text("xxabcd1234yyzz and abcd1234"), "[REDACTED:LONG] and [REDACTED:SHORT]");
    }

    #[test]
    fn names_are_the_redacted_secrets_once_each_in_order() {
        let r = Redactor::new([("B", "value-b"), ("A", "longer-value-a"), ("B", "other-b"), ("SHORT", "abc")]);
        assert_eq!(r.names().collect::<Vec<_>>(), ["B", "A"]);
        assert_eq!(Redactor::default().names().count(), 0);
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in
            [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(plain.as_bytes(), BASE64_STANDARD), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf], BASE64_STANDARD), "+/+/");
        assert_eq!(base64(&[0xfb, 0xff, 0xbf], BASE64_URL_SAFE), "-_-_");
    }

    /// Percent-encodes `s` a byte at a time, keeping the bytes `keep` accepts.
    fn percent(s: &str, keep: fn(u8) -> bool, upper: bool, plus_for_space: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b == b' ' && plus_for_space {
                out.push('+');
            } else if keep(b) {
                out.push(char::from(b));
            } else if upper {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        }
        out
    }

    /// JSON-escapes `s` with every non-ASCII character as `\uXXXX` (Python's
    /// `ensure_ascii`); `upper` also escapes `/` and writes upper-case hex.
    fn json_ascii(s: &str, upper: bool) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' if upper => out.push_str("\\/"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                ' '..='~' => out.push(c),
                _ => {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        out.push_str(&if upper { format!("\\u{unit:04X}") } else { format!("\\u{unit:04x}") });
                    }
                }
            }
        }
        out
    }

    fn unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-._~".contains(&b)
    }

    /// What a query value must have encoded: the rest of printable ASCII stays.
    fn must_stay(b: u8) -> bool {
        b.is_ascii_graphic() && !b"\"#%<>`{}|\\^[]&+=".contains(&b)
    }

    /// Encodes a whole string.
    type Encoder = fn(&str) -> String;

    /// The encodings of issue 11 item 8 that work a character at a time, so
    /// that encoding a text encodes the secret inside it the same way.
    const ENCODERS: &[(&str, Encoder)] = &[
        ("plain", |s| s.to_owned()),
        ("rfc3986 upper", |s| percent(s, unreserved, true, false)),
        ("rfc3986 lower", |s| percent(s, unreserved, false, false)),
        ("form", |s| percent(s, unreserved, true, true)),
        ("minimal", |s| percent(s, must_stay, true, false)),
        ("minimal form lower", |s| percent(s, must_stay, false, true)),
        ("alphanumeric only", |s| percent(s, |b| b.is_ascii_alphanumeric(), true, false)),
        ("serde_json", |s| serde_json::to_string(s).unwrap()[1..].strip_suffix('"').unwrap().to_owned()),
        ("json ascii", |s| json_ascii(s, false)),
        ("json ascii upper", |s| json_ascii(s, true)),
        ("json in a query", |s| percent(&json_ascii(s, false), unreserved, true, true)),
    ];

    /// `out` with the replacements taken out, so that they cannot spell a secret.
    fn without_markers(out: &str) -> String {
        out.replace("[REDACTED:S]", "\0")
    }

    /// Printable ASCII, some non-ASCII (2, 3 and 4 bytes), some control characters.
    const SECRET: &str = "[ -~\u{e9}\u{fc}\u{20ac}\u{1f600}\t\n\u{1}\u{7f}]{4,40}";
    /// Surrounding text: neither `%` nor `\`, which would start an escape
    /// that eats the start of the secret's (realistic text around an
    /// encoded secret is encoded too; the second half of the test does that).
    const AROUND: &str = "[ -$&-\\[\\]-~\u{e9}\u{fc}]{0,12}";

    proptest! {
        #[test]
        fn no_encoded_form_of_a_secret_survives(
            secret in SECRET,
            before in AROUND,
            after in AROUND,
            filler in proptest::collection::vec(any::<u8>(), 0..7),
            tail in proptest::collection::vec(any::<u8>(), 0..7),
        ) {
            let r = Redactor::new([("S", secret.as_str())]);
            for (label, encode) in ENCODERS {
                let form = encode(&secret);
                let out = r.text(&format!("{before}{form}{after}"));
                prop_assert!(!without_markers(&out).contains(&form), "{label} {form:?} in {out:?}");
                let out = r.text(&encode(&format!("{before}{secret}{after}")));
                prop_assert!(!without_markers(&out).contains(&form), "{label} {form:?} in encoded text {out:?}");
            }
            let mut bytes = filler.clone();
            bytes.extend_from_slice(secret.as_bytes());
            bytes.extend_from_slice(&tail);
            for alphabet in [BASE64_STANDARD, BASE64_URL_SAFE] {
                let alone = base64(secret.as_bytes(), alphabet);
                let out = r.text(&format!("{before}{alone}{after}"));
                prop_assert!(!without_markers(&out).contains(&alone), "{alone:?} in {out:?}");
                let encoded = base64(&bytes, alphabet);
                let (from, to) = ((8 * filler.len()).div_ceil(6), 8 * (filler.len() + secret.len()) / 6);
                if to - from >= MIN_BASE64_RUN {
                    let out = r.text(&format!("{before}{encoded}{after}"));
                    prop_assert!(!without_markers(&out).contains(&encoded[from..to]), "{encoded:?} -> {out:?}");
                }
            }
        }

        #[test]
        fn text_without_the_secret_is_left_alone(secret in "[!-~]{4,40}", text in "[a-zA-Z0-9 %+\\\\/=:.,\"-]{0,80}") {
            prop_assume!(!text.contains(&secret));
            let r = Redactor::new([("S", secret.as_str())]);
            prop_assert_eq!(r.text(&text), Redactor::default().text(&text));
        }
    }
}
