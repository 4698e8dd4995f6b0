//! Reading MEMORY.md: sections and lessons with their byte ranges, and the
//! fields of each lesson (`when:`, `fix:`, `seen:`, `id:`).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::{Fix, Lesson, Memory, Problem, Provenance, Section, When};

/// Parses the file. Never fails: what cannot be understood is a [`Problem`].
pub fn parse(text: &str) -> Memory {
    // A byte-order mark (a file saved by a Windows editor) is read as one
    // (issue 13): parsed as three spaces, which keep every byte offset and
    // leave a heading right after it a heading. The file keeps its mark:
    // edits splice the original text.
    let unmarked;
    let text = match text.strip_prefix('\u{FEFF}') {
        Some(rest) => {
            unmarked = format!("   {rest}");
            unmarked.as_str()
        }
        None => text,
    };
    let mut problems = Vec::new();
    // Headings (`#` and `##`) cut the file into sections.
    let mut cuts: Vec<(usize, std::ops::Range<usize>, String, bool)> = Vec::new();
    let mut items: Vec<std::ops::Range<usize>> = Vec::new();
    let mut list_depth = 0usize;
    let mut quote_depth = 0usize;
    let mut heading: Option<(usize, std::ops::Range<usize>, bool, String)> = None;
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS);
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) if level <= HeadingLevel::H2 && list_depth == 0 && quote_depth == 0 => {
                heading = Some((range.start, range.clone(), level == HeadingLevel::H2, String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((start, r, h2, title)) = heading.take() {
                    cuts.push((start, r, title.trim().to_owned(), h2));
                }
            }
            Event::Text(t) | Event::Code(t) if heading.is_some() => {
                if let Some(h) = heading.as_mut() {
                    h.3.push_str(&t);
                }
            }
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) if list_depth == 1 && quote_depth == 0 => {
                // The last item's range can run into trailing blank lines.
                let end = range.start + text[range.clone()].trim_end().len();
                items.push(range.start..end);
            }
            _ => {}
        }
    }

    let mut sections: Vec<Section> = Vec::new();
    let first_cut = cuts.first().map(|c| c.0).unwrap_or(text.len());
    sections.push(Section { title: String::new(), range: 0..first_cut, heading: 0..0, lessons: Vec::new() });
    for (i, (start, heading, title, h2)) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map(|c| c.0).unwrap_or(text.len());
        // A `#` title belongs to the untitled part: lessons under it have no topic.
        let title = if *h2 { title.clone() } else { String::new() };
        sections.push(Section { title, range: *start..end, heading: heading.clone(), lessons: Vec::new() });
    }
    // Items come in file order: count lines as we go (not from the start each time).
    let (mut at, mut line) = (0usize, 1usize);
    for range in items {
        let Some(section) = sections.iter_mut().rev().find(|s| s.range.start <= range.start) else { continue };
        line += text.as_bytes()[at..range.start].iter().filter(|&&b| b == b'\n').count();
        at = range.start;
        let lesson = lesson(&text[range.clone()], &section.title, range, line, &mut problems);
        section.lessons.push(lesson);
    }
    // Ids must be unique: a repeated one is reported and made unique.
    let mut seen = std::collections::HashSet::new();
    for s in &mut sections {
        for l in &mut s.lessons {
            if !seen.insert(l.id.clone()) {
                problems.push(Problem {
                    line: l.line,
                    message: format!("lesson id `{}` is used twice; this one is read as `{}-{}`", l.id, l.id, l.line),
                });
                l.id = format!("{}-{}", l.id, l.line);
                seen.insert(l.id.clone());
            }
        }
    }
    // Untitled parts (before any heading, under a `#` title) only count if
    // they hold lessons.
    sections.retain(|s| !s.title.is_empty() || !s.lessons.is_empty());
    problems.sort_by_key(|p| p.line);
    Memory { sections, problems }
}

/// Strips a list marker (`- `, `* `, `+ `, `1. `, `1) `) from a line.
pub(crate) fn strip_marker(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")).or_else(|| t.strip_prefix("+ ")) {
        return Some(rest);
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && digits < 10 {
        let rest = &t[digits..];
        return rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") "));
    }
    None
}

const FIELDS: &[&str] = &["id", "when", "fix", "seen"];

/// A nested `- key: value` line naming one of the lesson fields.
pub(crate) fn field(line: &str) -> Option<(&'static str, &str)> {
    if !line.starts_with([' ', '\t']) {
        return None;
    }
    let rest = strip_marker(line)?;
    let (key, value) = rest.split_once(':')?;
    let key = key.trim().to_ascii_lowercase();
    FIELDS.iter().find(|f| **f == key).map(|f| (*f, value.trim()))
}

