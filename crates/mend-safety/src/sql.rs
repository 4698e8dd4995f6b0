//! SQL read by sqlparser (the Apache DataFusion SQL parser): which
//! statements destroy data. `DROP …`, `TRUNCATE`, `ALTER … DROP …`, and
//! `DELETE`/`UPDATE` without a `WHERE` (or with one that matches every
//! row: `WHERE 1=1`, `WHERE id > 0 OR 1=1`, `WHERE now() IS NOT NULL`,
//! `WHERE id = id`) are destructive, also inside a `WITH` or a `PREPARE`.
//! So are statements that replace a table (`CREATE OR REPLACE TABLE`,
//! `INSERT OVERWRITE`), ClickHouse mutations over every row (`ALTER TABLE t
//! DELETE WHERE 1`) and `ALTER COLUMN … TYPE … USING` a constant. Code
//! that runs later or elsewhere is read too: the bodies of `DO` blocks and
//! of `CREATE FUNCTION|PROCEDURE|TRIGGER`, the string of `EXECUTE 'sql'`,
//! MySQL's `PREPARE s FROM 'sql'`, `EXECUTE IMMEDIATE 'sql'` and
//! `dblink_exec(conn, 'sql')`; SQL built at run time (`EXECUTE 'DR' ||
//! 'OP …'`, `PREPARE s FROM @var`) cannot be read and is `dynamic SQL`.
//! Text the parser cannot read is split into statements by its tokenizer
//! and judged by their keywords.

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, BinaryOperator, Expr, FromTable, FunctionArg, FunctionArgExpr, FunctionArguments, InTarget,
    Query, SetExpr, Statement, TableFactor, TableWithJoins,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A destructive statement: the rule's name and the statement as written
/// (shortened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub rule: &'static str,
    pub statement: String,
}

/// The rule for SQL built at run time, which the gate cannot read.
pub(crate) const DYNAMIC: &str = "dynamic SQL";

/// How deep code inside code (a `DO` block's `EXECUTE 'DO $$…$$'`) is read.
const MAX_DEPTH: usize = 6;

/// The destructive statements in `sql`, first one first. Never panics.
pub(crate) fn destructive(sql: &str) -> Vec<Hit> {
    destructive_at(sql, 0)
}

fn destructive_at(sql: &str, depth: usize) -> Vec<Hit> {
    if depth > MAX_DEPTH {
        return Vec::new();
    }
    let parsed = std::panic::catch_unwind(|| Parser::parse_sql(&GenericDialect {}, sql));
    let mut hits = match parsed {
        Ok(Ok(stmts)) => stmts.iter().filter_map(statement).collect(),
        _ => by_tokens(sql),
    };
    hits.extend(later(sql, depth));
    hits
}

fn short(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 { format!("{}…", one_line.chars().take(80).collect::<String>()) } else { one_line }
}

fn statement(s: &Statement) -> Option<Hit> {
    let text = s.to_string();
    let upper = text.to_ascii_uppercase();
    let rule = match s {
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Delete(d) if d.selection.as_ref().is_none_or(|w| !restricts(w, &delete_target(d))) => "DELETE without WHERE",
        Statement::Update(u) if u.selection.as_ref().is_none_or(|w| !restricts(w, &table_name(&u.table))) => "UPDATE without WHERE",
        // `WITH d AS (DELETE FROM t RETURNING *) SELECT …` deletes too.
        // `MERGE … WHEN MATCHED THEN DELETE|UPDATE` acts on every matched row.
        Statement::Merge(_) if upper.contains("THEN DELETE") => "DELETE without WHERE",
        Statement::Merge(_) if upper.contains("THEN UPDATE") => "UPDATE without WHERE",
        Statement::Query(q) => return query(q),
        // `INSERT OVERWRITE TABLE t …` (Hive, Spark, Databricks) replaces every row of `t`.
        Statement::Insert(i) if i.overwrite => "TRUNCATE",
        Statement::Insert(i) => return i.source.as_deref().and_then(query),
        Statement::Prepare { statement: inner, .. } => return statement(inner),
        // `CREATE OR REPLACE TABLE t AS …` drops `t` with its rows first.
        Statement::CreateTable(t) if t.or_replace && !t.temporary => "DROP",
        // `ALTER COLUMN c TYPE … USING NULL`: a constant replaces every value of the column.
        Statement::AlterTable(a)
            if a.operations.iter().any(|op| {
                matches!(op, AlterTableOperation::AlterColumn { op: AlterColumnOperation::SetDataType { using: Some(e), .. }, .. } if !mentions_column(e))
            }) =>
        {
            "ALTER … DROP"
        }
        _ if upper.starts_with("DROP ") => "DROP",
        _ if upper.starts_with("ALTER ") && upper.contains(" DROP ") => "ALTER … DROP",
        _ => return None,
    };
    Some(Hit { rule, statement: short(&text) })
}

