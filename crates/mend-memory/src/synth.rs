//! Synthetic memory files for tests and benchmarks: many lessons in the
//! file's convention, varied enough that search has work to do.

/// A memory file of `n` lessons over a few dozen sections.
pub fn memory_file(n: usize) -> String {
    const TOOLS: &[&str] = &["http", "exec", "fs", "mcp", "llm"];
    const CODES: &[&str] =
        &["RATE_LIMITED", "SERVER_ERROR", "TIMEOUT", "NOT_FOUND", "CONNECTION_REFUSED", "PERMISSION_DENIED", "ALREADY_EXISTS"];
    const FIXES: &[&str] = &["retry_same", "retry_modified", "use_alternative", "verify_state", "escalate"];
    const WORDS: &[&str] = &[
        "deploy",
        "nightly",
        "backup",
        "invoice",
        "warehouse",
        "mirror",
        "token",
        "quota",
        "cluster",
        "replica",
        "export",
        "staging",
        "gateway",
        "certificate",
        "cron",
        "archive",
        "payment",
        "search",
        "report",
        "upload",
    ];
    let mut out = String::with_capacity(n * 160);
    out.push_str("# Memory\n");
    for i in 0..n {
        if i % 1000 == 0 {
            out.push_str(&format!("\n## service {}\n\n", i / 1000));
        }
        let w = |k: usize| WORDS[(i * 7 + k * 13) % WORDS.len()];
        out.push_str(&format!(
            "- The {} {} job fails on {} {} when the {} is busy; lesson {i}.\n  - when: `{}` `{}` \"host{}.example\"\n  - fix: {}\n  - seen: {} · last: 2026-11-{:02}\n  - id: L{i}\n",
            w(0),
            w(1),
            w(2),
            w(3),
            w(4),
            TOOLS[i % TOOLS.len()],
            CODES[i % CODES.len()],
            i % 97,
            FIXES[i % FIXES.len()],
            1 + i % 9,
            1 + i % 28,
        ));
    }
    out
}
