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
            words.first().and_then(|w| w.val()).is_some_and(|p| matches!(normalise_program(p).as_str(), "sqlite3" | "duckdb" | "influx"));
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
        // `psql -f <(echo 'DROP TABLE users')`: the file is another command's output, as a pipe is.
        if from_file && args.iter().any(|w| w.val().is_none() && w.raw.starts_with("<(")) {
            let who = normalise_program(words[0].val().unwrap_or(""));
            self.hit(
                Category::Unknown,
                "piped script",
                words,
                format!("`{who}` runs the SQL another command prints: cannot tell what it runs"),
            );
        }
        match &c.stdin {
            Stdin::Text(t)
                if !from_file || o.values(file_opts).any(|v| matches!(v, "-" | "/dev/stdin" | "/dev/fd/0" | "/proc/self/fd/0")) =>
            {
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
        // T-SQL's dynamic SQL (`EXEC('DR'+'OP …')`, `sp_executesql`, `sp_MSforeachtable`), and statements that empty or
        // discard data under other names (MySQL `TRUNCATE PARTITION`, `DISCARD TABLESPACE`, `RESET MASTER`, Oracle's
        // `PURGE RECYCLEBIN`, PostgreSQL's `lo_unlink`).
        static OTHER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"(?i)EXEC(UTE)?\s*\(|sp_executesql|sp_MSforeach(table|db)|TRUNCATE\s+PARTITION|DISCARD\s+TABLESPACE|RESET\s+(MASTER|BINARY\s+LOGS)|PURGE\s+(RECYCLEBIN|DBA_RECYCLEBIN|BINARY\s+LOGS)|lo_unlink\s*\(").expect("static regex")
        });
        if let Some(m) = OTHER.find(sql) {
            let rule =
                if m.as_str().to_ascii_uppercase().contains("EXEC") || m.as_str().starts_with("sp_") { "dynamic SQL" } else { "TRUNCATE" };
            self.hit(
                Category::Database,
                rule,
                words,
                format!("runs `{}`, which empties or discards data or builds SQL at run time", m.as_str()),
            );
            return;
        }
        if let Some(h) = client_meta(sql).or_else(|| sql::destructive(sql).into_iter().next()) {
            self.hit(Category::Database, h.rule, words, format!("runs `{}`", h.statement));
        }
    }
}

/// A client meta-command that destroys data or runs SQL the gate cannot
/// read: psql's `\gexec` runs each value the query returns as a statement
/// (`SELECT 'DROP TABLE ' || tablename … \gexec`), sqlite3's `.restore`
/// overwrites the open database with another file.
fn client_meta(text: &str) -> Option<sql::Hit> {
    static GEXEC: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| regex::Regex::new(r"\\gexec\b").expect("static regex"));
    static RESTORE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?m)^\s*\.restore\b").expect("static regex"));
    if GEXEC.is_match(text) {
        return Some(sql::Hit { rule: sql::DYNAMIC, statement: "\\gexec (runs the statements the query returns)".into() });
    }
    if RESTORE.is_match(text) {
        return Some(sql::Hit { rule: "DROP", statement: ".restore (overwrites the database)".into() });
    }
    None
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
    // `--init-command=SQL` runs on connecting, before anything else.
    long_val: &["--execute", "--database", "--host", "--port", "--user", "--socket", "--init-command"],
    sql_opts: &["-e", "--execute", "--init-command"],
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

/// mycli (MySQL's interactive client): `-e` is SQL; `-p` takes a password.
pub(super) const MYCLI: SqlClient = SqlClient {
    short_val: "eDhPuSp",
    long_val: &["--execute", "--database", "--host", "--port", "--user", "--socket", "--password", "--init-command"],
    sql_opts: &["-e", "--execute", "--init-command"],
    sql_from_operand: None,
    file_opts: &[],
    pipe_opts: &[],
};