/// The table a `DELETE` removes rows from, lower-cased (`""` if unclear).
fn delete_target(d: &sqlparser::ast::Delete) -> String {
    match &d.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t.first().map(table_name).unwrap_or_default(),
    }
}

fn table_name(t: &TableWithJoins) -> String {
    match &t.relation {
        TableFactor::Table { name, .. } => name.to_string().to_ascii_lowercase(),
        _ => String::new(),
    }
}

/// The first destructive statement inside a query: its `WITH` parts and
/// its body (`SetExpr::Delete` and friends are data-modifying parts).
fn query(q: &Query) -> Option<Hit> {
    q.with.iter().flat_map(|w| w.cte_tables.iter()).find_map(|cte| query(&cte.query)).or_else(|| set_expr(&q.body))
}

fn set_expr(e: &SetExpr) -> Option<Hit> {
    match e {
        SetExpr::Query(q) => query(q),
        SetExpr::SetOperation { left, right, .. } => set_expr(left).or_else(|| set_expr(right)),
        SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => statement(s),
        _ => None,
    }
}

/// Whether a `WHERE` condition on `target` can leave rows out. It must
/// mention a column (`WHERE 1=1`, `WHERE TRUE`, `WHERE now() IS NOT NULL`,
/// `WHERE random() >= 0` match every row: a function's name is not a
/// column), every side of an `OR` must (`WHERE id > 0 OR 1=1` matches
/// every row), and it must not be a test every row passes: `c IS NOT NULL`
/// alone (a key is never null), `id = id` (the same expression on both
/// sides), `id IN (SELECT id FROM target)` with no filter in the subquery.
fn restricts(cond: &Expr, target: &str) -> bool {
    match cond {
        Expr::BinaryOp { left, op: BinaryOperator::Or, right } => restricts(left, target) && restricts(right, target),
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => restricts(left, target) || restricts(right, target),
        Expr::Nested(inner) => restricts(inner, target),
        Expr::IsNotNull(_) => false,
        Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::GtEq | BinaryOperator::LtEq, right } if left == right => false,
        Expr::IsNotDistinctFrom(l, r) if l == r => false,
        Expr::In { expr, target: InTarget::Subquery(q), negated: false, .. } => mentions_column(expr) && subquery_filters(q, target),
        // `EXISTS (SELECT 1)`, `EXISTS (SELECT 1 FROM t)`: the same answer for every row unless correlated by a `WHERE`.
        Expr::Exists { subquery, negated: false } => match subquery.body.as_ref() {
            SetExpr::Select(s) => s.selection.as_ref().is_some_and(|w| restricts(w, "")),
            _ => true,
        },
        other => mentions_column(other),
    }
}

/// Whether a subquery picks some rows of `target` only: it reads another
/// table or a join, or has a restricting `WHERE`, a `HAVING`, a `LIMIT`.
fn subquery_filters(q: &Query, target: &str) -> bool {
    let SetExpr::Select(s) = q.body.as_ref() else { return true };
    if q.limit_clause.is_some() || s.having.is_some() {
        return true;
    }
    // No `FROM` (`SELECT 1`) is as unfiltered as reading the target itself.
    let reads_target =
        s.from.is_empty() || matches!(s.from.as_slice(), [t] if t.joins.is_empty() && !target.is_empty() && table_name(t) == target);
    !reads_target || s.selection.as_ref().is_some_and(|w| restricts(w, target))
}

