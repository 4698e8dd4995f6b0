//! Edits by splicing: one lesson or section changes, every other byte of the
//! file stays as it was (line endings, spacing, comments, tables, code).

use crate::{Memory, NewLesson, Problem, parse};

/// Why an edit cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No lesson has this id.
    #[error("no lesson `{0}` in the memory file")]
    NoLesson(String),
    /// No section has this title.
    #[error("no section `{0}` in the memory file")]
    NoSection(String),
    /// The id is taken.
    #[error("a lesson `{0}` already exists")]
    Exists(String),
    /// The text is empty.
    #[error("a lesson or section needs text")]
    Empty,
    /// A section with this title exists.
    #[error("a section `{0}` already exists")]
    SectionExists(String),
}

/// One change to the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Append a lesson to a section (created at the end if missing).
    Add {
        /// The section's title.
        section: String,
        /// The lesson.
        lesson: NewLesson,
    },
    /// Replace a lesson, in place.
    Replace {
        /// Its id.
        id: String,
        /// The new lesson.
        lesson: NewLesson,
    },
    /// Delete a lesson.
    Delete {
        /// Its id.
        id: String,
    },
    /// Delete a section and its lessons.
    DeleteSection {
        /// Its title.
        title: String,
    },
    /// Add an empty `##` section at the end of the file.
    AddSection {
        /// Its title.
        title: String,
    },
}

impl Edit {
    /// The lesson the edit is about, if one.
    pub fn lesson_id(&self) -> Option<&str> {
        match self {
            Edit::Replace { id, .. } | Edit::Delete { id } => Some(id),
            Edit::Add { lesson, .. } => lesson.id.as_deref(),
            Edit::DeleteSection { .. } | Edit::AddSection { .. } => None,
        }
    }
}