/// MySQL Shell: `mysqlsh [URI] --sql -e SQL`, `-f FILE`.
pub(super) const MYSQLSH: SqlClient = SqlClient {
    short_val: "eufhPDS",
    long_val: &["--execute", "--file", "--user", "--host", "--port", "--schema", "--database", "--socket", "--uri"],
    sql_opts: &["-e", "--execute"],
    sql_from_operand: None,
    file_opts: &["-f", "--file"],
    pipe_opts: &[],
};

/// Hive's beeline: `beeline -u JDBC -e SQL`, `-f FILE`, `-i INIT`.
pub(super) const BEELINE: SqlClient = SqlClient {
    short_val: "eufnpdiw",
    long_val: &["--hivevar", "--hiveconf", "--property-file", "--outputformat", "--delimiter"],
    sql_opts: &["-e"],
    sql_from_operand: None,
    file_opts: &["-f", "-i"],
    pipe_opts: &[],
};

/// spark-sql (and the Hive CLI): `-e SQL`, `-f FILE`, `-i INIT`.
pub(super) const SPARK_SQL: SqlClient = SqlClient {
    short_val: "efid",
    long_val: &[
        "--master",
        "--conf",
        "--name",
        "--hiveconf",
        "--hivevar",
        "--database",
        "--jars",
        "--packages",
        "--deploy-mode",
        "--properties-file",
        "--driver-memory",
        "--executor-memory",
        "--queue",
    ],
    sql_opts: &["-e"],
    sql_from_operand: None,
    file_opts: &["-f", "-i"],
    pipe_opts: &[],
};

/// Oracle's sqlplus (and SQLcl `sql`): SQL on standard input; operands
/// are a login and `@script` files.
pub(super) const SQLPLUS: SqlClient =
    SqlClient { short_val: "M", long_val: &[], sql_opts: &[], sql_from_operand: None, file_opts: &[], pipe_opts: &[] };

/// InfluxDB 1.x's `influx` shell: `-execute 'InfluxQL'` (single-dash options).
pub(super) const INFLUX: SqlClient = SqlClient {
    short_val: "",
    long_val: &["-execute", "-host", "-port", "-username", "-password", "-database", "-format", "-precision", "-path", "-consistency"],
    sql_opts: &["-execute"],
    sql_from_operand: None,
    file_opts: &["-path"],
    pipe_opts: &[],
};

impl Classifier<'_> {
    /// Database administration programs that destroy a database, a
    /// cluster, a role or a bucket: `pg_dropcluster`, `dropuser`,
    /// `pg_resetwal` (loses the transactions it discards), `mariadb-admin
    /// drop`, `influx bucket|org delete` and `influx delete` without a
    /// `--predicate` (every point in the time range); `influx -execute`
    /// is InfluxQL, read as SQL; `wrangler d1 execute --command SQL` and
    /// `wrangler d1 delete`.
    pub(super) fn db_admin(&mut self, name: &str, words: &[Word], c: &Cmd) {
        let args = &words[1..];
        let lits: Vec<&str> = args.iter().filter_map(|w| w.val()).collect();
        match name {
            "pg_dropcluster" => self.hit(Category::Database, "dropdb", words, "deletes a PostgreSQL cluster with its data directory"),
            "dropuser" => self.hit(Category::Database, "dropdb", words, "drops a PostgreSQL role"),
            "pg_resetwal" | "pg_resetxlog"
                if !lits.iter().any(|a| matches!(*a, "-n" | "--dry-run" | "--help" | "-?" | "-V" | "--version")) =>
            {
                self.hit(Category::Database, "dropdb", words, "resets the write-ahead log, losing committed data")
            }
            "mariadb-admin" if lits.iter().any(|v| v.eq_ignore_ascii_case("drop")) => {
                self.hit(Category::Database, "dropdb", words, "drops a MariaDB database")
            }
            // `influx -execute SQL` (1.x, options first) or `influx SUBCOMMAND …` (2.x).
            "influx" if lits.first().is_none_or(|a| a.starts_with('-')) => self.sql_client(words, c, &INFLUX),
            "influx" => {
                let verb: Vec<&str> = lits.iter().copied().filter(|a| !a.starts_with('-')).take(2).collect();
                match verb.as_slice() {
                    ["bucket" | "org" | "v1", "delete"] | ["v1", "dbrp"] if lits.contains(&"delete") => {
                        self.hit(Category::Database, "dropdb", words, "deletes an InfluxDB bucket or organisation with its data")
                    }
                    ["delete", ..] if !lits.iter().any(|a| matches!(*a, "-p" | "--predicate") || a.starts_with("--predicate=")) => {
                        self.hit(Category::Database, "DELETE without WHERE", words, "deletes every point in the time range")
                    }
                    _ => {}
                }
            }
            // Cloudflare D1: `wrangler d1 execute DB --command SQL`, `wrangler d1 delete DB`.
            "wrangler" if lits.first() == Some(&"d1") => {
                let o = opts(args, "", &["--command", "--file", "--config", "--env", "--persist-to"]);
                if lits.get(1) == Some(&"delete") {
                    self.hit(Category::Database, "dropdb", words, "deletes a D1 database");
                }
                for sql in o.values(&["--command"]).map(str::to_owned).collect::<Vec<_>>() {
                    if unknown_value(&sql) {
                        self.hit(Category::Unknown, "expansion in arguments", words, "cannot tell which SQL runs");
                    } else {
                        self.sql_text(&sql, words);
                    }
                }
            }
            // Any other subcommand: the catch-alls (`wrangler r2 bucket delete`).
            _ => self.catch_all(name, words),
        }
    }
}