/// Whether an expression reads a column (an identifier outside a
/// function's name): `lower(email) = 'x'` does, `length('a') = 1` and
/// `now()` do not.
fn mentions_column(e: &Expr) -> bool {
    let m = |e: &Expr| mentions_column(e);
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) | Expr::CompoundFieldAccess { .. } => true,
        Expr::Value(_) | Expr::TypedString { .. } | Expr::Interval(_) => false,
        Expr::Function(f) => match &f.args {
            FunctionArguments::None => false,
            FunctionArguments::Subquery(_) => true,
            FunctionArguments::List(l) => l.args.iter().any(|a| match a {
                FunctionArg::Named { arg, .. } | FunctionArg::ExprNamed { arg, .. } | FunctionArg::Unnamed(arg) => match arg {
                    FunctionArgExpr::Expr(e) => m(e),
                    _ => true,
                },
            }),
        },
        Expr::BinaryOp { left, right, .. } => m(left) || m(right),
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotFalse(expr) => m(expr),
        Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => m(a) || m(b),
        Expr::Between { expr, low, high, .. } => m(expr) || m(low) || m(high),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => m(expr) || m(pattern),
        Expr::In { expr, target: InTarget::List(l), .. } => m(expr) || l.iter().any(m),
        Expr::In { expr, .. } => m(expr),
        // Anything else (`CASE`, subqueries, dialect forms): as restricting when it names anything.
        other => format!("{other:?}").contains("Identifier("),
    }
}

/// Whether the tokens after a `WHERE` (up to the statement's end) can
/// leave rows out, read as an expression; text that does not parse counts
/// as restricting.
fn where_tokens_restrict(tokens: &[Token]) -> bool {
    expr_of(tokens).is_none_or(|e| restricts(&e, ""))
}

/// Tokens read as one expression (`None` if they are not one).
fn expr_of(tokens: &[Token]) -> Option<Expr> {
    let text: String = tokens.iter().map(|t| t.to_string()).collect();
    std::panic::catch_unwind(|| Parser::new(&GenericDialect {}).try_with_sql(&text).and_then(|mut p| p.parse_expr())).ok()?.ok()
}

/// Whether an `ALTER … TYPE … USING expr` converts from a constant: the
/// expression (up to a `,` or the end) reads no column.
fn using_constant(stmt: &[Token]) -> bool {
    let Some(at) = stmt.iter().position(|t| matches!(t, Token::Word(w) if w.keyword == Keyword::USING)) else { return false };
    let rest = &stmt[at + 1..];
    let end = rest.iter().position(|t| matches!(t, Token::Comma)).unwrap_or(rest.len());
    expr_of(&rest[..end]).is_some_and(|e| !mentions_column(&e))
}

fn tokenize(sql: &str) -> Option<Vec<Token>> {
    std::panic::catch_unwind(|| Tokenizer::new(&GenericDialect {}, sql).tokenize()).ok()?.ok()
}

/// A string literal token's text (`'…'`, `E'…'`, `$$…$$`, `"…"` in MySQL).
fn string_of(t: &Token) -> Option<&str> {
    match t {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s)
        | Token::DollarQuotedString(sqlparser::ast::DollarQuotedString { value: s, .. }) => Some(s),
        _ => None,
    }
}

fn significant(stmt: &[Token]) -> Vec<&Token> {
    stmt.iter().filter(|t| !matches!(t, Token::Whitespace(_))).collect()
}

fn is_kw(t: Option<&&Token>, k: Keyword) -> bool {
    matches!(t, Some(Token::Word(w)) if w.keyword == k)
}

