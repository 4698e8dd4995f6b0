//! A shell script read into the simple commands it would run, with
//! brush-parser (a maintained POSIX/bash parser): through `&&`, `||`, `;`,
//! `|`, newlines, subshells, groups, loops, functions, here-documents, and
//! the command substitutions inside words. No hand-written tokenizer.
//!
//! Each word keeps its raw text and, where it can be known before the
//! script runs, its value after quote removal (`'rm'`, `"rm"`, `\rm`,
//! `$'\x72m'` are all `rm`), brace expansion and the expansion of
//! environment variables the script never assigns. A word whose value
//! depends on run time (`$(…)`, a variable the script sets, a glob in a
//! program name) has no value: the rules treat it as unknown.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use brush_parser::ast;
use brush_parser::word::{self, BraceExpressionMember, BraceExpressionOrText, ParameterExpr, WordPiece, WordPieceWithSource};

/// Deepest nesting of scripts inside scripts (`sh -c "sh -c '…'"`) the
/// reader follows; deeper than this is "cannot tell".
pub(crate) const MAX_DEPTH: u32 = 12;

/// Most words one brace expansion may produce before the word counts as
/// unknown.
const MAX_BRACE_WORDS: usize = 256;

/// Deepest nesting of shell syntax the reader parses (`$(`, `(`, `{`,
/// `if` …); deeper asks. The parser and the reader recurse once per level.
pub(crate) const MAX_NESTING: usize = 1500;

/// Up to this nesting a script is read on the caller's stack (a 2 MB
/// thread stack holds it even in a debug build); deeper, on a thread of
/// its own with [`BIG_STACK`].
const INLINE_NESTING: usize = 64;

/// Stack of the reading thread for deeply nested scripts: room for
/// [`MAX_NESTING`] levels at well over the ~8 KB per level an unoptimised
/// build takes. Reserved, not committed: untouched pages cost nothing.
const BIG_STACK: usize = 256 << 20;

thread_local! {
    /// This thread is a reading thread with [`BIG_STACK`].
    static ON_BIG_STACK: Cell<bool> = const { Cell::new(false) };
}

/// An upper bound of how deeply `text` nests: each level needs a bracket,
/// a backquote or a compound keyword (`if`, `while`, `until`, `for`,
/// `case`, `select`), whatever the quoting.
fn nesting_bound(text: &str) -> usize {
    let brackets = text.bytes().filter(|b| matches!(b, b'(' | b'{' | b'[' | b'`')).count();
    let keywords = text
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| matches!(*w, "if" | "while" | "until" | "for" | "case" | "select"))
        .count();
    brackets + keywords
}

/// Whether a here-document operator's tag holds an expansion (`<<E$(`,
/// `<<"x${"`). brush-parser 0.4 spins forever, allocating, on such a tag
/// when the expansion is left open at the end of the input (reubeno/brush
/// #1270); no real delimiter looks like this, so the gate does not parse
/// it and asks.
fn heredoc_tag_expands(text: &str) -> bool {
    let b = text.as_bytes();
    let mut run_start = 0;
    for end in 0..b.len() {
        // Runs of `<` split greedily into `<<<` here-strings: a `<<` here-document
        // operator ends a run whose length leaves 2 over.
        if b[end] != b'<' {
            run_start = end + 1;
            continue;
        }
        if b.get(end + 1) == Some(&b'<') || (end + 1 - run_start) % 3 != 2 {
            continue;
        }
        let mut i = end + 1;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let mut quote: Option<u8> = None;
        while let Some(&c) = b.get(i) {
            match (quote, c) {
                (Some(b'\''), b'\'') => quote = None,
                (Some(b'\''), _) => {}
                (_, b'\\') => i += 1,
                (Some(b'"'), b'"') => quote = None,
                (None, b'\'' | b'"') => quote = Some(c),
                (_, b'`') => return true,
                (_, b'$') if matches!(b.get(i + 1), Some(b'(' | b'{' | b'[')) => return true,
                (None, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')') => break,
                _ => {}
            }
            i += 1;
        }
        // A quote left open to the end: the tag's extent is unknown.
        if quote.is_some() {
            return true;
        }
    }
    false
}