/// Migration tools and ORM command-line programs whose teardown commands
/// [`framework_teardown`] knows (`php bin/console` is `console`).
pub(super) const MIGRATION_TOOLS: &[&str] = &[
    "flyway",
    "liquibase",
    "alembic",
    "sequelize",
    "sequelize-cli",
    "typeorm",
    "typeorm-ts-node-commonjs",
    "typeorm-ts-node-esm",
    "mix",
    "diesel",
    "sqlx",
    "dbmate",
    "atlas",
    "knex",
    "console",
];

/// Framework commands that drop or empty a whole database: `prisma
/// migrate reset`, `prisma db push --force-reset`, `rails|rake db:drop`
/// (and `db:reset`, `db:purge`, `db:schema:load`, `db:migrate:reset`,
/// `db:truncate_all`), `manage.py|django-admin flush|reset_db`, `artisan
/// migrate:fresh|migrate:reset|migrate:refresh|db:wipe`, `supabase db
/// reset`; migration tools run to their start or told to clean: `prisma
/// db push --accept-data-loss`, `rails db:seed:replant`, `manage.py
/// migrate APP zero`, `flyway clean`, `liquibase dropAll`, `alembic
/// downgrade base`, `doctrine:database|schema:drop`, `sequelize db:drop`,
/// `typeorm schema:drop`, `mix ecto.drop|ecto.reset`, `diesel|sqlx
/// database drop|reset`, `dbmate drop`, `atlas schema clean`, `knex
/// migrate:rollback --all`.
pub(super) fn framework_teardown(words: &[Word]) -> Option<&'static str> {
    let w: Vec<&str> = words.iter().filter_map(|w| w.val()).collect();
    let after = |tool: &str| w.iter().position(|a| a.rsplit('/').next() == Some(tool)).map(|i| &w[i + 1..]);
    let has = |s: &[&str], x: &str| s.contains(&x);
    if let Some(r) = after("prisma")
        && ((r.first() == Some(&"migrate") && has(r, "reset"))
            || (r.first() == Some(&"db") && (has(r, "--force-reset") || has(r, "--accept-data-loss"))))
    {
        return Some("`prisma` resets the database, dropping its data");
    }
    for tool in ["rails", "rake"] {
        if let Some(r) = after(tool)
            && r.iter().any(|a| {
                matches!(
                    *a,
                    "db:drop"
                        | "db:reset"
                        | "db:purge"
                        | "db:schema:load"
                        | "db:migrate:reset"
                        | "db:truncate_all"
                        | "db:drop:all"
                        | "db:seed:replant"
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
        // `manage.py migrate shop zero`: unapplies every migration of the app, dropping its tables.
        if let Some(r) = after(tool)
            && r.first() == Some(&"migrate")
            && r.iter().skip(1).filter(|a| !a.starts_with('-')).nth(1) == Some(&"zero")
        {
            return Some("unapplies every migration of the app, dropping its tables");
        }
    }
    if let Some(r) = after("artisan")
        && r.iter().any(|a| matches!(*a, "migrate:fresh" | "migrate:reset" | "migrate:refresh" | "db:wipe"))
    {
        return Some("drops the application's tables");
    }
    // Migration tools told to drop everything or to go back to the start.
    let verb = |tool: &str, v: &[&str]| {
        after(tool).is_some_and(|r| {
            let ops: Vec<&str> = r.iter().copied().filter(|a| !a.starts_with('-')).collect();
            ops.len() >= v.len() && v.iter().zip(&ops).all(|(want, got)| want.eq_ignore_ascii_case(got))
        })
    };
    let cleans = verb("flyway", &["clean"])
        || verb("liquibase", &["dropAll"])
        || verb("liquibase", &["drop-all"])
        || verb("alembic", &["downgrade", "base"])
        || verb("dbmate", &["drop"])
        || verb("atlas", &["schema", "clean"])
        || ["diesel", "sqlx"].iter().any(|t| verb(t, &["database", "drop"]) || verb(t, &["database", "reset"]))
        || ["sequelize", "sequelize-cli"].iter().any(|t| verb(t, &["db:drop"]) || verb(t, &["db:migrate:undo:all"]))
        || ["typeorm", "typeorm-ts-node-commonjs", "typeorm-ts-node-esm"].iter().any(|t| verb(t, &["schema:drop"]))
        || verb("mix", &["ecto.drop"])
        || verb("mix", &["ecto.reset"])
        || (verb("mix", &["ecto.rollback"]) && w.contains(&"--all"))
        || (verb("knex", &["migrate:rollback"]) && w.contains(&"--all"))
        || w.iter().any(|a| matches!(*a, "doctrine:database:drop" | "doctrine:schema:drop"));
    if cleans {
        return Some("drops the application's tables or database");
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
            r#"(?im)\\!(.*)$|\\(?:o|out|g|gx|w|write)\s*\|(.*)$|^\s*(?:\.shell|\.system|system)[ \t]+(.*)$|^\s*\.(?:output|once)(?:\s+-[a-z]+)*\s*\|(.*)$|^\s*\.(?:output|once|import|read)(?:\s+-[a-z]+)*\s*['"]\|([^'"]*)|\bPROGRAM\s+'((?:[^']|'')*)'"#,
        )
        .expect("static regex")
    });
    ESC.captures_iter(text)
        .filter_map(|c| {
            // `COPY … TO|FROM PROGRAM 'cmd'` (psql's `\copy` too): an SQL string, `''` is a quote.
            if let Some(p) = c.get(6) {
                return Some(p.as_str().replace("''", "'"));
            }
            c.iter().skip(1).flatten().next().map(|m| m.as_str().trim().to_owned())
        })
        .filter(|c| !c.is_empty())
        .collect()
}