fn lesson(src: &str, section: &str, range: std::ops::Range<usize>, line: usize, problems: &mut Vec<Problem>) -> Lesson {
    let mut text_lines = Vec::new();
    let mut id = None;
    let mut when = When::default();
    let mut fix = None;
    let mut provenance = Provenance::default();
    let mut in_fence = false;
    let first = src.lines().next().unwrap_or("");
    let width = first.len() - strip_marker(first).map(str::len).unwrap_or(first.len());
    for (i, raw) in src.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let at = line + i;
        let fence = raw.trim_start().starts_with("```") || raw.trim_start().starts_with("~~~");
        if !in_fence
            && i > 0
            && let Some((key, value)) = field(raw)
        {
            match key {
                "id" => id = Some(value.trim_matches('`').to_owned()),
                "when" => when = parse_when(value),
                "fix" => fix = parse_fix(value, at, problems),
                "seen" => provenance = parse_seen(value, at, problems),
                _ => {}
            }
            continue;
        }
        if fence {
            in_fence = !in_fence;
        }
        let shown = if i == 0 {
            strip_marker(raw).unwrap_or(raw)
        } else {
            // Continuation lines lose the item's indentation, nothing more.
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            &raw[indent.min(width)..]
        };
        text_lines.push(shown);
    }
    let text = text_lines.iter().map(|l| l.trim_end()).collect::<Vec<_>>().join("\n").trim().to_owned();
    let id = id.filter(|i| !i.is_empty()).unwrap_or_else(|| derived_id(&text));
    Lesson { id, section: section.to_owned(), text, when, fix, provenance, range, line }
}

/// A short id from the text (FNV-1a), for lessons written without one.
fn derived_id(text: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in text.split_whitespace().flat_map(|w| w.bytes().chain([b' '])) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("m{h:08x}")
}

/// `when: http RATE_LIMITED "api.shop.example"` — a tool (lowercase word),
/// a code (UPPER_CASE), quoted text to match; backticks are optional.
fn parse_when(value: &str) -> When {
    let mut when = When::default();
    let mut rest = value.trim();
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let (inner, after) = q.split_once('"').unwrap_or((q, ""));
            if !inner.is_empty() {
                when.matches.push(inner.to_owned());
            }
            rest = after.trim_start();
            continue;
        }
        let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        rest = after.trim_start();
        let word = word.trim_matches(|c| c == '`' || c == ',');
        let word = word.strip_prefix("tool=").or_else(|| word.strip_prefix("code=")).unwrap_or(word);
        if word.is_empty() || matches!(word, "on" | "in" | "matching" | "with" | "and") {
            continue;
        }
        if word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') && word.chars().any(|c| c.is_ascii_uppercase()) {
            when.code = Some(word.to_owned());
        } else if when.tool.is_none() {
            when.tool = Some(word.to_owned());
        } else {
            when.matches.push(word.to_owned());
        }
    }
    when
}

/// `fix: retry_modified {"timeout_ms": 10000}`.
fn parse_fix(value: &str, line: usize, problems: &mut Vec<Problem>) -> Option<Fix> {
    let value = value.trim();
    let (action, args) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let action = action.trim_matches('`');
    if let Err(e) = Fix::check_action(action) {
        problems.push(Problem { line, message: format!("fix: {e}") });
        return None;
    }
    let args = args.trim().trim_matches('`').trim();
    let args = if args.is_empty() {
        None
    } else {
        match serde_json::from_str::<serde_json::Value>(args) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(Problem { line, message: format!("fix: the arguments are not JSON ({e}): {args}") });
                return None;
            }
        }
    };
    Some(Fix { action: action.to_owned(), args })
}