/// Whether the text has a here-document operator (`<<`, not the `<<<` of a
/// here-string; runs of `<` split greedily into `<<<`).
fn has_heredoc_operator(text: &str) -> bool {
    let b = text.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'<' {
            run += 1;
            if b.get(i + 1) != Some(&b'<') && run % 3 == 2 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Whether an expansion (`$(`, `${`, `$[`, a backquote) or a quote could
/// still be open at the end of the text. Leans to "yes": where a `)` might
/// be a `case` pattern's rather than the closer of `$(`, it is not taken as
/// the closer. Used with [`has_heredoc_operator`] to keep brush-parser 0.4
/// from the input that makes it spin (reubeno/brush #1270); such input is
/// a syntax error anyway.
fn expansion_may_be_open(text: &str) -> bool {
    #[derive(PartialEq)]
    enum Ctx {
        /// `$(`; the flag: a `case` was seen in it and no `esac` yet.
        Subst(bool),
        /// A plain `(` inside a substitution.
        Paren,
        Brace,
        Bracket,
        Backquote,
        Double,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut stack: Vec<Ctx> = Vec::new();
    let mut i = 0;
    let mut word_start = true;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let in_double = stack.last() == Some(&Ctx::Double);
        let starts_word = word_start;
        word_start = c.is_whitespace() || ";&|()<>".contains(c);
        match c {
            '\\' => i += 1,
            '\'' if !in_double => match chars[i + 1..].iter().position(|&q| q == '\'') {
                Some(p) => i += p + 1,
                None => return true,
            },
            '"' if in_double => {
                stack.pop();
            }
            '"' => stack.push(Ctx::Double),
            '#' if starts_word && !in_double => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' if next == Some('(') => {
                stack.push(Ctx::Subst(false));
                word_start = true;
                i += 1;
            }
            '$' if next == Some('{') => {
                stack.push(Ctx::Brace);
                i += 1;
            }
            '$' if next == Some('[') => {
                stack.push(Ctx::Bracket);
                i += 1;
            }
            '`' if stack.last() == Some(&Ctx::Backquote) => {
                stack.pop();
            }
            '`' => {
                stack.push(Ctx::Backquote);
                word_start = true;
            }
            '(' if !in_double && matches!(stack.last(), Some(Ctx::Subst(_) | Ctx::Paren)) => stack.push(Ctx::Paren),
            ')' if !in_double => match stack.last() {
                Some(Ctx::Paren) | Some(Ctx::Subst(false)) => {
                    stack.pop();
                }
                _ => {}
            },
            '}' if stack.last() == Some(&Ctx::Brace) => {
                stack.pop();
            }
            ']' if stack.last() == Some(&Ctx::Bracket) => {
                stack.pop();
            }
            _ if starts_word && !in_double && c.is_ascii_alphabetic() => {
                let word: String = chars[i..].iter().take_while(|ch| ch.is_ascii_alphanumeric() || **ch == '_').collect();
                if let Some(Ctx::Subst(in_case)) = stack.last_mut() {
                    match word.as_str() {
                        "case" => *in_case = true,
                        "esac" => *in_case = false,
                        _ => {}
                    }
                }
                i += word.len().saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    !stack.is_empty()
}

/// The names of the variables a text may expand (`$NAME`, `${NAME…}`,
/// `${#NAME}`, `${!NAME}`).
fn variable_names(text: &str) -> HashSet<&str> {
    let mut names = HashSet::new();
    for (i, _) in text.match_indices('$') {
        let rest = text[i + 1..].trim_start_matches(['{', '#', '!']);
        let end = rest.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(rest.len());
        if end > 0 && !rest.starts_with(|c: char| c.is_ascii_digit()) {
            names.insert(&rest[..end]);
        }
    }
    names
}

/// One word of a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    /// The text as written (quotes included).
    pub raw: String,
    /// The value the command sees, when it can be known before the run.
    pub lit: Option<String>,
    /// An unquoted glob character (`*`, `?`, `[`) is in the value.
    pub glob: bool,
}

impl Word {
    /// A word given as a value (a program's argv entry): no quoting.
    pub fn literal(s: &str) -> Word {
        Word { raw: quote(s), lit: Some(s.to_owned()), glob: false }
    }

    /// The value, if known.
    pub fn val(&self) -> Option<&str> {
        self.lit.as_deref()
    }
}

/// How a redirection opens its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirKind {
    /// `>`, `>|`, `&>`: truncates.
    Write,
    /// `>>`, `&>>`.
    Append,
    /// `<`, `<>`, fd duplications.
    Other,
}

/// A redirection of a command.
#[derive(Debug, Clone)]
pub(crate) struct Redir {
    pub kind: RedirKind,
    pub target: Word,
}

/// What a command reads on standard input, as far as the script says.
#[derive(Debug, Clone, Default)]
pub(crate) enum Stdin {
    /// Inherited (nothing in the script feeds it).
    #[default]
    Inherited,
    /// Text known before the run: a here-document, a here-string, or the
    /// output of `echo`/`printf`/`cat <<EOF` piped in.
    Text(String),
    /// The output of another command, not known before the run.
    Unknown(String),
}

/// One simple command the script would run.
#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    /// argv, program first; assignments before it are left out.
    pub words: Vec<Word>,
    /// Assignments before the program (`X=1 cmd`), or a command that is
    /// only assignments (`X=1`): some variables name a command to run
    /// (`GIT_SSH_COMMAND`, `PAGER`).
    pub assigns: Vec<(String, Word)>,
    pub redirs: Vec<Redir>,
    pub stdin: Stdin,
    /// Byte range in the checked text to show a person (the outermost
    /// simple command this one came from).
    pub span: Range<usize>,
    /// Inside a `for`/`while`/`until` loop: a word built from a variable may
    /// name a different file on each pass (a set known only at run time).
    pub in_loop: bool,
    /// Runs for sure, in the script's own shell: not in a branch, a
    /// function, a subshell, a pipeline, after `&&`/`||` or in the
    /// background (a `cd` there may not move the script).
    pub top: bool,
}

/// A part of the script that cannot be read before it runs.
#[derive(Debug, Clone)]
pub(crate) struct Opaque {
    pub why: String,
    pub text: String,
    pub span: Range<usize>,
}

/// A script read into commands.
#[derive(Debug, Default)]
pub(crate) struct Script {
    pub cmds: Vec<Cmd>,
    pub opaque: Vec<Opaque>,
    /// Variable names the script assigns somewhere (their values are not
    /// known before the run); kept so nested scripts inherit them.
    pub assigned: HashSet<String>,
}

/// Looks up an environment variable's value as the command would see it.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Quotes a value the way a person would type it (`'a b'`), for showing a
/// normalised command; a plain word stays as it is.
pub(crate) fn quote(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^~".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// Reads `text` as a script. `outer` is the span to report for every
/// command when the script is nested in another command (`sh -c`), `None`
/// at the top, where each command reports its own place.
pub(crate) fn read(text: &str, env: Env<'_>, inherited: &HashSet<String>, outer: Option<Range<usize>>, depth: u32) -> Script {
    let whole = outer.clone().unwrap_or(0..text.len());
    let script = Script { assigned: inherited.clone(), ..Script::default() };
    let refuse = |mut script: Script, why: &str| {
        script.opaque.push(Opaque { why: why.to_owned(), text: text.to_owned(), span: whole.clone() });
        script
    };
    if depth > MAX_DEPTH {
        return refuse(script, "scripts nested too deeply to follow");
    }
    let nesting = nesting_bound(text);
    if nesting > MAX_NESTING {
        return refuse(script, "nested too deeply to read");
    }
    if heredoc_tag_expands(text) || (has_heredoc_operator(text) && expansion_may_be_open(text)) {
        return refuse(script, "a here-document with an expansion the parser cannot read safely");
    }
    if nesting <= INLINE_NESTING || ON_BIG_STACK.get() {
        return read_here(text, env, inherited, outer, depth);
    }
    // Deep nesting: read on a thread with a stack that holds it. The
    // environment is looked up here (the lookup need not be `Send`).
    let values: HashMap<&str, Option<String>> = variable_names(text).into_iter().map(|n| (n, env(n))).collect();
    let read = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("mend-safety-read".into())
            .stack_size(BIG_STACK)
            .spawn_scoped(scope, || {
                ON_BIG_STACK.set(true);
                let env = |n: &str| values.get(n).cloned().flatten();
                read_here(text, &env, inherited, outer.clone(), depth)
            })
            .ok()
            .and_then(|t| t.join().ok())
    });
    read.unwrap_or_else(|| refuse(script, "the shell reader failed on it"))
}

/// [`read`] on this thread's stack.
fn read_here(text: &str, env: Env<'_>, inherited: &HashSet<String>, outer: Option<Range<usize>>, depth: u32) -> Script {
    let whole = outer.clone().unwrap_or(0..text.len());
    let mut script = Script { assigned: inherited.clone(), ..Script::default() };
    // The parser is a dependency: a panic in it must not take Mend down.
    let parsed = std::panic::catch_unwind(|| {
        let options = brush_parser::ParserOptions::default();
        let mut parser = brush_parser::Parser::new(std::io::Cursor::new(text.as_bytes()), &options);
        parser.parse_program()
    });
    let program = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            script.opaque.push(Opaque { why: format!("the shell cannot parse it ({e})"), text: text.to_owned(), span: whole });
            return script;
        }
        Err(_) => {
            script.opaque.push(Opaque { why: "the shell parser failed on it".into(), text: text.to_owned(), span: whole });
            return script;
        }
    };
    // Two passes: the first learns which variables the script sets
    // anywhere (a loop may set one after its first use), the second reads
    // with those unknown.
    let mut known = script.assigned.clone();
    let mut known_values: HashMap<String, String> = HashMap::new();
    loop {
        let mut r = Reader {
            text,
            env,
            script: Script { assigned: known.clone(), ..Script::default() },
            sets: known.clone(),
            outer: outer.clone(),
            offsets: CharOffsets::new(text),
            depth,
            program_word: false,
            loops: 0,
            values: HashMap::new(),
            known_values: known_values.clone(),
            nested: 0,
            no_values: false,
        };
        for cc in &program.complete_commands {
            r.compound_list(cc);
        }
        let values: HashMap<String, String> =
            if r.no_values { HashMap::new() } else { r.values.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect() };
        if r.sets.len() == known.len() && values == known_values {
            r.script.assigned = r.sets;
            return r.script;
        }
        known = r.sets;
        known_values = values;
    }
}