/// The file's line ending: CRLF if its first line ends so.
fn eol(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// A lesson in the file's convention, without a trailing line ending.
pub fn render(lesson: &NewLesson, eol: &str) -> String {
    let mut out = String::from("- ");
    let text = lesson.text.trim();
    out.push_str(&text.lines().map(str::trim_end).collect::<Vec<_>>().join(&format!("{eol}  ")));
    for (key, value) in field_values(lesson) {
        if let Some(v) = value {
            out.push_str(&format!("{eol}  - {key}: {v}"));
        }
    }
    out
}

/// Each field's value as the convention writes it, in the convention's
/// order; `None` when the lesson has no such field.
fn field_values(lesson: &NewLesson) -> [(&'static str, Option<String>); 4] {
    let w = &lesson.when;
    let when = (!w.is_empty()).then(|| {
        let mut parts = Vec::new();
        if let Some(t) = &w.tool {
            parts.push(format!("`{t}`"));
        }
        if let Some(c) = &w.code {
            parts.push(format!("`{c}`"));
        }
        parts.extend(w.matches.iter().map(|m| format!("\"{}\"", m.replace('"', "'"))));
        parts.join(" ")
    });
    let fix = lesson.fix.as_ref().map(|f| match &f.args {
        Some(a) => format!("{} `{a}`", f.action),
        None => f.action.clone(),
    });
    let p = &lesson.provenance;
    let seen = (p.seen > 0 || p.last.is_some() || p.outcome.is_some() || p.failures > 0).then(|| {
        let mut parts = vec![p.seen.to_string()];
        if let Some(l) = &p.last {
            parts.push(format!("last: {l}"));
        }
        if let Some(o) = &p.outcome {
            parts.push(format!("outcome: {o}"));
        }
        if p.failures > 0 {
            parts.push(format!("failures: {}", p.failures));
        }
        parts.join(" · ")
    });
    [("when", when), ("fix", fix), ("seen", seen), ("id", lesson.id.clone())]
}

/// A lesson's bytes with only what changed from `old` to `new` touched
/// (issue 13): a changed field's value replaced on its own line, a new
/// field inserted as one line with the lesson's own marker and indent, a
/// dropped field's line removed, a one-line text replaced after the item's
/// marker. List markers, indentation, blank lines, comments, other lines
/// and line endings stay. `None` when the change cannot be made that way
/// (a text over several lines): the caller writes the lesson afresh.
fn patch_lesson(src: &str, old: &crate::Lesson, new: &NewLesson, nl: &str) -> Option<String> {
    let mut lines: Vec<String> = src.split_inclusive('\n').map(str::to_owned).collect();
    let content = |l: &str| l.trim_end_matches('\n').trim_end_matches('\r').to_owned();
    let eol_of = |l: &str| {
        if l.ends_with("\r\n") {
            "\r\n"
        } else if l.ends_with('\n') {
            "\n"
        } else {
            ""
        }
        .to_owned()
    };
    // The text: a change of its first line, on the item's own line (the
    // rest of it — a second paragraph, a comment — the same).
    if old.text.trim() != new.text.trim() {
        let first = content(lines.first()?);
        let body = crate::parse::strip_marker(&first)?;
        let (old_first, old_rest) = old.text.trim().split_once('\n').unwrap_or((old.text.trim(), ""));
        let (new_first, new_rest) = new.text.trim().split_once('\n').unwrap_or((new.text.trim(), ""));
        if old_rest.trim() != new_rest.trim() || body.trim() != old_first.trim() || new_first.trim().is_empty() {
            return None;
        }
        let start = first.len() - body.len();
        let eol = eol_of(&lines[0]);
        lines[0] = format!("{}{}{eol}", &first[..start], new_first.trim());
    }
    let old_values = field_values(&NewLesson::from(old));
    let new_values = field_values(new);
    for ((key, was), (_, now)) in old_values.iter().zip(new_values.iter()) {
        let at = lines
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, l)| crate::parse::field(&content(l)).is_some_and(|(k, _)| k == *key))
            .map(|(i, _)| i);
        let unchanged = match *key {
            "when" => old.when == new.when,
            "fix" => old.fix == new.fix,
            "seen" => old.provenance == new.provenance,
            _ => at.is_some() && was == now,
        };
        if unchanged {
            continue;
        }
        match (at, now) {
            (Some(i), Some(v)) => {
                let line = content(&lines[i]);
                let colon = line.find(':')?;
                let after = &line[colon + 1..];
                let spaces = after.len() - after.trim_start().len();
                let sep = if spaces == 0 { " " } else { &after[..spaces] };
                let eol = eol_of(&lines[i]);
                lines[i] = format!("{}{sep}{v}{eol}", &line[..=colon]);
            }
            (Some(i), None) => {
                // The lesson's last line carries no line ending (the item's
                // range stops before it): the line before gives its up.
                let last = !lines[i].ends_with('\n');
                lines.remove(i);
                if last && let Some(prev) = lines.get_mut(i - 1) {
                    let trimmed = prev.trim_end_matches('\n').trim_end_matches('\r').len();
                    prev.truncate(trimmed);
                }
            }
            (None, Some(v)) => {
                // Shaped like the lesson's other fields, else nested under its marker.
                let like = lines.iter().skip(1).map(|l| content(l)).find(|l| crate::parse::field(l).is_some());
                let prefix = match &like {
                    Some(l) => {
                        let rest = crate::parse::strip_marker(l)?;
                        l[..l.len() - rest.len()].to_owned()
                    }
                    None => {
                        let first = content(lines.first()?);
                        let body = crate::parse::strip_marker(&first)?;
                        let indent: String = first.chars().take_while(|c| c.is_whitespace()).collect();
                        format!("{indent}{}- ", " ".repeat(first.len() - body.len() - indent.len()))
                    }
                };
                // In the convention's order: before the first field that comes after it.
                let order = |k: &str| ["when", "fix", "seen", "id"].iter().position(|x| *x == k).unwrap_or(4);
                let before = lines
                    .iter()
                    .enumerate()
                    .skip(1)
                    .find(|(_, l)| crate::parse::field(&content(l)).is_some_and(|(k, _)| order(k) > order(key)))
                    .map(|(i, _)| i);
                if let Some(i) = before {
                    let eol = eol_of(&lines[i]);
                    let eol = if eol.is_empty() { nl.to_owned() } else { eol };
                    lines.insert(i, format!("{prefix}{key}: {v}{eol}"));
                    continue;
                }
                let last_field = lines
                    .iter()
                    .enumerate()
                    .skip(1)
                    .filter(|(_, l)| crate::parse::field(&content(l)).is_some())
                    .map(|(i, _)| i)
                    .next_back();
                let after = last_field.unwrap_or(lines.len() - 1);
                // The line before ends with its own line ending; a last line without one gets ours.
                if !lines[after].ends_with('\n') {
                    lines[after].push_str(nl);
                    lines.insert(after + 1, format!("{prefix}{key}: {v}"));
                } else {
                    let eol = eol_of(&lines[after]);
                    lines.insert(after + 1, format!("{prefix}{key}: {v}{eol}"));
                }
            }
            (None, None) => {}
        }
    }
    Some(lines.concat())
}

