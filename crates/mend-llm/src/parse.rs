//! Reading a model's reply: tolerant of formatting noise (code fences,
//! prose around the answer, key case), strict on meaning. Two shapes parse:
//! a JSON object (`{"action": …, "root_cause": …, "modified_args": {…}}`),
//! and the seed article's text format (`ACTION: …` / `ROOT_CAUSE: …` /
//! `MODIFIED_ARGS: {…}` / `ALTERNATIVE_TOOL: …` / `USER_MESSAGE: …`).
//! Never panics, whatever the bytes.

use serde_json::{Map, Value};

/// What the model said, before any validation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The action, lowercased (`retry_same`, `modify_args`…).
    pub action: String,
    /// Why it thinks the call failed.
    pub root_cause: String,
    /// New arguments (a complete object, or the keys to change).
    pub modified_args: Option<Value>,
    /// The alternative to use: a tool name, or an index.
    pub alternative: Option<String>,
    /// Its words for a person.
    pub user_message: Option<String>,
    /// A wait before retrying.
    pub delay_ms: Option<u64>,
}

/// Why a reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing that looks like an answer.
    #[error("the reply names no action")]
    NoAction,
}

/// The first balanced `{…}` in the text that parses as a JSON object.
fn json_object(text: &str) -> Option<Map<String, Value>> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(off) = text[start..].find('{') {
        let open = start + off;
        let (mut depth, mut in_str, mut esc) = (0i32, false, false);
        for (i, &b) in bytes.iter().enumerate().skip(open) {
            if in_str {
                match b {
                    _ if esc => esc = false,
                    b'\\' => esc = true,
                    b'"' => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        if let Ok(Value::Object(m)) = serde_json::from_str(&text[open..=i]) {
                            return Some(m);
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
        start = open + 1;
    }
    None
}

fn norm_key(k: &str) -> String {
    k.trim().trim_matches(|c: char| c == '*' || c == '`' || c == '"' || c == '#').trim().to_ascii_lowercase().replace([' ', '-'], "_")
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => {
            Some(s.trim().to_owned()).filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none") && !s.eq_ignore_ascii_case("null"))
        }
        other => Some(other.to_string()),
    }
}

fn from_map(m: &Map<String, Value>) -> Reply {
    let get = |names: &[&str]| m.iter().find(|(k, _)| names.contains(&norm_key(k).as_str())).map(|(_, v)| v);
    let args = get(&["modified_args", "args", "arguments", "new_args"]).cloned().and_then(|v| match v {
        Value::String(s) => serde_json::from_str(&s).ok(),
        Value::Null => None,
        other => Some(other),
    });
    Reply {
        action: get(&["action", "next_action"]).and_then(text_of).unwrap_or_default().to_ascii_lowercase(),
        root_cause: get(&["root_cause", "cause", "diagnosis", "reason"]).and_then(text_of).unwrap_or_default(),
        modified_args: args,
        alternative: get(&["alternative_tool", "alternative", "alternative_index"]).and_then(text_of),
        user_message: get(&["user_message", "message", "recommendation", "question"]).and_then(text_of),
        delay_ms: get(&["delay_ms", "wait_ms"]).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))),
    }
}

/// The `KEY: value` format; a value may continue on the next lines until
/// another key (so `MODIFIED_ARGS:` may hold a multi-line JSON object).
fn from_lines(text: &str) -> Reply {
    const KEYS: &[&str] = &["action", "root_cause", "modified_args", "alternative_tool", "user_message", "delay_ms"];
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let t = line.trim().trim_start_matches(['-', '*', ' ']);
        if let Some((k, v)) = t.split_once(':') {
            let key = norm_key(k);
            if KEYS.contains(&key.as_str()) {
                fields.push((key, v.trim().to_owned()));
                continue;
            }
        }
        if let Some((_, v)) = fields.last_mut() {
            v.push('\n');
            v.push_str(line);
        }
    }
    let mut m = Map::new();
    for (k, v) in fields {
        let v = v.trim().trim_matches('`').trim().to_owned();
        let value = if k == "modified_args" { json_object(&v).map(Value::Object).unwrap_or(Value::String(v)) } else { Value::String(v) };
        m.entry(k).or_insert(value);
    }
    from_map(&m)
}

/// Reads a reply. The action is the first word of its field, lowercased,
/// with spaces and dashes as underscores.
pub fn parse(text: &str) -> Result<Reply, ParseError> {
    let mut reply = match json_object(text) {
        Some(m) if m.keys().any(|k| norm_key(k) == "action") => from_map(&m),
        _ => from_lines(text),
    };
    let first = reply.action.split_whitespace().next().unwrap_or("").trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let word: String = first.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    reply.action = word.to_ascii_lowercase().replace('-', "_");
    if reply.action.is_empty() {
        return Err(ParseError::NoAction);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_in_a_code_fence_with_prose_around_it() {
        let r = parse("Sure! Here is my diagnosis:\n```json\n{\"Action\": \"RETRY_MODIFIED\", \"root_cause\": \"wrong path\", \"modified_args\": {\"path\": \"/a/b\"}}\n```\nHope it helps.").unwrap();
        assert_eq!(r.action, "retry_modified");
        assert_eq!(r.root_cause, "wrong path");
        assert_eq!(r.modified_args, Some(json!({"path": "/a/b"})));
    }

    #[test]
    fn the_seed_articles_text_format() {
        let text = "ACTION: modify_args\nROOT_CAUSE: the file is named report.csv\nMODIFIED_ARGS: {\n  \"path\": \"data/report.csv\"\n}\nALTERNATIVE_TOOL: none\nUSER_MESSAGE: The path had a typo.";
        let r = parse(text).unwrap();
        assert_eq!(r.action, "modify_args");
        assert_eq!(r.modified_args, Some(json!({"path": "data/report.csv"})));
        assert_eq!(r.alternative, None);
        assert_eq!(r.user_message.as_deref(), Some("The path had a typo."));
        let r = parse("**action**: Use-Alternative (the mirror)\nalternative_tool: http").unwrap();
        assert_eq!((r.action.as_str(), r.alternative.as_deref()), ("use_alternative", Some("http")));
    }

    #[test]
    fn broken_replies_are_errors_not_panics() {
        for t in ["", "I don't know.", "{", "{\"action\": }", "ACTION:", "```", "\u{0}\u{ffff}{{{{\"", "{\"root_cause\": \"x\"}"] {
            assert!(parse(t).is_err(), "{t:?}");
        }
    }
}