/// Builtins whose operands name variables they set.
const SETTERS: &[&str] = &["read", "mapfile", "readarray", "getopts", "declare", "typeset", "local", "export", "let", "printf", "unset"];

/// Character index → byte offset (brush-parser counts characters).
struct CharOffsets {
    /// `None` when the text is ASCII (the two are equal).
    table: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let table = (!text.is_ascii()).then(|| text.char_indices().map(|(b, _)| b).collect());
        CharOffsets { table, len: text.len() }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(t) => t.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

struct Reader<'a> {
    text: &'a str,
    env: Env<'a>,
    script: Script,
    /// Every variable name the script sets, found while reading.
    sets: HashSet<String>,
    outer: Option<Range<usize>>,
    offsets: CharOffsets,
    depth: u32,
    /// The word being read names the program: there a variable the
    /// environment does not set is unknown, not empty (the shell sets some
    /// of its own, and an empty program word would make the next word the
    /// program).
    program_word: bool,
    /// How many loops the command being read is inside.
    loops: u32,
    /// What each variable is set to, found while reading: `Some` only for
    /// a name set once, by a plain `NAME=value` outside any loop, to a
    /// value with no space, pattern or expansion in it; `None` otherwise.
    values: HashMap<String, Option<String>>,
    /// Those values from the pass before: what `$NAME` is in this one
    /// (`d=/dev/sda; cat > $d` writes /dev/sda), once its assignment has
    /// been read (before it, the variable is the environment's).
    known_values: HashMap<String, String>,
    /// How deep in a part that may not run, or runs in a subshell, the
    /// command being read is: a compound command, a function, a pipeline,
    /// the commands after `&&` / `||`. An assignment there sets no value
    /// the gate can count on.
    nested: u32,
    /// The script sets `IFS` or a `trap`: no variable's value is read.
    no_values: bool,
}