/// Applies an edit to the text; returns the new text.
pub fn apply(text: &str, edit: &Edit) -> Result<String, EditError> {
    apply_on(text, &parse(text), edit)
}

/// The result of [`apply_parsed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The new text.
    pub text: String,
    /// The new text, parsed.
    pub memory: Memory,
    /// Ids of the lessons that may have changed (the edited section's,
    /// before and after), or `None` when the whole file was parsed again.
    pub touched: Option<Vec<String>>,
}

/// Applies an edit to `text`, already parsed as `memory`, and parses only
/// the section it changed: the rest of the parse is shifted, not redone
/// (the edit path of a large file). Falls back to parsing everything when
/// the edit adds a section, removes one, or makes an id collide.
pub fn apply_parsed(text: &str, memory: &Memory, edit: &Edit) -> Result<Patched, EditError> {
    let new = apply_on(text, memory, edit)?;
    let full = |new: String| Patched { memory: parse(&new), text: new, touched: None };
    let si = match edit {
        Edit::Replace { id, .. } | Edit::Delete { id } => memory.sections.iter().position(|s| s.lessons.iter().any(|l| &l.id == id)),
        Edit::Add { section, .. } => {
            memory.sections.iter().position(|s| s.title.eq_ignore_ascii_case(section.trim()) && !s.title.is_empty())
        }
        Edit::DeleteSection { .. } | Edit::AddSection { .. } => None,
    };
    // A repeated id is renamed after its line, which an edit above moves.
    let renamed = memory.problems.iter().any(|p| p.message.contains("is used twice"));
    let Some(si) = si.filter(|_| !renamed) else { return Ok(full(new)) };
    let old = &memory.sections[si];
    let delta = new.len() as isize - text.len() as isize;
    let end = (old.range.end as isize + delta) as usize;
    if end > new.len() || end < old.range.start || !new.is_char_boundary(end) {
        return Ok(full(new));
    }
    // Parse the section and the one after it: the edit must not have moved
    // the boundary between them (an open construct swallowing a heading).
    let next = memory.sections.get(si + 1);
    let window_end = next.map_or(end, |n| (n.range.end as isize + delta) as usize);
    if window_end > new.len() || !new.is_char_boundary(window_end) {
        return Ok(full(new));
    }
    let window = parse(&new[old.range.start..window_end]);
    let same_next = match (next, window.sections.get(1)) {
        (None, None) => true,
        (Some(n), Some(w)) => {
            n.title == w.title && n.lessons.len() == w.lessons.len() && w.range.start + old.range.start == end && window.sections.len() == 2
        }
        _ => false,
    };
    if !same_next {
        return Ok(full(new));
    }
    let sub = parse(&new[old.range.start..end]);
    let Some(fresh) = sub.sections.iter().find(|s| !s.range.is_empty()).filter(|_| sub.sections.len() == 1) else {
        return Ok(full(new));
    };
    // The edit stayed inside the section and changed its lessons by what it says.
    let expected = old.lessons.len() as isize
        + match edit {
            Edit::Add { .. } => 1,
            Edit::Delete { .. } => -1,
            _ => 0,
        };
    let inside = text.as_bytes()[..old.range.start] == new.as_bytes()[..old.range.start]
        && text.as_bytes()[old.range.end..] == new.as_bytes()[end..];
    if fresh.title != old.title
        || fresh.lessons.len() as isize != expected
        || !inside
        || sub.problems.iter().any(|p| p.message.contains("is used twice"))
    {
        return Ok(full(new));
    }
    let newlines = |s: &str| s.bytes().filter(|&b| b == b'\n').count();
    // The line the section starts on.
    let base = match old.lessons.first() {
        Some(l) => l.line - newlines(&text[old.range.start..l.range.start]),
        None => newlines(&text[..old.range.start]) + 1,
    };
    let old_lines = newlines(&text[old.range.clone()]);
    let new_lines = newlines(&new[old.range.start..end]);
    let line_delta = new_lines as isize - old_lines as isize;
    let shift = |r: &std::ops::Range<usize>| ((r.start as isize + delta) as usize)..((r.end as isize + delta) as usize);
    let mut out = Memory { sections: Vec::with_capacity(memory.sections.len()), problems: Vec::new() };
    let mut others = std::collections::HashSet::new();
    for (i, s) in memory.sections.iter().enumerate() {
        if i == si {
            let mut s = fresh.clone();
            s.range = (s.range.start + old.range.start)..(s.range.end + old.range.start);
            s.heading = if s.heading.is_empty() {
                s.heading.clone()
            } else {
                (s.heading.start + old.range.start)..(s.heading.end + old.range.start)
            };
            for l in &mut s.lessons {
                l.range = (l.range.start + old.range.start)..(l.range.end + old.range.start);
                l.line += base - 1;
            }
            out.sections.push(s);
        } else if i < si {
            others.extend(s.lessons.iter().map(|l| l.id.as_str()));
            out.sections.push(s.clone());
        } else {
            others.extend(s.lessons.iter().map(|l| l.id.as_str()));
            let mut s = s.clone();
            s.range = shift(&s.range);
            s.heading = shift(&s.heading);
            for l in &mut s.lessons {
                l.range = shift(&l.range);
                l.line = (l.line as isize + line_delta) as usize;
            }
            out.sections.push(s);
        }
    }
    if out.sections[si].lessons.iter().any(|l| others.contains(l.id.as_str())) {
        return Ok(full(new));
    }
    let span = base..=base + old_lines;
    for p in &memory.problems {
        if span.contains(&p.line) {
            continue;
        }
        let line = if p.line > base + old_lines { (p.line as isize + line_delta) as usize } else { p.line };
        out.problems.push(Problem { line, message: p.message.clone() });
    }
    out.problems.extend(sub.problems.iter().map(|p| Problem { line: p.line + base - 1, message: p.message.clone() }));
    out.problems.sort_by_key(|p| p.line);
    let mut touched: Vec<String> = old.lessons.iter().map(|l| l.id.clone()).collect();
    touched.extend(out.sections[si].lessons.iter().map(|l| l.id.clone()));
    touched.sort();
    touched.dedup();
    Ok(Patched { text: new, memory: out, touched: Some(touched) })
}