/// `seen: 4 · last: 2026-11-20 · outcome: healed · failures: 1`.
fn parse_seen(value: &str, line: usize, problems: &mut Vec<Problem>) -> Provenance {
    let mut p = Provenance::default();
    for part in value.split(['·', ',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        let (key, val) = match part.split_once(':') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => match part.split_once(char::is_whitespace) {
                Some((k, v)) if k.parse::<u32>().is_err() => (k.trim().to_ascii_lowercase(), v.trim()),
                _ => ("seen".to_owned(), part.trim_end_matches(['×', 'x']).trim().trim_end_matches("times").trim()),
            },
        };
        let number = |v: &str, what: &str, problems: &mut Vec<Problem>| match v.trim_end_matches(['×', 'x']).trim().parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                problems.push(Problem { line, message: format!("seen: `{v}` is not a number of {what}") });
                0
            }
        };
        match key.as_str() {
            "seen" => p.seen = number(val, "times", problems),
            "last" => {
                let ok =
                    val.len() == 10 && val.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
                if ok {
                    p.last = Some(val.to_owned());
                } else {
                    problems.push(Problem { line, message: format!("seen: last `{val}` is not a date (YYYY-MM-DD)") });
                }
            }
            "outcome" => p.outcome = Some(val.to_owned()),
            "failures" | "failed" => p.failures = number(val, "failures", problems),
            other => problems.push(Problem { line, message: format!("seen: unknown part `{other}` (seen, last, outcome, failures)") }),
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: a file saved with a byte-order mark keeps its first
    /// heading a heading; adding to that section adds there, and the mark
    /// stays on the file.
    #[test]
    fn a_byte_order_mark_is_read_as_one() {
        let text = "\u{FEFF}## shop API\n\n- 502 during deploys\n  - id: shop-502\n";
        let m = parse(text);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.sections.iter().map(|s| s.title.as_str()).collect::<Vec<_>>(), ["shop API"]);
        let l = m.lesson("shop-502").unwrap();
        assert_eq!(l.section, "shop API");
        assert_eq!(l.line, 3);
        assert!(text[l.range.clone()].starts_with("- 502"));
        let edit = crate::edit::Edit::Add {
            section: "shop API".into(),
            lesson: crate::NewLesson { id: Some("two".into()), text: "another".into(), ..Default::default() },
        };
        let out = crate::edit::apply(text, &edit).unwrap();
        assert!(out.starts_with('\u{FEFF}'), "the mark stays");
        assert_eq!(out.matches("## shop API").count(), 1, "{out}");
        assert_eq!(parse(&out).lesson("two").unwrap().section, "shop API");
    }

    #[test]
    fn a_lesson_with_every_field() {
        let text = "# Memory\n\n## http\n\n- Shop API limits clear after Retry-After.\n  - when: `http` `RATE_LIMITED` \"api.shop.example\"\n  - fix: retry_same\n  - seen: 4 · last: 2026-11-20 · outcome: healed · failures: 1\n  - id: shop-429\n";
        let m = parse(text);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        let l = m.lesson("shop-429").unwrap();
        assert_eq!(l.section, "http");
        assert_eq!(l.text, "Shop API limits clear after Retry-After.");
        assert_eq!(l.when, When { tool: Some("http".into()), code: Some("RATE_LIMITED".into()), matches: vec!["api.shop.example".into()] });
        assert_eq!(l.fix, Some(Fix { action: "retry_same".into(), args: None }));
        assert_eq!(l.provenance, Provenance { seen: 4, last: Some("2026-11-20".into()), outcome: Some("healed".into()), failures: 1 });
        assert_eq!(l.line, 5);
        assert!(text[l.range.clone()].starts_with("- Shop") && text[l.range.clone()].ends_with("id: shop-429"));
    }

    #[test]
    fn hand_written_lessons_without_fields_are_lessons_too() {
        let m = parse("## exec\n\n* `make` fails without `gcc`: install build-essential\n* Flaky NFS: wait a minute\n  and try again.\n");
        let ls: Vec<_> = m.lessons().collect();
        assert_eq!(ls.len(), 2);
        assert_eq!(ls[0].text, "`make` fails without `gcc`: install build-essential");
        assert_eq!(ls[1].text, "Flaky NFS: wait a minute\nand try again.");
        assert!(ls[0].id.starts_with('m') && ls[0].id != ls[1].id);
        assert!(ls.iter().all(|l| l.fix.is_none() && l.when.is_empty()));
    }

    #[test]
    fn broken_fields_are_problems_with_lines_and_the_rest_is_used() {
        let text = "## http\n\n- a\n  - fix: retrry_same\n- b\n  - fix: retry_modified {timeout: 3}\n- c\n  - seen: many · last: yesterday\n- d\n  - id: same\n- e\n  - id: same\n";
        let m = parse(text);
        let lines: Vec<usize> = m.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![4, 6, 8, 8, 11], "{:#?}", m.problems);
        assert!(m.problems[0].message.contains("unknown action `retrry_same`"));
        assert!(m.problems[1].message.contains("not JSON"));
        assert_eq!(m.lessons().count(), 5, "every lesson is still there");
        assert!(m.lesson("same").is_some() && m.lesson("same-11").is_some());
    }
}