impl Reader<'_> {
    /// A variable set in a way whose value is not read (a loop variable,
    /// `read`, `${X:=…}`).
    fn set_unknown(&mut self, n: &str) {
        self.sets.insert(n.to_owned());
        self.values.insert(n.to_owned(), None);
    }

    fn compound_list(&mut self, list: &ast::CompoundList) {
        for item in &list.0 {
            // `X=ls &` runs in the background, in a subshell.
            let background = matches!(item.1, ast::SeparatorOperator::Async);
            self.nested += u32::from(background);
            self.and_or(&item.0);
            self.nested -= u32::from(background);
        }
    }

    fn and_or(&mut self, list: &ast::AndOrList) {
        self.pipeline(&list.first);
        self.nested += 1;
        for next in &list.additional {
            match next {
                ast::AndOr::And(p) | ast::AndOr::Or(p) => self.pipeline(p),
            }
        }
        self.nested -= 1;
    }

    fn pipeline(&mut self, p: &ast::Pipeline) {
        let mut piped: Option<Stdin> = None;
        // Each command of a pipeline runs in a subshell.
        let piped_up = u32::from(p.seq.len() > 1);
        self.nested += piped_up;
        for cmd in &p.seq {
            let before = self.script.cmds.len();
            self.command(cmd, piped.take());
            // What the next command reads: known text only from a lone echo/printf/cat.
            let made = &self.script.cmds[before..];
            let out = match made {
                [one] => output_of(one),
                _ => None,
            };
            let shown = self.slice_of_command(cmd);
            piped = Some(match out {
                Some(t) => Stdin::Text(t),
                None => Stdin::Unknown(shown),
            });
        }
        self.nested -= piped_up;
    }

    fn slice_of_command(&self, cmd: &ast::Command) -> String {
        match cmd {
            ast::Command::Simple(s) => {
                let span = self.span_of_simple(s);
                self.text.get(span).unwrap_or("").to_owned()
            }
            _ => "a compound command".to_owned(),
        }
    }

    fn command(&mut self, cmd: &ast::Command, stdin: Option<Stdin>) {
        match cmd {
            ast::Command::Simple(s) => self.simple(s, stdin.unwrap_or_default()),
            ast::Command::Compound(c, redirs) => {
                let before = self.script.cmds.len();
                self.nested += 1;
                self.compound(c);
                self.nested -= 1;
                if let Some(rl) = redirs {
                    let span = self.outer.clone().unwrap_or(0..self.text.len());
                    let mut extra = Vec::new();
                    let mut heredoc = None;
                    for r in &rl.0 {
                        self.redirect(r, &span, &mut extra, &mut heredoc);
                    }
                    // A compound's redirections apply to every command in it.
                    for c in &mut self.script.cmds[before..] {
                        c.redirs.extend(extra.iter().cloned());
                        if let Some(h) = &heredoc
                            && matches!(c.stdin, Stdin::Inherited)
                        {
                            c.stdin = h.clone();
                        }
                    }
                }
                if let Some(s) = stdin {
                    for c in &mut self.script.cmds[before..] {
                        if matches!(c.stdin, Stdin::Inherited) {
                            c.stdin = s.clone();
                        }
                    }
                }
            }
            ast::Command::Function(f) => {
                // A function's body runs when it is called: read it as if it does.
                self.nested += 1;
                self.compound(&f.body.0);
                self.nested -= 1;
            }
            ast::Command::ExtendedTest(t, _) => {
                let s = format!("{t:?}");
                if s.contains("$(") || s.contains('`') || s.contains("<(") {
                    let span = self.outer.clone().unwrap_or(0..self.text.len());
                    self.opaque("a command substitution inside `[[ … ]]`", "[[ … ]]", span);
                }
            }
        }
    }

    fn compound(&mut self, c: &ast::CompoundCommand) {
        match c {
            ast::CompoundCommand::BraceGroup(g) => self.compound_list(&g.list),
            ast::CompoundCommand::Subshell(s) => self.compound_list(&s.list),
            ast::CompoundCommand::ForClause(f) => {
                self.set_unknown(&f.variable_name);
                if let Some(values) = &f.values {
                    let span = self.outer.clone().unwrap_or(0..self.text.len());
                    for w in values {
                        self.word(&w.value, &span);
                    }
                }
                self.loops += 1;
                self.compound_list(&f.body.list);
                self.loops -= 1;
            }
            ast::CompoundCommand::ArithmeticForClause(f) => {
                self.loops += 1;
                self.compound_list(&f.body.list);
                self.loops -= 1;
            }
            ast::CompoundCommand::CaseClause(cc) => {
                let span = self.outer.clone().unwrap_or(0..self.text.len());
                self.word(&cc.value.value, &span);
                for item in &cc.cases {
                    // A pattern's substitutions run when the case is tried.
                    for p in &item.patterns {
                        self.word(&p.value, &span);
                    }
                    if let Some(list) = &item.cmd {
                        self.compound_list(list);
                    }
                }
            }
            ast::CompoundCommand::IfClause(i) => {
                self.compound_list(&i.condition);
                self.compound_list(&i.then);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.compound_list(c);
                    }
                    self.compound_list(&e.body);
                }
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                self.loops += 1;
                self.compound_list(&w.0);
                self.compound_list(&w.1.list);
                self.loops -= 1;
            }
            ast::CompoundCommand::Arithmetic(a) => {
                if a.expr.value.contains("$(") || a.expr.value.contains('`') {
                    let span = self.outer.clone().unwrap_or(0..self.text.len());
                    self.opaque("a command substitution inside `(( … ))`", &a.expr.value.clone(), span);
                }
            }
            ast::CompoundCommand::Coprocess(c) => self.command(&c.body, None),
        }
    }

    fn span_of_simple(&self, s: &ast::SimpleCommand) -> Range<usize> {
        let mut locs: Vec<(usize, usize)> = Vec::new();
        fn see(locs: &mut Vec<(usize, usize)>, loc: &Option<brush_parser::SourceSpan>) {
            if let Some(l) = loc {
                locs.push((l.start.index, l.end.index));
            }
        }
        let items = s.prefix.iter().flat_map(|p| p.0.iter()).chain(s.suffix.iter().flat_map(|p| p.0.iter()));
        for item in items {
            match item {
                ast::CommandPrefixOrSuffixItem::Word(w) | ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) => see(&mut locs, &w.loc),
                ast::CommandPrefixOrSuffixItem::IoRedirect(r) => match r {
                    ast::IoRedirect::File(_, _, ast::IoFileRedirectTarget::Filename(w))
                    | ast::IoRedirect::HereString(_, w)
                    | ast::IoRedirect::OutputAndError(w, _) => see(&mut locs, &w.loc),
                    ast::IoRedirect::HereDocument(_, h) => see(&mut locs, &h.here_end.loc),
                    _ => {}
                },
                ast::CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => locs.push((sub.loc.start.index, sub.loc.end.index)),
            }
        }
        if let Some(w) = &s.word_or_name {
            see(&mut locs, &w.loc);
        }
        let (Some(lo), Some(hi)) = (locs.iter().map(|l| l.0).min(), locs.iter().map(|l| l.1).max()) else {
            return 0..self.text.len();
        };
        self.offsets.byte(lo)..self.offsets.byte(hi)
    }

    fn simple(&mut self, s: &ast::SimpleCommand, stdin: Stdin) {
        let span = match &self.outer {
            Some(o) => o.clone(),
            None => self.span_of_simple(s),
        };
        let mut words = Vec::new();
        let mut assigns = Vec::new();
        let mut redirs = Vec::new();
        let mut heredoc: Option<Stdin> = None;
        let mut items: Vec<&ast::CommandPrefixOrSuffixItem> = Vec::new();
        items.extend(s.prefix.iter().flat_map(|p| p.0.iter()));
        let name_at = items.len();
        items.extend(s.suffix.iter().flat_map(|p| p.0.iter()));
        let mut all = Vec::with_capacity(items.len() + 1);
        for (i, item) in items.iter().enumerate() {
            if i == name_at
                && let Some(w) = &s.word_or_name
            {
                all.push(Some(w));
            }
            all.push(None);
            let _ = item;
        }
        if name_at == items.len()
            && let Some(w) = &s.word_or_name
        {
            all.push(Some(w));
        }
        let mut it = items.iter();
        for slot in all {
            if let Some(w) = slot {
                self.program_word = true;
                let read = self.word(&w.value, &span);
                self.program_word = false;
                words.extend(read);
                continue;
            }
            let Some(item) = it.next() else { break };
            match item {
                ast::CommandPrefixOrSuffixItem::Word(w) => words.extend(self.word(&w.value, &span)),
                ast::CommandPrefixOrSuffixItem::AssignmentWord(a, w) => {
                    let (ast::AssignmentName::VariableName(n) | ast::AssignmentName::ArrayElementName(n, _)) = &a.name;
                    // `a[$(…)]=1`: the index is expanded, its substitutions run.
                    if let ast::AssignmentName::ArrayElementName(_, index) = &a.name {
                        self.word(index, &span);
                    }
                    // `X=$(…) cmd`: the substitution runs. After the program
                    // (`env X=1 cmd`, `declare X=…`) it is an argument, which
                    // sets a shell variable only for the declaration builtins
                    // (read below, with `SETTERS`).
                    if words.is_empty() {
                        self.sets.insert(n.clone());
                    } else {
                        self.values.insert(n.clone(), None);
                    }
                    if !words.is_empty() {
                        let value = self.word(&w.value, &span);
                        words.extend(value);
                    } else {
                        match &a.value {
                            ast::AssignmentValue::Scalar(v) => {
                                let value = self.word(&v.value, &span).into_iter().next();
                                let value = value.unwrap_or(Word { raw: v.value.clone(), lit: Some(String::new()), glob: false });
                                let plain = value.lit.clone().filter(|l| {
                                    !value.glob && !l.is_empty() && !l.contains(char::is_whitespace) && !l.starts_with('\u{0}')
                                });
                                let once = self.loops == 0 && self.nested == 0 && !self.values.contains_key(n);
                                self.values.insert(n.clone(), plain.filter(|_| once));
                                assigns.push((n.clone(), value));
                            }
                            ast::AssignmentValue::Array(items) => {
                                self.values.insert(n.clone(), None);
                                for (k, v) in items {
                                    if let Some(k) = k {
                                        self.word(&k.value, &span);
                                    }
                                    self.word(&v.value, &span);
                                }
                            }
                        }
                    }
                }
                ast::CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r, &span, &mut redirs, &mut heredoc),
                ast::CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                    let saved = self.outer.replace(span.clone());
                    self.compound_list(&sub.list);
                    self.outer = saved;
                    words.push(Word { raw: "<(…)".into(), lit: None, glob: false });
                }
            }
        }
        let stdin = heredoc.unwrap_or(stdin);
        // `builtin read X`, `command printf -v X …`: the builtin after the wrapper.
        let setter_at = match words.first().and_then(Word::val) {
            Some("builtin" | "command") => 1,
            _ => 0,
        };
        if let Some(prog) = words.get(setter_at).and_then(Word::val)
            && SETTERS.contains(&prog)
        {
            for w in &words[setter_at + 1..] {
                if let Some(v) = w.val() {
                    let name = v.split(['=', '[']).next().unwrap_or(v);
                    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        self.set_unknown(name);
                    }
                }
            }
        }
        if !words.is_empty() {
            // `X=1 cmd`: the value is for `cmd` only, not the shell's `$X` after it.
            for (n, _) in &assigns {
                self.values.insert(n.clone(), None);
            }
        }
        if words.is_empty() && redirs.is_empty() && assigns.is_empty() {
            return;
        }
        let in_loop = self.loops > 0;
        let top = self.loops == 0 && self.nested == 0;
        // `trap 'X=rm' DEBUG` and `IFS=…` change what a later `$X` is: no value is read then.
        if words.first().and_then(Word::val).is_some_and(|p| p == "trap") || assigns.iter().any(|(n, _)| n == "IFS") {
            self.no_values = true;
        }
        self.script.cmds.push(Cmd { words, assigns, redirs, stdin, span, in_loop, top });
    }

    fn redirect(&mut self, r: &ast::IoRedirect, span: &Range<usize>, redirs: &mut Vec<Redir>, heredoc: &mut Option<Stdin>) {
        match r {
            ast::IoRedirect::File(fd, kind, target) => {
                // `bash < s`, `psql < f`: standard input read from a file
                // the script does not show, as `cat s | bash` (red team).
                if matches!(kind, ast::IoFileRedirectKind::Read)
                    && fd.is_none_or(|n| n == 0)
                    && let ast::IoFileRedirectTarget::Filename(w) = target
                {
                    *heredoc = Some(Stdin::Unknown(format!("the file {}", w.value)));
                }
                let k = match kind {
                    ast::IoFileRedirectKind::Write | ast::IoFileRedirectKind::Clobber | ast::IoFileRedirectKind::DuplicateOutput => {
                        RedirKind::Write
                    }
                    // `<>` writes in place, like an append that truncates nothing.
                    ast::IoFileRedirectKind::Append | ast::IoFileRedirectKind::ReadAndWrite => RedirKind::Append,
                    _ => RedirKind::Other,
                };
                match target {
                    ast::IoFileRedirectTarget::Filename(w) => {
                        if let Some(t) = self.word(&w.value, span).into_iter().next() {
                            redirs.push(Redir { kind: k, target: t });
                        }
                    }
                    ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        let saved = self.outer.replace(span.clone());
                        self.compound_list(&sub.list);
                        self.outer = saved;
                        // `sh < <(curl …)` reads another command's output, as a pipe would.
                        if matches!(kind, ast::IoFileRedirectKind::Read) {
                            let from = self.text.get(self.offsets.byte(sub.loc.start.index)..self.offsets.byte(sub.loc.end.index));
                            *heredoc = Some(Stdin::Unknown(from.unwrap_or("<(…)").to_owned()));
                        }
                    }
                    ast::IoFileRedirectTarget::Duplicate(w) => {
                        // `>&file` writes a file too.
                        let t = self.word(&w.value, span).into_iter().next();
                        if let Some(t) = t
                            && k == RedirKind::Write
                            && !t.val().is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '-'))
                        {
                            redirs.push(Redir { kind: k, target: t });
                        }
                    }
                    ast::IoFileRedirectTarget::Fd(_) => {}
                }
            }
            ast::IoRedirect::OutputAndError(w, append) => {
                if let Some(t) = self.word(&w.value, span).into_iter().next() {
                    redirs.push(Redir { kind: if *append { RedirKind::Append } else { RedirKind::Write }, target: t });
                }
            }
            ast::IoRedirect::HereString(_, w) => {
                let v = self.word(&w.value, span);
                *heredoc = Some(match v.first().and_then(|w| w.lit.clone()) {
                    Some(t) => Stdin::Text(t),
                    None => Stdin::Unknown(w.value.clone()),
                });
            }
            ast::IoRedirect::HereDocument(_, h) => {
                let body = h.doc.value.clone();
                if h.requires_expansion {
                    // Substitutions in an unquoted here-document run.
                    match word::parse_heredoc(&body, &brush_parser::ParserOptions::default()) {
                        Ok(pieces) => {
                            let _ = self.pieces(&pieces, &body, span, true);
                        }
                        Err(_) => {
                            if body.contains("$(") || body.contains('`') {
                                self.opaque("a here-document whose substitutions cannot be read", &body, span.clone());
                            }
                        }
                    }
                }
                *heredoc = Some(Stdin::Text(body));
            }
        }
    }

    fn opaque(&mut self, why: &str, text: &str, span: Range<usize>) {
        self.script.opaque.push(Opaque { why: why.to_owned(), text: text.to_owned(), span });
    }

    /// Reads one raw word into the words it becomes (brace expansion can
    /// make several; an unquoted empty expansion none), running into the
    /// command substitutions inside it.
    fn word(&mut self, raw: &str, span: &Range<usize>) -> Vec<Word> {
        let raws = match brace_expand(raw) {
            Some(v) => v,
            None => return vec![Word { raw: raw.to_owned(), lit: None, glob: false }],
        };
        let mut out = Vec::with_capacity(raws.len());
        for r in raws {
            match std::panic::catch_unwind(|| word::parse(&r, &brush_parser::ParserOptions::default())) {
                Ok(Ok(pieces)) => {
                    let (lit, glob, unquoted_empty) = self.pieces(&pieces, &r, span, false);
                    if unquoted_empty && lit.as_deref() == Some("") {
                        continue;
                    }
                    out.push(Word { raw: r, lit, glob });
                }
                _ => {
                    if r.contains("$(") || r.contains('`') {
                        self.opaque("a word whose substitutions cannot be read", &r, span.clone());
                    }
                    out.push(Word { raw: r, lit: None, glob: false });
                }
            }
        }
        out
    }

    /// The value of a parsed word, whether it has an unquoted glob, and
    /// whether it was only unquoted expansions (an empty one vanishes).
    fn pieces(&mut self, pieces: &[WordPieceWithSource], raw: &str, span: &Range<usize>, quoted: bool) -> (Option<String>, bool, bool) {
        let mut lit = Some(String::new());
        let mut glob = false;
        let mut only_unquoted_expansions = !pieces.is_empty();
        for p in pieces {
            let src = raw.get(p.start_index..p.end_index).unwrap_or("");
            let part: Option<String> = match &p.piece {
                WordPiece::Text(t) => {
                    only_unquoted_expansions = false;
                    if !quoted && is_glob(t) {
                        glob = true;
                    }
                    Some(t.clone())
                }
                WordPiece::SingleQuotedText(t) => {
                    only_unquoted_expansions = false;
                    Some(t.clone())
                }
                WordPiece::AnsiCQuotedText(t) => {
                    only_unquoted_expansions = false;
                    ansi_c(t)
                }
                WordPiece::EscapeSequence(e) => {
                    only_unquoted_expansions = false;
                    Some(e.strip_prefix('\\').unwrap_or(e).to_owned())
                }
                WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    only_unquoted_expansions = false;
                    let inner_raw = src;
                    // Offsets of inner pieces are relative to the whole word.
                    let (v, _, _) = self.pieces_in(inner, raw, inner_raw, span);
                    v
                }
                // `~` is `$HOME`: set by the script (`HOME=-rf; rm ~ x`), it is known only at run time.
                WordPiece::TildeExpansion(word::TildeExpr::Home) if self.script.assigned.contains("HOME") => {
                    only_unquoted_expansions = false;
                    None
                }
                WordPiece::TildeExpansion(t) => {
                    only_unquoted_expansions = false;
                    Some(match t {
                        word::TildeExpr::Home => "~".to_owned(),
                        word::TildeExpr::UserHome(u) => format!("~{u}"),
                        _ => "~+".to_owned(),
                    })
                }
                WordPiece::ParameterExpansion(pe) => {
                    let v = self.parameter(pe, src, span);
                    match v {
                        Some(v) if !quoted && v.chars().any(|c| c.is_whitespace() || "*?[".contains(c)) => None,
                        v => v,
                    }
                }
                WordPiece::CommandSubstitution(inner) | WordPiece::BackquotedCommandSubstitution(inner) => {
                    only_unquoted_expansions = false;
                    let nested = read(inner, self.env, &self.script.assigned, Some(span.clone()), self.depth + 1);
                    self.script.cmds.extend(nested.cmds);
                    self.script.opaque.extend(nested.opaque);
                    None
                }
                WordPiece::ArithmeticExpression(a) => {
                    only_unquoted_expansions = false;
                    if a.value.contains("$(") || a.value.contains('`') {
                        self.opaque("a command substitution inside `$(( … ))`", &a.value, span.clone());
                    }
                    None
                }
            };
            lit = match (lit, part) {
                (Some(mut l), Some(p)) => {
                    l.push_str(&p);
                    Some(l)
                }
                _ => None,
            };
        }
        (lit, glob, only_unquoted_expansions && !quoted)
    }

    fn pieces_in(
        &mut self,
        inner: &[WordPieceWithSource],
        raw: &str,
        _inner_raw: &str,
        span: &Range<usize>,
    ) -> (Option<String>, bool, bool) {
        self.pieces(inner, raw, span, true)
    }

    /// A parameter's value, when the script does not set it and it is a
    /// plain `$NAME` / `${NAME}`; anything fancier, or text that hides a
    /// substitution, is unknown.
    fn parameter(&mut self, pe: &ParameterExpr, src: &str, span: &Range<usize>) -> Option<String> {
        if src.contains("$(") || src.contains('`') || src.matches('$').count() > 1 {
            self.opaque("a command substitution inside a parameter expansion", src, span.clone());
            return None;
        }
        // `${X:=v}`, `${X=v}` assign X for the rest of the script.
        if let ParameterExpr::AssignDefaultValues { parameter: word::Parameter::Named(n), .. } = pe {
            self.set_unknown(n);
        }
        match pe {
            // `$_` is the last argument of the previous command: never the environment's.
            ParameterExpr::Parameter { parameter: word::Parameter::Named(n), indirect: false } if n == "_" => None,
            // Set once in this script to a plain value: that value.
            ParameterExpr::Parameter { parameter: word::Parameter::Named(n), indirect: false }
                if self.known_values.contains_key(n) && matches!(self.values.get(n), Some(Some(_))) =>
            {
                self.known_values.get(n).cloned()
            }
            ParameterExpr::Parameter { parameter: word::Parameter::Named(n), indirect: false } if !self.script.assigned.contains(n) => {
                match (self.env)(n) {
                    Some(v) => Some(v),
                    None if self.program_word => None,
                    None => Some(String::new()),
                }
            }
            _ => None,
        }
    }
}