fn apply_on(text: &str, memory: &Memory, edit: &Edit) -> Result<String, EditError> {
    let nl = eol(text);
    match edit {
        Edit::Add { section, lesson } => {
            if lesson.text.trim().is_empty() {
                return Err(EditError::Empty);
            }
            if let Some(id) = &lesson.id
                && memory.lesson(id).is_some()
            {
                return Err(EditError::Exists(id.clone()));
            }
            Ok(add(text, memory, section, &render(lesson, nl), nl))
        }
        Edit::Replace { id, lesson } => {
            if lesson.text.trim().is_empty() {
                return Err(EditError::Empty);
            }
            let old = memory.lesson(id).ok_or_else(|| EditError::NoLesson(id.clone()))?;
            let mut lesson = lesson.clone();
            // A lesson that had no id keeps being found by the one it was given.
            lesson.id.get_or_insert_with(|| id.clone());
            // Only what changed, in the lesson's own shape (issue 13).
            if let Some(body) = patch_lesson(&text[old.range.clone()], old, &lesson, nl) {
                return Ok(splice(text, old.range.clone(), &body));
            }
            let indent = line_indent(text, old.range.start);
            let body = render(&lesson, nl).replace(nl, &format!("{nl}{indent}"));
            Ok(splice(text, old.range.clone(), &body))
        }
        Edit::Delete { id } => {
            let old = memory.lesson(id).ok_or_else(|| EditError::NoLesson(id.clone()))?;
            Ok(splice(text, whole_lines(text, old.range.clone()), ""))
        }
        Edit::DeleteSection { title } => {
            let s = memory.sections.iter().find(|s| !s.title.is_empty() && s.title.eq_ignore_ascii_case(title.trim()));
            let s = s.ok_or_else(|| EditError::NoSection(title.clone()))?;
            Ok(splice(text, s.range.clone(), ""))
        }
        Edit::AddSection { title } => {
            let title = title.trim();
            if title.is_empty() || title.contains(['\n', '\r']) {
                return Err(EditError::Empty);
            }
            if memory.section(title).is_some_and(|s| !s.title.is_empty()) {
                return Err(EditError::SectionExists(title.to_owned()));
            }
            let mut insert = String::new();
            if !text.is_empty() && !text.ends_with('\n') {
                insert.push_str(nl);
            }
            if !text.is_empty() && !text.ends_with("\n\n") {
                insert.push_str(nl);
            }
            insert.push_str(&format!("## {title}{nl}"));
            Ok(splice(text, text.len()..text.len(), &insert))
        }
    }
}