/// SQL that runs later or elsewhere, read as SQL: the bodies of `DO`
/// blocks and `CREATE FUNCTION|PROCEDURE|TRIGGER` (read as procedural
/// code), MySQL's `PREPARE s FROM 'sql'`, `EXECUTE IMMEDIATE 'sql'`, and
/// the strings handed to `dblink_exec`/`dblink`. A `PREPARE … FROM` or
/// `EXECUTE IMMEDIATE` of anything but a literal is `dynamic SQL`.
fn later(sql: &str, depth: usize) -> Vec<Hit> {
    let Some(tokens) = tokenize(sql) else { return Vec::new() };
    let mut hits = Vec::new();
    for stmt in tokens.split(|t| matches!(t, Token::SemiColon)) {
        let sig = significant(stmt);
        let Some(Token::Word(first)) = sig.first() else { continue };
        let whole = || short(&stmt.iter().map(|t| t.to_string()).collect::<String>());
        // `CREATE [OR REPLACE] [CONSTRAINT] FUNCTION|PROCEDURE|TRIGGER …`: the kind follows those words.
        let creates_code = sig
            .iter()
            .skip(1)
            .find(|t| !matches!(t, Token::Word(w) if matches!(w.keyword, Keyword::OR | Keyword::REPLACE | Keyword::CONSTRAINT | Keyword::TEMP | Keyword::TEMPORARY)))
            .is_some_and(|t| matches!(t, Token::Word(w) if matches!(w.keyword, Keyword::FUNCTION | Keyword::PROCEDURE | Keyword::TRIGGER)));
        let body_code = first.keyword == Keyword::DO || (first.keyword == Keyword::CREATE && creates_code);
        if body_code {
            for body in sig.iter().filter_map(|t| string_of(t)) {
                hits.extend(code(body, depth + 1));
            }
            continue;
        }
        // `PREPARE s FROM 'sql'|@var` (MySQL), `EXECUTE IMMEDIATE 'sql'|v` (Snowflake, Oracle, BigQuery).
        let from_literal = if first.keyword == Keyword::PREPARE && is_kw(sig.get(2), Keyword::FROM) {
            Some(&sig[3..])
        } else if first.keyword == Keyword::EXECUTE && is_kw(sig.get(1), Keyword::IMMEDIATE) {
            Some(&sig[2..])
        } else {
            None
        };
        if let Some(rest) = from_literal {
            match rest.first().and_then(|t| string_of(t)) {
                Some(s) if !matches!(rest.get(1), Some(Token::StringConcat | Token::Plus)) => hits.extend(destructive_at(s, depth + 1)),
                _ => hits.push(Hit { rule: DYNAMIC, statement: whole() }),
            }
        }
        // `SELECT dblink_exec('dbname=prod', 'DROP TABLE users')`: the remote server runs the string.
        for (i, t) in sig.iter().enumerate() {
            if let Token::Word(w) = t
                && matches!(w.value.to_ascii_lowercase().as_str(), "dblink_exec" | "dblink")
                && matches!(sig.get(i + 1), Some(Token::LParen))
            {
                let mut level = 0usize;
                for a in &sig[i + 1..] {
                    match a {
                        Token::LParen => level += 1,
                        Token::RParen => {
                            level = level.saturating_sub(1);
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {
                            if let Some(s) = string_of(a) {
                                hits.extend(destructive_at(s, depth + 1));
                            }
                        }
                    }
                }
            }
        }
    }
    hits
}

/// Procedural code (PL/pgSQL and kin, or plain SQL): each statement,
/// found after a block word (`BEGIN`, `THEN`, `ELSE`, `LOOP`, `DECLARE`,
/// `EXCEPTION`) or at a statement's start, is read as SQL; `EXECUTE` of a
/// string literal reads the string, of anything else (`'DR' || 'OP …'`,
/// `format(…)`, a variable) is `dynamic SQL`.
fn code(body: &str, depth: usize) -> Vec<Hit> {
    if depth > MAX_DEPTH {
        return Vec::new();
    }
    let Some(tokens) = tokenize(body) else { return by_words(body) };
    let mut hits = Vec::new();
    for stmt in tokens.split(|t| matches!(t, Token::SemiColon)) {
        let starts = std::iter::once(0).chain(stmt.iter().enumerate().filter_map(|(i, t)| match t {
            Token::Word(w)
                if w.quote_style.is_none()
                    && matches!(w.value.to_ascii_uppercase().as_str(), "BEGIN" | "THEN" | "ELSE" | "LOOP" | "DECLARE" | "EXCEPTION") =>
            {
                Some(i + 1)
            }
            Token::ShiftRight => Some(i + 1),
            _ => None,
        }));
        for s in starts {
            let rest = &stmt[s..];
            let sig = significant(rest);
            let Some(Token::Word(w)) = sig.first() else { continue };
            if w.keyword == Keyword::EXECUTE && !is_kw(sig.get(1), Keyword::IMMEDIATE) {
                let literal = sig.get(1).and_then(|t| string_of(t));
                let ends = sig.get(2).is_none_or(|t| is_kw(Some(t), Keyword::USING) || is_kw(Some(t), Keyword::INTO));
                match literal {
                    Some(l) if ends => hits.extend(destructive_at(l, depth + 1)),
                    _ => hits.push(Hit { rule: DYNAMIC, statement: short(&rest.iter().map(|t| t.to_string()).collect::<String>()) }),
                }
                continue;
            }
            if matches!(
                w.keyword,
                Keyword::DELETE
                    | Keyword::UPDATE
                    | Keyword::DROP
                    | Keyword::TRUNCATE
                    | Keyword::ALTER
                    | Keyword::MERGE
                    | Keyword::INSERT
                    | Keyword::WITH
                    | Keyword::CREATE
                    | Keyword::PREPARE
                    | Keyword::DO
                    | Keyword::SELECT
                    | Keyword::REPLACE
            ) {
                let text: String = rest.iter().map(|t| t.to_string()).collect();
                hits.extend(destructive_at(&text, depth + 1));
            }
        }
    }
    hits
}

/// For SQL the parser rejects (another dialect, a fragment): statement by
/// statement, by leading keyword; a `WHERE` is read as an expression.
fn by_tokens(sql: &str) -> Vec<Hit> {
    let Some(tokens) = tokenize(sql) else { return by_words(sql) };
    let mut hits = Vec::new();
    for stmt in tokens.split(|t| matches!(t, Token::SemiColon)) {
        let words: Vec<(Keyword, String)> = stmt
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some((w.keyword, w.value.clone())),
                _ => None,
            })
            .collect();
        let Some((first, _)) = words.first() else { continue };
        let has = |k: Keyword| words.iter().any(|(w, _)| *w == k);
        let kw = |i: usize| words.get(i).map(|(k, _)| *k);
        // Whether the `WHERE` (if any) leaves rows out.
        let filters = || match stmt.iter().position(|t| matches!(t, Token::Word(w) if w.keyword == Keyword::WHERE)) {
            Some(at) => where_tokens_restrict(&stmt[at + 1..]),
            None => false,
        };
        let rule = match first {
            Keyword::DROP => "DROP",
            Keyword::TRUNCATE => "TRUNCATE",
            Keyword::DELETE if !filters() => "DELETE without WHERE",
            Keyword::UPDATE if !filters() => "UPDATE without WHERE",
            Keyword::ALTER if has(Keyword::DROP) => "ALTER … DROP",
            // `ALTER COLUMN c TYPE int USING NULL` (PostgreSQL): a constant replaces every value.
            Keyword::ALTER if has(Keyword::TYPE) && using_constant(stmt) => "ALTER … DROP",
            // ClickHouse mutations: `ALTER TABLE t DELETE WHERE 1`, `ALTER TABLE t UPDATE c = 0 WHERE 1`.
            Keyword::ALTER if kw(1) == Some(Keyword::TABLE) && has(Keyword::DELETE) && !filters() => "DELETE without WHERE",
            Keyword::ALTER if kw(1) == Some(Keyword::TABLE) && has(Keyword::UPDATE) && !filters() => "UPDATE without WHERE",
            Keyword::INSERT if kw(1) == Some(Keyword::OVERWRITE) => "TRUNCATE",
            Keyword::CREATE
                if kw(1) == Some(Keyword::OR)
                    && kw(2) == Some(Keyword::REPLACE)
                    && words[3..].iter().take(2).any(|(k, _)| *k == Keyword::TABLE)
                    && !has(Keyword::TEMP)
                    && !has(Keyword::TEMPORARY) =>
            {
                "DROP"
            }
            _ => continue,
        };
        let text: Vec<String> = stmt.iter().map(|t| t.to_string()).collect();
        hits.push(Hit { rule, statement: short(&text.concat()) });
    }
    hits
}