/// Whether unquoted text is a pathname pattern: `*`, `?`, or a bracket
/// expression `[…]` (a lone `[`, the test command, is not).
fn is_glob(t: &str) -> bool {
    t.contains(['*', '?'])
        || t.find('[').is_some_and(|i| {
            // At least one character inside, then a `]` (by characters: the text may be any UTF-8).
            let mut inside = t[i + 1..].chars();
            inside.next().is_some() && inside.as_str().contains(']')
        })
}

/// What a lone command prints, when that is known before the run.
pub(crate) fn output_of(c: &Cmd) -> Option<String> {
    let prog = c.words.first()?.val()?;
    let name = prog.rsplit('/').next().unwrap_or(prog);
    match name {
        "echo" => {
            let args: Option<Vec<&str>> = c.words[1..].iter().map(Word::val).collect();
            let args: Vec<&str> = args?.into_iter().skip_while(|a| a.starts_with('-')).collect();
            Some(args.join(" ").replace("\\n", "\n"))
        }
        "printf" => {
            let args: Option<Vec<&str>> = c.words[1..].iter().map(Word::val).collect();
            printf(&args?)
        }
        "cat" | "tee" if c.words.len() == 1 || name == "tee" => match &c.stdin {
            Stdin::Text(t) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// What `printf FORMAT ARGS…` prints, for the directives that copy an
/// argument (`%s`, `%b`, `%d`, `%i`, `%c`) and the usual escapes; the
/// format is reused while arguments remain, as printf does. `None` for
/// anything fancier (widths, other conversions).
fn printf(args: &[&str]) -> Option<String> {
    let args = args.strip_prefix(&["--"]).unwrap_or(args);
    if args.first()?.starts_with('-') {
        // `printf -v VAR …` prints nothing.
        return Some(String::new());
    }
    let (format, mut rest) = args.split_first()?;
    let mut out = String::new();
    loop {
        let mut used = false;
        let mut chars = format.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '%' => match chars.next()? {
                    '%' => out.push('%'),
                    's' | 'b' | 'd' | 'i' | 'c' => {
                        used = true;
                        if let Some((a, more)) = rest.split_first() {
                            out.push_str(a);
                            rest = more;
                        }
                    }
                    _ => return None,
                },
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('\\') | None => out.push('\\'),
                    Some(other) => {
                        out.push('\\');
                        out.push(other);
                    }
                },
                ch => out.push(ch),
            }
        }
        if !used || rest.is_empty() || out.len() > 1 << 16 {
            return Some(out);
        }
    }
}