/// Whether MongoDB shell code drops or empties a database or collection:
/// `dropDatabase()`, `.drop()`, `runCommand({drop|dropDatabase: …})`;
/// `deleteMany`, `remove` or `updateMany` with a filter every document
/// passes (`{}`, `new Object()`, `{_id: {$exists: true}}`), also as a
/// `bulkWrite` operation; `aggregate` with `$out` (replaces the target
/// collection); a computed method (`db.x["dr" + "op"]()`), which cannot
/// be read.
pub(super) fn mongo_destroys(code: &str) -> bool {
    const ALL: &str = r#"(?:\{\s*\}|(?:new\s+)?Object\s*\(\s*\)|\{\s*["']?_id["']?\s*:\s*\{\s*["']?\$(?:exists["']?\s*:\s*(?:true|1)|ne["']?\s*:\s*null)\s*\}\s*\})"#;
    static M: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(&format!(
            r#"(?i)\bdropDatabase\s*\(|\.drop\s*\(|\b(?:runCommand|adminCommand)\s*\(\s*(?:\{{\s*["']?|["'])(?:drop|dropDatabase)\b|\b(?:deleteMany|remove|updateMany)\s*\(\s*{ALL}\s*[,)]|\b(?:deleteMany|updateMany)["']?\s*:\s*\{{\s*["']?filter["']?\s*:\s*{ALL}|["']?\$out["']?\s*:"#
        ))
        .expect("static regex")
    });
    static CALL: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\[([^\]\[]*)\]\s*\(").expect("static regex"));
    static NAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"^\s*(?:"([A-Za-z_$][\w$]*)"|'([A-Za-z_$][\w$]*)'|`([A-Za-z_$][\w$]*)`)\s*$"#).expect("static regex")
    });
    // `db.users.drop.call(…)`, `dropAllUsers()`, `renameCollection(…, true)` (drops the target), a filter that is a variable,
    // `$expr`/`$where`/`MinKey` filters, `runCommand({delete: …})`.
    static MORE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(?i)\.drop\s*\.\s*(call|apply|bind)|dropAll(Users|Roles)\s*\(|renameCollection\s*\([^)]*,\s*true|(deleteMany|remove|updateMany)\s*\(\s*(Object\.create|[A-Za-z_$][\w$]*\s*[,)])|\$expr|\$where|MinKey|(runCommand|adminCommand)\s*\(\s*\{\s*["']?delete["']?\s*:"#,
        )
        .expect("static regex")
    });
    if M.is_match(code) || MORE.is_match(code) {
        return true;
    }
    // `db.users["drop"]()`, `db.users["dr" + "op"]()`, `db.users[m]()`.
    CALL.captures_iter(code).any(|c| {
        let inner = c.get(1).map_or("", |m| m.as_str());
        match NAME.captures(inner).and_then(|n| n.iter().skip(1).flatten().next()) {
            Some(name) => {
                matches!(name.as_str(), "drop" | "dropDatabase" | "deleteMany" | "remove" | "updateMany" | "runCommand" | "aggregate")
            }
            None => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::mongo_destroys;

    #[test]
    fn mongo_forms_that_drop_or_empty() {
        for code in [
            "db.users.drop()",
            "db.dropDatabase()",
            "db.runCommand({drop: \"users\"})",
            "db.runCommand({ dropDatabase: 1 })",
            "db.adminCommand('dropDatabase')",
            "db.users.deleteMany({})",
            "db.users.deleteMany(new Object())",
            "db.users.deleteMany({_id: {$exists: true}})",
            "db.users.remove({ \"_id\": { \"$ne\": null } })",
            "db.users.updateMany({}, {$unset: {email: 1}})",
            "db.users.bulkWrite([{deleteMany: {filter: {}}}])",
            "db.src.aggregate([{$match: {}}, {$out: \"users\"}])",
            "db.users[\"dr\"+\"op\"]()",
            "db.users['drop']()",
            "db.users[m]()",
        ] {
            assert!(mongo_destroys(code), "{code}");
        }
    }

    #[test]
    fn mongo_look_alikes() {
        for code in [
            "db.users.deleteMany({status: \"gone\"})",
            "db.users.updateMany({active: false}, {$set: {archived: true}})",
            "db.users.find({})",
            "db.users.aggregate([{$match: {a: 1}}])",
            "db.runCommand({ping: 1})",
            "db[\"users\"].find()",
            "db.users.deleteMany({_id: {$exists: true}, age: 3})",
        ] {
            assert!(!mongo_destroys(code), "{code}");
        }
    }
}