/// Last resort for text the tokenizer rejects (an unclosed quote): any
/// statement-starting keyword that destroys data counts.
fn by_words(sql: &str) -> Vec<Hit> {
    let upper = sql.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').filter(|w| !w.is_empty()).collect();
    let rule = if words.contains(&"DROP") {
        "DROP"
    } else if words.contains(&"TRUNCATE") {
        "TRUNCATE"
    } else if words.contains(&"DELETE") && !words.contains(&"WHERE") {
        "DELETE without WHERE"
    } else if words.contains(&"UPDATE") && !words.contains(&"WHERE") {
        "UPDATE without WHERE"
    } else {
        return Vec::new();
    };
    vec![Hit { rule, statement: short(sql) }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(sql: &str) -> Vec<&'static str> {
        destructive(sql).into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn destructive_statements_are_found() {
        assert_eq!(rules("drop table users"), ["DROP"]);
        assert_eq!(rules("SELECT 1; DROP DATABASE shop;"), ["DROP"]);
        assert_eq!(rules("truncate events"), ["TRUNCATE"]);
        assert_eq!(rules("DELETE FROM t"), ["DELETE without WHERE"]);
        assert_eq!(rules("DELETE FROM t WHERE 1=1"), ["DELETE without WHERE"]);
        assert_eq!(rules("update t set a = 1"), ["UPDATE without WHERE"]);
        assert_eq!(rules("ALTER TABLE t DROP COLUMN c"), ["ALTER … DROP"]);
        assert_eq!(rules("DROP TABLE `weird` CASCADE PURGE nonsense("), ["DROP"]);
        assert_eq!(rules("DELETE FROM t WHERE id > 0 OR 1=1"), ["DELETE without WHERE"]);
        assert_eq!(rules("UPDATE t SET a = 1 WHERE (TRUE)"), ["UPDATE without WHERE"]);
        assert_eq!(rules("WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d"), ["DELETE without WHERE"]);
        assert_eq!(rules("PREPARE p AS DELETE FROM t; EXECUTE p"), ["DELETE without WHERE"]);
        assert_eq!(rules("DO $$ BEGIN EXECUTE 'DROP TABLE x'; END $$"), ["DROP"]);
    }

    #[test]
    fn conditions_every_row_passes_are_no_filter() {
        for sql in [
            "DELETE FROM users WHERE now() IS NOT NULL",
            "DELETE FROM users WHERE random() >= 0",
            "DELETE FROM users WHERE length('a') = 1",
            "DELETE FROM users WHERE id IS NOT NULL",
            "DELETE FROM users WHERE id = id",
            "DELETE FROM users WHERE (id >= id)",
            "DELETE FROM users WHERE id IN (SELECT id FROM users)",
            "DELETE FROM users WHERE EXISTS (SELECT 1)",
            "DELETE FROM users WHERE id = 3 OR now() IS NOT NULL",
        ] {
            assert_eq!(rules(sql), ["DELETE without WHERE"], "{sql}");
        }
        assert_eq!(rules("UPDATE users SET a = NULL WHERE id IS NOT NULL"), ["UPDATE without WHERE"]);
    }

    #[test]
    fn code_that_runs_later_is_read() {
        assert_eq!(rules("CREATE FUNCTION f() RETURNS void AS $$ DROP TABLE users $$ LANGUAGE sql; SELECT f()"), ["DROP"]);
        assert_eq!(rules("CREATE PROCEDURE p() LANGUAGE sql AS $$ TRUNCATE users $$; CALL p()"), ["TRUNCATE"]);
        assert_eq!(rules("DO $$BEGIN DELETE FROM users WHERE true; END$$"), ["DELETE without WHERE"]);
        assert_eq!(rules("DO E'BEGIN DROP TABLE users; END'"), ["DROP"]);
        assert_eq!(rules("DO $$BEGIN EXECUTE 'DR' || 'OP TABLE users'; END$$"), [DYNAMIC]);
        assert_eq!(rules("DO $$BEGIN EXECUTE format('DROP TABLE %I', t); END$$"), [DYNAMIC]);
        assert_eq!(rules("DO $$BEGIN EXECUTE 'DELETE FROM t WHERE id = $1' USING 3; END$$"), Vec::<&str>::new());
        assert_eq!(rules("DO $$DECLARE r int; BEGIN FOR r IN 1..2 LOOP TRUNCATE t; END LOOP; END$$"), ["TRUNCATE"]);
        assert_eq!(rules("SELECT dblink_exec('dbname=prod', 'DROP TABLE users')"), ["DROP"]);
        assert_eq!(rules("PREPARE s FROM 'DROP TABLE users'; EXECUTE s"), ["DROP"]);
        assert_eq!(rules("SET @q='DROP TABLE users'; PREPARE s FROM @q; EXECUTE s"), [DYNAMIC]);
        assert_eq!(rules("EXECUTE IMMEDIATE 'TRUNCATE t'"), ["TRUNCATE"]);
    }

    #[test]
    fn statements_that_replace_data() {
        assert_eq!(rules("CREATE OR REPLACE TABLE users AS SELECT 1"), ["DROP"]);
        assert_eq!(rules("INSERT OVERWRITE TABLE events SELECT * FROM empty"), ["TRUNCATE"]);
        assert_eq!(rules("ALTER TABLE events DELETE WHERE 1"), ["DELETE without WHERE"]);
        assert_eq!(rules("ALTER TABLE events UPDATE v = 0 WHERE 1"), ["UPDATE without WHERE"]);
        assert_eq!(rules("ALTER TABLE users ALTER COLUMN email TYPE int USING NULL"), ["ALTER … DROP"]);
    }

    #[test]
    fn look_alikes_are_not() {
        for sql in [
            "DELETE FROM t WHERE id IN (1, 2)",
            "DELETE FROM orders WHERE user_id IN (SELECT id FROM users WHERE banned)",
            "DELETE FROM orders WHERE user_id IN (SELECT id FROM banned_users)",
            "DELETE FROM sessions WHERE created_at < now() - interval '30 days'",
            "DELETE FROM users WHERE lower(email) = 'a@b.c'",
            "DELETE FROM t WHERE id IS NOT NULL AND a = 0",
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.uid)",
            "CREATE FUNCTION add(a int, b int) RETURNS int AS $$ SELECT a + b $$ LANGUAGE sql",
            "CREATE OR REPLACE FUNCTION f() RETURNS TABLE (x int) AS $$ SELECT 1 $$ LANGUAGE sql",
            "CREATE OR REPLACE VIEW v AS SELECT 1",
            "CREATE TABLE f (function text DEFAULT 'DELETE')",
            "ALTER TABLE users ALTER COLUMN age TYPE bigint USING age::bigint",
            "ALTER TABLE events DELETE WHERE ts < '2020-01-01'",
            "INSERT INTO events SELECT * FROM staging",
            "PREPARE s FROM 'SELECT 1'",
            "DO $$BEGIN EXECUTE 'ANALYZE t'; END$$",
            "SELECT dblink_exec('dbname=prod', 'VACUUM users')",
        ] {
            assert!(rules(sql).is_empty(), "{sql}: {:?}", rules(sql));
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for sql in [
            "DO",
            "DO $$",
            "EXECUTE",
            "PREPARE s FROM",
            "CREATE FUNCTION",
            "DELETE FROM t WHERE",
            "ALTER TABLE t ALTER c TYPE int USING",
            "dblink_exec((",
            "'",
        ] {
            let _ = destructive(sql);
        }
        let deep = "DO $$BEGIN EXECUTE 'DO $$'; END$$".repeat(50);
        let _ = destructive(&deep);
    }

    #[test]
    fn ordinary_statements_are_not() {
        for sql in [
            "SELECT 1",
            "select * from drops",
            "DELETE FROM t WHERE id = 3",
            "DELETE FROM t WHERE id = 3 OR id = 4",
            "DELETE FROM t WHERE id = 3 AND 1=1",
            "INSERT INTO t SELECT * FROM u ON CONFLICT (id) DO UPDATE SET a = 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "DO $$ BEGIN RAISE NOTICE 'hi'; END $$",
            "UPDATE t SET a=1 WHERE id=2",
            "INSERT INTO t VALUES (1)",
            "\\dt",
            "",
        ] {
            assert!(rules(sql).is_empty(), "{sql}");
        }
    }
}