/// Brace expansion of an unquoted word (`{rm,-rf,x}`, `-{r,f}`, `a{1..3}`):
/// the raw words it becomes, or `None` when it would make too many.
fn brace_expand(raw: &str) -> Option<Vec<String>> {
    if !raw.contains('{') || !(raw.contains(',') || raw.contains("..")) {
        return Some(vec![raw.to_owned()]);
    }
    let options = brush_parser::ParserOptions::default();
    let parsed = std::panic::catch_unwind(|| word::parse_brace_expansions(raw, &options)).ok()?.ok()?;
    let Some(parts) = parsed else { return Some(vec![raw.to_owned()]) };
    let mut out = vec![String::new()];
    expand_parts(&parts, &mut out)?;
    Some(out)
}

fn expand_parts(parts: &[BraceExpressionOrText], out: &mut Vec<String>) -> Option<()> {
    for part in parts {
        match part {
            BraceExpressionOrText::Text(t) => out.iter_mut().for_each(|o| o.push_str(t)),
            BraceExpressionOrText::Expr(members) => {
                let mut alts: Vec<String> = Vec::new();
                for m in members {
                    match m {
                        BraceExpressionMember::Child(c) => {
                            let mut sub = vec![String::new()];
                            expand_parts(c, &mut sub)?;
                            alts.extend(sub);
                        }
                        BraceExpressionMember::NumberSequence { start, end, increment } => {
                            let step = increment.unsigned_abs().max(1) as usize;
                            let (lo, hi) = (*start.min(end), *start.max(end));
                            if (hi - lo) as usize / step > MAX_BRACE_WORDS {
                                return None;
                            }
                            alts.extend((lo..=hi).step_by(step).map(|n| n.to_string()));
                        }
                        BraceExpressionMember::CharSequence { start, end, increment } => {
                            let step = increment.unsigned_abs().max(1) as usize;
                            let (lo, hi) = (*start.min(end) as u32, *start.max(end) as u32);
                            alts.extend((lo..=hi).step_by(step).filter_map(char::from_u32).map(String::from));
                        }
                    }
                    if alts.len() > MAX_BRACE_WORDS {
                        return None;
                    }
                }
                let mut next = Vec::with_capacity(out.len() * alts.len());
                for o in out.iter() {
                    for a in &alts {
                        next.push(format!("{o}{a}"));
                    }
                }
                if next.len() > MAX_BRACE_WORDS {
                    return None;
                }
                *out = next;
            }
        }
    }
    Some(())
}

