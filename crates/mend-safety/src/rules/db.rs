//! Databases: SQL clients (psql, mysql, sqlite3, duckdb, query clients)
//! and what their SQL, meta-commands and shell escapes do; framework
//! teardown tasks; Mongo's drops.

#[allow(unused_imports)]
use super::*;

impl Classifier<'_> {
    pub(super) fn sql_client(&mut self, words: &[Word], c: &Cmd, spec: &SqlClient) {
        let SqlClient { short_val, long_val, sql_opts, sql_from_operand, file_opts, pipe_opts } = *spec;
        // SQLite's and DuckDB's options are single-dash words.
        let args = &words[1..];
        let single_dash_long =
            words.first().and_then(|w| w.val()).is_some_and(|p| matches!(normalise_program(p).as_str(), "sqlite3" | "duckdb"));
        let mut texts: Vec<String> = Vec::new();
        let mut unknown = false;
        let o = if single_dash_long {
            let mut o = Opts::default();
            let mut i = 0;
            while i < args.len() {
                let w = &args[i];
                match w.val() {
                    Some(v) if long_val.contains(&v) || sql_opts.contains(&v) => {
                        let val = args.get(i + 1).map(|n| n.val().map(str::to_owned).unwrap_or_else(|| "\u{0}unknown".into()));
                        o.flags.push((v.to_owned(), val));
                        i += 2;
                        continue;
                    }
                    Some(v) if v.starts_with('-') => o.flags.push((v.to_owned(), None)),
                    Some(_) => o.operands.push(w),
                    None => o.unknown.push(w),
                }
                i += 1;
            }
            o
        } else {
            // mysql's `-p` takes only an attached password: a lone `-p` prompts.
            let attached = if matches!(normalise_program(words[0].val().unwrap_or("")).as_str(), "mysql" | "mariadb") { "p" } else { "" };
            opts_with(args, short_val, attached, long_val)
        };
        for cmd in o.values(pipe_opts).filter_map(|v| v.strip_prefix('|')).map(str::to_owned).collect::<Vec<_>>() {
            self.nested_checked(&cmd);
        }
        for v in o.values(sql_opts) {
            if unknown_value(v) {
                unknown = true;
            } else {
                texts.push(v.to_owned());
            }
        }
        if let Some(from) = sql_from_operand {
            for w in o.operands.iter().skip(from) {
                match w.val() {
                    Some(v) => texts.push(v.to_owned()),
                    None => unknown = true,
                }
            }
        }
        let from_file = file_opts.iter().any(|f| o.has(&[f]));
        match &c.stdin {
            Stdin::Text(t) if !from_file || o.values(file_opts).any(|v| matches!(v, "-" | "/dev/stdin" | "/dev/fd/0")) => {
                texts.push(t.clone())
            }
            Stdin::Unknown(_) if texts.is_empty() && !from_file => {
                self.stdin_script(c, &normalise_program(words[0].val().unwrap_or("")));
                return;
            }
            _ => {}
        }
        let before = self.out.len();
        for t in &texts {
            self.sql_text(t, words);
            for cmd in client_shell_escapes(t) {
                self.nested_checked(&cmd);
            }
        }
        if self.out.len() == before && (unknown || !o.unknown.is_empty()) {
            self.hit(Category::Unknown, "expansion in arguments", words, "cannot tell which SQL runs");
        }
    }

    pub(super) fn sql_text(&mut self, sql: &str, words: &[Word]) {
        if let Some(h) = sql::destructive(sql).into_iter().next() {
            self.hit(Category::Database, h.rule, words, format!("runs `{}`", h.statement));
        }
    }
}

/// How an SQL client takes its SQL.
#[derive(Clone, Copy)]
pub(super) struct SqlClient {
    /// Short options that take a value.
    short_val: &'static str,
    /// Long options that take a value.
    long_val: &'static [&'static str],
    /// The options whose value is SQL.
    sql_opts: &'static [&'static str],
    /// From which operand on the operands are SQL (`sqlite3 DB SQL…`);
    /// `None` where they never are (psql's are a database and a user).
    sql_from_operand: Option<usize>,
    /// Options that read the SQL from a file (the gate does not read files).
    file_opts: &'static [&'static str],
    /// Options naming an output file, which `|CMD` makes a command.
    pipe_opts: &'static [&'static str],
}

pub(super) const PSQL: SqlClient = SqlClient {
    short_val: "cfvdhpUoLPT",
    long_val: &[
        "--command",
        "--file",
        "--dbname",
        "--host",
        "--port",
        "--username",
        "--set",
        "--variable",
        "--output",
        "--log-file",
        "--pset",
        "--table-attr",
    ],
    sql_opts: &["-c", "--command"],
    sql_from_operand: None,
    file_opts: &["-f", "--file"],
    pipe_opts: &["-o", "--output"],
};

