//! SQL read by sqlparser (the Apache DataFusion SQL parser): which
//! statements destroy data. `DROP …`, `TRUNCATE`, `ALTER … DROP …`, and
//! `DELETE`/`UPDATE` without a `WHERE` (or with one that names no column,
//! such as `WHERE 1=1`) are destructive. Text the parser cannot read is
//! split into statements by its tokenizer and judged by their keywords.

use sqlparser::ast::Statement;
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
        Statement::Delete(d) if d.selection.as_ref().is_none_or(|w| !names_a_column(w)) => "DELETE without WHERE",
        Statement::Update(u) if u.selection.as_ref().is_none_or(|w| !names_a_column(w)) => "UPDATE without WHERE",
        _ if upper.starts_with("DROP ") => "DROP",
        _ if upper.starts_with("ALTER ") && upper.contains(" DROP ") => "ALTER … DROP",
        _ => return None,
    };
    Some(Hit { rule, statement: short(&text) })
}

/// Whether a `WHERE` condition mentions a column (an identifier anywhere
/// in it): `WHERE 1=1`, `WHERE TRUE` and `WHERE 'a'='a'` match every row.
fn names_a_column(cond: &sqlparser::ast::Expr) -> bool {
    format!("{cond:?}").contains("Identifier(")
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
    }

    #[test]
    fn ordinary_statements_are_not() {
        for sql in [
            "SELECT 1",
            "select * from drops",
            "DELETE FROM t WHERE id = 3",
            "UPDATE t SET a=1 WHERE id=2",
            "INSERT INTO t VALUES (1)",
            "\\dt",
            "",
        ] {
            assert!(rules(sql).is_empty(), "{sql}");
        }
    }
}