/// Decodes the body of `$'…'` (bash ANSI-C quoting).
fn ansi_c(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        let mut num = |radix: u32, max: usize, first: Option<char>| -> Option<char> {
            let mut digits = String::new();
            if let Some(f) = first {
                digits.push(f);
            }
            while digits.len() < max {
                match chars.peek() {
                    Some(d) if d.is_digit(radix) => digits.push(chars.next()?),
                    _ => break,
                }
            }
            u32::from_str_radix(&digits, radix).ok().and_then(char::from_u32)
        };
        let decoded = match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\x07',
            'b' => '\x08',
            'e' | 'E' => '\x1b',
            'f' => '\x0c',
            'v' => '\x0b',
            '\\' => '\\',
            '\'' => '\'',
            '"' => '"',
            '?' => '?',
            'x' => num(16, 2, None)?,
            'u' => num(16, 4, None)?,
            'U' => num(16, 8, None)?,
            'c' => {
                let k = chars.next()?;
                char::from_u32((k as u32) & 0x1f)?
            }
            d @ '0'..='7' => num(8, 3, Some(d))?,
            other => {
                out.push('\\');
                other
            }
        };
        out.push(decoded);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn argvs(text: &str) -> Vec<Vec<Option<String>>> {
        read(text, &no_env, &HashSet::new(), None, 0).cmds.iter().map(|c| c.words.iter().map(|w| w.lit.clone()).collect()).collect()
    }

    fn s(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|x| Some((*x).to_owned())).collect()
    }

    #[test]
    fn quoting_and_escapes_are_removed() {
        assert_eq!(argvs(r#"'rm' "-rf" \x"#), vec![s(&["rm", "-rf", "x"])]);
        assert_eq!(argvs(r"$'\x72m' -r d"), vec![s(&["rm", "-r", "d"])]);
        assert_eq!(argvs(r#"r"m" -r d"#), vec![s(&["rm", "-r", "d"])]);
    }

    #[test]
    fn chains_groups_and_substitutions_are_read() {
        let c = argvs("a && { b; (c | d); } || e $(f) `g`\nh <<EOF\n$(i)\nEOF\n");
        let progs: Vec<String> = c.iter().map(|w| w[0].clone().unwrap_or_default()).collect();
        for p in ["a", "b", "c", "d", "e", "f", "g", "h", "i"] {
            assert!(progs.contains(&p.to_owned()), "{p} missing from {progs:?}");
        }
    }

    #[test]
    fn braces_expand_and_variables_resolve_from_the_environment() {
        assert_eq!(argvs("{rm,-rf,x}"), vec![s(&["rm", "-rf", "x"])]);
        let env = |n: &str| (n == "D").then(|| "data".to_owned());
        let c = read("rm -r $D; X=rm; $X -r y", &env, &HashSet::new(), None, 0);
        assert_eq!(c.cmds[0].words[2].val(), Some("data"));
        assert_eq!(c.cmds.last().and_then(|c| c.words[0].lit.clone()), Some("rm".into()), "set once to a plain value: that value");
        // Anything else a script sets is unknown: set twice, in a loop, by `read`, only for one command, or to a pattern.
        for script in [
            "X=rm; X=ls; $X -r y",
            "for i in 1; do X=rm; done; $X -r y",
            "read X; $X -r y",
            "X=rm true; $X -r y",
            "X='r*'; $X -r y",
            "X=\"rm -rf\"; $X y",
            "$X -r y; X=ls",
            "if true; then X=ls; fi; $X -r y",
            "true && X=ls; $X -r y",
            "f() { X=ls; }; $X -r y",
            "X=ls | true; $X -r y",
        ] {
            let c = read(script, &env, &HashSet::new(), None, 0);
            let run = c.cmds.iter().rev().find(|c| c.words.first().is_some_and(|w| w.raw.starts_with("$X"))).expect("the `$X …` command");
            assert_eq!(run.words[0].lit, None, "{script}");
        }
    }

    #[test]
    fn heredoc_tags_with_expansions_are_not_parsed() {
        for t in ["<<E$[\t\t", "<<-bun$(\t<<<${$(", "cat <<<<<E$(x", "x <<'a'\"$(\"", "<< `x`"] {
            assert!(heredoc_tag_expands(t), "{t:?}");
        }
        for t in ["cat <<EOF\n$(date)\nEOF\n", "cat <<< \"$(date)\"", "cat <<<<<<x", "echo $((1 << 2))", "<<"] {
            assert!(!heredoc_tag_expands(t), "{t:?}");
        }
        for t in ["$(<<\t<<<^${${", "x <<E\n$(case a in b) echo", "<<E `", "cat <<E\n${x"] {
            assert!(has_heredoc_operator(t) && expansion_may_be_open(t), "{t:?}");
        }
        for t in [
            "cat <<EOF\n$(date) ${HOME} $[1] `id`\nEOF\n",
            "echo \"$(case $x in a) echo a;; esac)\"",
            "echo '$(' \"${x}\" # $(\n",
            "x=$( (echo) )",
        ] {
            assert!(!expansion_may_be_open(t), "{t:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_or_read_on_a_big_stack_not_overflowed() {
        // On a 2 MB stack, as tokio's worker threads have.
        let deep = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let read = |t: &str| read(t, &no_env, &HashSet::new(), None, 0);
                let ok = read(&format!("{}true{}", "if true; then ".repeat(400), "; fi".repeat(400)));
                let too_deep = read(&format!("{}x{}", "$(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING)));
                (ok.cmds.len(), ok.opaque.len(), too_deep.opaque.len())
            })
            .expect("spawn")
            .join()
            .expect("no overflow");
        assert_eq!(deep, (401, 0, 1));
    }

    #[test]
    fn spans_point_at_the_command() {
        let text = "echo ok && rm -rf x";
        let c = read(text, &no_env, &HashSet::new(), None, 0);
        assert_eq!(&text[c.cmds[1].span.clone()], "rm -rf x");
    }
}