pub(super) const MYSQL: SqlClient = SqlClient {
    short_val: "eDhPuS",
    long_val: &["--execute", "--database", "--host", "--port", "--user", "--socket"],
    sql_opts: &["-e", "--execute"],
    sql_from_operand: Some(1),
    file_opts: &[],
    pipe_opts: &[],
};

pub(super) const SQLITE: SqlClient = SqlClient {
    short_val: "c",
    long_val: &["-cmd", "-init", "-separator", "-nullvalue", "-newline", "-vfs", "-mmap"],
    sql_opts: &["-c", "-cmd"],
    sql_from_operand: Some(1),
    file_opts: &["-init"],
    pipe_opts: &[],
};

pub(super) const QUERY_CLIENT: SqlClient = SqlClient {
    short_val: "qQeh",
    long_val: &["--query", "--execute", "--host"],
    sql_opts: &["-q", "-Q", "-e", "--query", "--execute"],
    sql_from_operand: None,
    file_opts: &[],
    pipe_opts: &[],
};

/// Framework commands that drop or empty a whole database: `prisma
/// migrate reset`, `prisma db push --force-reset`, `rails|rake db:drop`
/// (and `db:reset`, `db:purge`, `db:schema:load`, `db:migrate:reset`,
/// `db:truncate_all`), `manage.py|django-admin flush|reset_db`, `artisan
/// migrate:fresh|migrate:reset|migrate:refresh|db:wipe`, `supabase db
/// reset`.
pub(super) fn framework_teardown(words: &[Word]) -> Option<&'static str> {
    let w: Vec<&str> = words.iter().filter_map(|w| w.val()).collect();
    let after = |tool: &str| w.iter().position(|a| a.rsplit('/').next() == Some(tool)).map(|i| &w[i + 1..]);
    let has = |s: &[&str], x: &str| s.contains(&x);
    if let Some(r) = after("prisma")
        && ((r.first() == Some(&"migrate") && has(r, "reset")) || (r.first() == Some(&"db") && has(r, "--force-reset")))
    {
        return Some("`prisma` resets the database, dropping its data");
    }
    for tool in ["rails", "rake"] {
        if let Some(r) = after(tool)
            && r.iter().any(|a| {
                matches!(
                    *a,
                    "db:drop" | "db:reset" | "db:purge" | "db:schema:load" | "db:migrate:reset" | "db:truncate_all" | "db:drop:all"
                )
            })
        {
            return Some("drops or empties the application's database");
        }
    }
    for tool in ["manage.py", "django-admin"] {
        if let Some(r) = after(tool)
            && r.iter().any(|a| matches!(*a, "flush" | "reset_db"))
        {
            return Some("deletes every row of the application's database");
        }
    }
    if let Some(r) = after("artisan")
        && r.iter().any(|a| matches!(*a, "migrate:fresh" | "migrate:reset" | "migrate:refresh" | "db:wipe"))
    {
        return Some("drops the application's tables");
    }
    if let Some(r) = after("supabase")
        && r.starts_with(&["db", "reset"])
    {
        return Some("resets the database, dropping its data");
    }
    None
}

/// The commands an SQL client's own meta-commands hand to a shell: `\!
/// CMD` (psql, mysql; anywhere on a line), psql's `\o |CMD`, `\g |CMD`,
/// `\w |CMD`, mysql's `system CMD`, sqlite3's `.shell CMD`, `.system CMD`,
/// `.output |CMD` and `.once |CMD`; and `COPY … PROGRAM 'CMD'`, which the
/// server (or psql's `\copy`) runs.
pub(super) fn client_shell_escapes(text: &str) -> Vec<String> {
    static ESC: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?im)\\!(.*)$|\\(?:o|out|g|gx|w|write)\s*\|(.*)$|^\s*(?:\.shell|\.system|system)[ \t]+(.*)$|^\s*\.(?:output|once)(?:\s+-[a-z]+)*\s*\|(.*)$|\bPROGRAM\s+'((?:[^']|'')*)'",
        )
        .expect("static regex")
    });
    ESC.captures_iter(text)
        .filter_map(|c| {
            // `COPY … TO|FROM PROGRAM 'cmd'` (psql's `\copy` too): an SQL string, `''` is a quote.
            if let Some(p) = c.get(5) {
                return Some(p.as_str().replace("''", "'"));
            }
            c.iter().skip(1).flatten().next().map(|m| m.as_str().trim().to_owned())
        })
        .filter(|c| !c.is_empty())
        .collect()
}

pub(super) fn mongo_destroys(code: &str) -> bool {
    static M: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\bdropDatabase\s*\(|\.drop\s*\(|\b(deleteMany|remove)\s*\(\s*\{\s*\}").expect("static regex")
    });
    M.is_match(code)
}
