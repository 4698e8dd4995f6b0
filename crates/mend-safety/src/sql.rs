//! SQL read by sqlparser (the Apache DataFusion SQL parser): which
//! statements destroy data. `DROP …`, `TRUNCATE`, `ALTER … DROP …`, and
//! `DELETE`/`UPDATE` without a `WHERE` (or with one that matches every
//! row: `WHERE 1=1`, `WHERE id > 0 OR 1=1`) are destructive, also inside
//! a `WITH` or a `PREPARE`. Text the parser cannot read is split into
//! statements by its tokenizer and judged by their keywords; a `DO` block's
//! code by the words in it.

use sqlparser::ast::{BinaryOperator, Expr, Query, SetExpr, Statement};
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

/// The destructive statements in `sql`, first one first. Never panics.
pub(crate) fn destructive(sql: &str) -> Vec<Hit> {
    let parsed = std::panic::catch_unwind(|| Parser::parse_sql(&GenericDialect {}, sql));
    match parsed {
        Ok(Ok(stmts)) => stmts.iter().filter_map(statement).collect(),
        _ => by_tokens(sql),
    }
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
        Statement::Delete(d) if d.selection.as_ref().is_none_or(|w| !restricts(w)) => "DELETE without WHERE",
        Statement::Update(u) if u.selection.as_ref().is_none_or(|w| !restricts(w)) => "UPDATE without WHERE",
        // `WITH d AS (DELETE FROM t RETURNING *) SELECT …` deletes too.
        // `MERGE … WHEN MATCHED THEN DELETE|UPDATE` acts on every matched row.
        Statement::Merge(_) if upper.contains("THEN DELETE") => "DELETE without WHERE",
        Statement::Merge(_) if upper.contains("THEN UPDATE") => "UPDATE without WHERE",
        Statement::Query(q) => return query(q),
        Statement::Insert(i) => return i.source.as_deref().and_then(query),
        Statement::Prepare { statement: inner, .. } => return statement(inner),
        _ if upper.starts_with("DROP ") => "DROP",
        _ if upper.starts_with("ALTER ") && upper.contains(" DROP ") => "ALTER … DROP",
        _ => return None,
    };
    Some(Hit { rule, statement: short(&text) })
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

/// Whether a `WHERE` condition can leave rows out: it must mention a
/// column (`WHERE 1=1`, `WHERE TRUE`, `WHERE 'a'='a'` match every row),
/// and every side of an `OR` must (`WHERE id > 0 OR 1=1` matches every row).
fn restricts(cond: &Expr) -> bool {
    match cond {
        Expr::BinaryOp { left, op: BinaryOperator::Or, right } => restricts(left) && restricts(right),
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => restricts(left) || restricts(right),
        Expr::Nested(inner) => restricts(inner),
        other => format!("{other:?}").contains("Identifier("),
    }
}

/// For SQL the parser rejects (another dialect, a fragment): statement by
/// statement, by leading keyword.
fn by_tokens(sql: &str) -> Vec<Hit> {
    let Ok(tokens) = std::panic::catch_unwind(|| Tokenizer::new(&GenericDialect {}, sql).tokenize()).unwrap_or(Err(
        sqlparser::tokenizer::TokenizerError { message: "panic".into(), location: sqlparser::tokenizer::Location { line: 0, column: 0 } },
    )) else {
        return by_words(sql);
    };
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
        if *first == Keyword::DO {
            // `DO $$ … $$`: an anonymous block runs now; its code is not SQL the parser reads.
            for t in stmt {
                if let Token::DollarQuotedString(sqlparser::ast::DollarQuotedString { value: code, .. }) | Token::SingleQuotedString(code) =
                    t
                {
                    hits.extend(by_words(code));
                }
            }
            continue;
        }
        let has = |k: Keyword| words.iter().any(|(w, _)| *w == k);
        let rule = match first {
            Keyword::DROP => "DROP",
            Keyword::TRUNCATE => "TRUNCATE",
            Keyword::DELETE if !has(Keyword::WHERE) => "DELETE without WHERE",
            Keyword::UPDATE if !has(Keyword::WHERE) => "UPDATE without WHERE",
            Keyword::ALTER if has(Keyword::DROP) => "ALTER … DROP",
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