/// A line that starts a list item.
fn is_item(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ") || t == "-" || {
        let d = t.bytes().take_while(u8::is_ascii_digit).count();
        d > 0 && (t[d..].starts_with(". ") || t[d..].starts_with(") "))
    }
}

fn splice(text: &str, range: std::ops::Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

/// The indentation before `at` on its line (a lesson inside an indented list).
fn line_indent(text: &str, at: usize) -> &str {
    let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    &text[start..at]
}

/// A lesson's range widened to whole lines (its indentation and line ending).
fn whole_lines(text: &str, range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let start = text[..range.start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[range.end..].find('\n').map(|i| range.end + i + 1).unwrap_or(text.len());
    start..end
}

fn add(text: &str, memory: &Memory, section: &str, item: &str, nl: &str) -> String {
    match memory.sections.iter().find(|s| s.title.eq_ignore_ascii_case(section.trim())) {
        Some(s) => {
            // After the section's last lesson, or after its heading.
            let at = match s.lessons.last() {
                Some(l) => whole_lines(text, l.range.clone()).end,
                None => text[s.heading.end..].find('\n').map(|i| s.heading.end + i + 1).unwrap_or(text.len()),
            };
            let mut insert = String::new();
            if at > 0 && !text[..at].ends_with('\n') {
                insert.push_str(nl);
            }
            if s.lessons.is_empty() {
                insert.push_str(nl);
            }
            insert.push_str(item);
            insert.push_str(nl);
            // Text right after that is not a blank line, a list item or a
            // heading would be read as part of the new lesson (a lazy
            // continuation line): keep it apart with a blank line.
            let next = text[at..].lines().next().unwrap_or("");
            let apart = next.trim().is_empty() || next.trim_start().starts_with('#') || is_item(next);
            if at < text.len() && (s.lessons.is_empty() || !apart) && !text[at..].starts_with(['\n', '\r']) {
                insert.push_str(nl);
            }
            splice(text, at..at, &insert)
        }
        None => {
            let mut insert = String::new();
            if !text.is_empty() && !text.ends_with('\n') {
                insert.push_str(nl);
            }
            if !text.is_empty() && !text.ends_with(&format!("{nl}{nl}")) && !text.ends_with("\n\n") {
                insert.push_str(nl);
            }
            insert.push_str(&format!("## {}{nl}{nl}{item}{nl}", section.trim()));
            splice(text, text.len()..text.len(), &insert)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fix, Provenance, When};

    /// A file with odd formatting: CRLF, nested lists, code blocks, a
    /// table, HTML comments, non-ASCII, a lesson list inside a section with
    /// other prose, trailing spaces.
    const ODD: &str = "# Mémoire\r\n\r\n<!-- keep this comment -->\r\nIntro with *emphasis*  \r\n\r\n## http\r\n\r\n| code | meaning |\r\n|---|---|\r\n| 429 | slow down |\r\n\r\n- Café API: wait for Retry-After — then retry.\r\n  - when: `http` `RATE_LIMITED` \"café.example\"\r\n  - fix: retry_same\r\n  - seen: 3 · last: 2026-11-01 · outcome: healed\r\n  - id: cafe\r\n- Nested notes stay:\r\n  - a sub point\r\n    - deeper ✓\r\n\r\n```sh\r\n- not a lesson\r\n```\r\n\r\n## exec 🛠\r\n\r\n1. `make` needs gcc\r\n2. Flaky disk:\r\n   retry later\r\n\r\n<!-- trailing comment -->\r\n";

    #[test]
    fn the_odd_file_parses_as_written() {
        let m = parse(ODD);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        let titles: Vec<&str> = m.sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["http", "exec 🛠"]);
        let texts: Vec<&str> = m.lessons().map(|l| l.text.as_str()).collect();
        assert_eq!(texts.len(), 4, "{texts:?}");
        assert_eq!(texts[0], "Café API: wait for Retry-After — then retry.");
        assert!(texts[1].starts_with("Nested notes stay:") && texts[1].contains("deeper ✓"));
        assert_eq!(m.lesson("cafe").unwrap().when.matches, ["café.example"]);
    }

    /// Everything outside `range` of `before` is byte-identical in `after`.
    fn only_changed(before: &str, after: &str, range: std::ops::Range<usize>) {
        assert_eq!(&after.as_bytes()[..range.start], &before.as_bytes()[..range.start], "bytes before the edit changed");
        let tail = before.len() - range.end;
        assert_eq!(&after.as_bytes()[after.len() - tail..], &before.as_bytes()[range.end..], "bytes after the edit changed");
    }

    #[test]
    fn replacing_a_lesson_changes_its_bytes_only() {
        let m = parse(ODD);
        let old = m.lesson("cafe").unwrap();
        let mut new = NewLesson::from(old);
        new.provenance.seen = 4;
        new.provenance.last = Some("2026-11-22".into());
        let after = apply(ODD, &Edit::Replace { id: "cafe".into(), lesson: new }).unwrap();
        only_changed(ODD, &after, old.range.clone());
        assert!(after.contains("  - seen: 4 · last: 2026-11-22 · outcome: healed\r\n"), "CRLF kept inside the lesson");
        let again = parse(&after);
        assert_eq!(again.lesson("cafe").unwrap().provenance.seen, 4);
        assert_eq!(again.lessons().count(), 4);
    }

    #[test]
    fn deleting_a_lesson_removes_its_lines_only() {
        let m = parse(ODD);
        let l = m.lessons().find(|l| l.text.starts_with("`make`")).unwrap();
        let after = apply(ODD, &Edit::Delete { id: l.id.clone() }).unwrap();
        let lines = whole_lines(ODD, l.range.clone());
        assert_eq!(after, format!("{}{}", &ODD[..lines.start], &ODD[lines.end..]));
        assert_eq!(parse(&after).lessons().count(), 3);
    }

    #[test]
    fn adding_a_lesson_inserts_only_its_bytes() {
        let lesson = NewLesson {
            id: Some("gcc".into()),
            text: "Install build-essential when `cc` is missing".into(),
            when: When { tool: Some("exec".into()), code: Some("COMMAND_NOT_FOUND".into()), matches: vec![] },
            fix: Some(Fix { action: "ask_user".into(), args: None }),
            provenance: Provenance { seen: 1, ..Default::default() },
        };
        let after = apply(ODD, &Edit::Add { section: "exec 🛠".into(), lesson: lesson.clone() }).unwrap();
        let m = parse(&after);
        assert_eq!(m.lesson("gcc").unwrap().section, "exec 🛠");
        assert_eq!(m.lesson("gcc").unwrap().fix.as_ref().unwrap().action, "ask_user");
        // Removing what was added gives the original back, byte for byte.
        assert_eq!(apply(&after, &Edit::Delete { id: "gcc".into() }).unwrap(), ODD);
        // A new section goes at the end.
        let after = apply(ODD, &Edit::Add { section: "fs".into(), lesson }).unwrap();
        assert!(after.starts_with(ODD));
        assert!(after.ends_with("\r\n## fs\r\n\r\n- Install build-essential when `cc` is missing\r\n  - when: `exec` `COMMAND_NOT_FOUND`\r\n  - fix: ask_user\r\n  - seen: 1\r\n  - id: gcc\r\n"));
        assert_eq!(parse(&after).section("fs").unwrap().lessons.len(), 1);
        assert_eq!(apply(ODD, &Edit::Add { section: "x".into(), lesson: NewLesson::default() }), Err(EditError::Empty));
    }

    #[test]
    fn deleting_a_section_removes_its_bytes_only() {
        let m = parse(ODD);
        let s = m.section("exec 🛠").unwrap();
        let after = apply(ODD, &Edit::DeleteSection { title: "EXEC 🛠".into() }).unwrap();
        assert_eq!(after, format!("{}{}", &ODD[..s.range.start], &ODD[s.range.end..]));
        assert!(matches!(apply(ODD, &Edit::DeleteSection { title: "nope".into() }), Err(EditError::NoSection(_))));
    }

    #[test]
    fn a_lesson_without_an_id_keeps_its_derived_one_when_edited() {
        let text = "## exec\n\n- hand written\n- another\n";
        let id = parse(text).lessons().next().unwrap().id.clone();
        let after =
            apply(text, &Edit::Replace { id: id.clone(), lesson: NewLesson { text: "hand written, edited".into(), ..Default::default() } })
                .unwrap();
        assert_eq!(after, format!("## exec\n\n- hand written, edited\n  - id: {id}\n- another\n"));
        assert_eq!(parse(&after).lesson(&id).unwrap().text, "hand written, edited");
    }
}

/// Issue 13: a one-field edit changes that field's line only, whatever
/// the lesson's shape (list marker, indent, blank lines, comments, CRLF,
/// a byte-order mark); edit then revert gives the original bytes.
#[cfg(test)]
mod byte_exact {
    use super::*;
    use crate::{Fix, NewLesson, parse};

    /// Lesson shapes: (marker, field indent, field marker, eol, extra line inside the item).
    fn corpus() -> Vec<String> {
        let mut out = Vec::new();
        for marker in ["- ", "* ", "+ ", "1. ", "3) "] {
            for indent in ["  ", "   ", "    ", "\t"] {
                for field_marker in ["- ", "* "] {
                    for eol in ["\n", "\r\n"] {
                        for extra in ["", "<!-- a note -->", "A second paragraph."] {
                            for bom in ["", "\u{FEFF}"] {
                                // A field indent must reach past the item's marker to nest.
                                if indent.len() < marker.len() && indent != "\t" {
                                    continue;
                                }
                                let mut s = format!("{bom}## shop API{eol}{eol}{marker}502 during deploys{eol}");
                                if !extra.is_empty() {
                                    s.push_str(&format!("{eol}{indent}{extra}{eol}{eol}"));
                                }
                                s.push_str(&format!("{indent}{field_marker}when: `http` `SERVER_ERROR`{eol}"));
                                s.push_str(&format!("{indent}{field_marker}fix: retry_same{eol}"));
                                s.push_str(&format!("{indent}{field_marker}id: shop-502{eol}"));
                                s.push_str(&format!("{eol}- another lesson{eol}{indent}{field_marker}id: other{eol}"));
                                out.push(s);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The lines of `a` and `b` that differ, as (removed, added) counts.
    fn diff(a: &str, b: &str) -> (usize, usize) {
        let (la, lb): (Vec<&str>, Vec<&str>) = (a.split_inclusive('\n').collect(), b.split_inclusive('\n').collect());
        let common_head = la.iter().zip(&lb).take_while(|(x, y)| x == y).count();
        let common_tail =
            la.iter().rev().zip(lb.iter().rev()).take_while(|(x, y)| x == y).count().min(la.len().min(lb.len()) - common_head);
        (la.len() - common_head - common_tail, lb.len() - common_head - common_tail)
    }

    #[test]
    fn a_one_field_edit_changes_one_line_in_every_shape() {
        for text in corpus() {
            let m = parse(&text);
            let old = m.lesson("shop-502").unwrap_or_else(|| panic!("no lesson in {text:?}: {:?}", m.problems));
            assert!(old.fix.is_some(), "{text:?}");
            let base = NewLesson::from(old);
            let edits: Vec<(&str, NewLesson, (usize, usize))> = vec![
                ("fix", NewLesson { fix: Some(Fix { action: "use_alternative".into(), args: None }), ..base.clone() }, (1, 1)),
                ("when", NewLesson { when: crate::When { code: Some("TIMEOUT".into()), ..old.when.clone() }, ..base.clone() }, (1, 1)),
                ("seen (added)", NewLesson { provenance: crate::Provenance { seen: 2, ..Default::default() }, ..base.clone() }, (0, 1)),
                ("fix (dropped)", NewLesson { fix: None, ..base.clone() }, (1, 0)),
                ("text", NewLesson { text: old.text.replacen("502 during deploys", "502 while they deploy", 1), ..base.clone() }, (1, 1)),
            ];
            for (what, new, expect) in edits {
                let after = apply(&text, &Edit::Replace { id: "shop-502".into(), lesson: new }).unwrap();
                assert_eq!(diff(&text, &after), expect, "{what} in {text:?} gave {after:?}");
                assert_eq!(after.starts_with('\u{FEFF}'), text.starts_with('\u{FEFF}'));
                let crlf = text.contains("\r\n");
                assert!(!crlf || after.matches('\n').count() == after.matches("\r\n").count(), "{what}: line endings kept: {after:?}");
                let back = parse(&after).lesson("shop-502").map(NewLesson::from).unwrap();
                let reverted = apply(&after, &Edit::Replace { id: "shop-502".into(), lesson: NewLesson { ..base.clone() } }).unwrap();
                assert_eq!(reverted, text, "{what}: edit then revert gives the original bytes (edited: {back:?})");
            }
        }
    }
}
