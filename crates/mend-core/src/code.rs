//! Stable error codes: a documented, closed-but-extensible list.
//!
//! Every failure carries a SCREAMING_SNAKE code that lessons, metrics and
//! dashboards key on. The codes below are known to the built-in policy; a
//! tool or a remote service may report any other well-formed code, which is
//! treated as a non-retryable, recoverable error until a lesson says more.
//! `docs/error-codes.md` is generated from [`KNOWN`] (see `mend codes`).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::outcome::Severity;

/// A stable machine code for a failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(Cow<'static, str>);

/// What the built-in policy does first for a code, before metrics reorder it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPolicy {
    /// `retry_same` with exponential backoff and jitter, honouring Retry-After.
    Backoff,
    /// `retry_modified` with a longer timeout, then backoff.
    LongerTimeout,
    /// `retry_modified` with a corrected path found by searching.
    PathSearch,
    /// `retry_modified` reading in chunks.
    Chunked,
    /// `verify_state`: the goal may already hold.
    Verify,
    /// `use_alternative`: the step's declared alternatives.
    Alternatives,
    /// `escalate` to a person with options.
    Escalate,
}

impl DefaultPolicy {
    /// One line for the code table.
    pub fn describe(self) -> &'static str {
        match self {
            DefaultPolicy::Backoff => {
                "retry_same with exponential backoff and equal jitter (Retry-After honoured); then alternatives; then escalate"
            }
            DefaultPolicy::LongerTimeout => {
                "retry_modified with the timeout doubled, or retry_same with backoff; then alternatives; then escalate (a call not safe to repeat: verify_state, then a person)"
            }
            DefaultPolicy::PathSearch => {
                "retry_modified with the path found by searching near the missing one; then alternatives; then escalate"
            }
            DefaultPolicy::Chunked => "retry_modified reading a bounded chunk (result is partial); then escalate",
            DefaultPolicy::Verify => {
                "verify_state with the step's verify call (success if the goal already holds); then alternatives; then escalate"
            }
            DefaultPolicy::Alternatives => "use_alternative (declared alternatives in order); then escalate",
            DefaultPolicy::Escalate => "escalate to a person with options; never retried blindly",
        }
    }
}

/// What a known code means and how it is treated by default.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    /// The code itself.
    pub code: &'static str,
    /// What it means, for the code table.
    pub meaning: &'static str,
    /// The same call may work later.
    pub retryable: bool,
    /// Another call may work.
    pub recoverable: bool,
    /// Default urgency.
    pub severity: Severity,
    /// What the built-in policy tries first.
    pub policy: DefaultPolicy,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident => $meaning:literal, $retry:literal, $recover:literal, $sev:ident, $policy:ident; )*) => {
        impl ErrorCode {
            $( $(#[$doc])* pub const $name: ErrorCode = ErrorCode(Cow::Borrowed(stringify!($name))); )*
        }
        /// Every known code, in documentation order.
        pub const KNOWN: &[CodeInfo] = &[
            $( CodeInfo {
                code: stringify!($name),
                meaning: $meaning,
                retryable: $retry,
                recoverable: $recover,
                severity: Severity::$sev,
                policy: DefaultPolicy::$policy,
            }, )*
        ];
    };
}

codes! {
    /// The call did not finish within its time limit.
    TIMEOUT => "The call did not finish within its time limit (the process group was killed, or the request abandoned).", true, true, Warning, LongerTimeout;
    /// Nothing listens at the address.
    CONNECTION_REFUSED => "Nothing accepted the connection: the service is down or restarting.", true, true, Warning, Backoff;
    /// The peer dropped the connection mid-exchange.
    CONNECTION_RESET => "The connection was dropped before a complete answer arrived.", true, true, Warning, Backoff;
    /// The host name did not resolve.
    DNS_FAILURE => "The host name did not resolve (a typo, or a resolver outage).", false, true, Error, Alternatives;
    /// The TLS handshake or certificate check failed.
    TLS_FAILURE => "The TLS handshake or certificate verification failed.", false, true, Error, Alternatives;
    /// Too many requests; a quota was hit.
    RATE_LIMITED => "The service asked us to slow down (HTTP 429 or a quota message); Retry-After is honoured.", true, true, Warning, Backoff;
    /// The remote side failed.
    SERVER_ERROR => "The remote service failed (HTTP 5xx).", true, true, Warning, Backoff;
    /// A 409 that is not about existence.
    CONFLICT => "The request conflicts with the current state (HTTP 409, optimistic concurrency).", true, true, Warning, Backoff;
    /// A resource is held by another process for now.
    BUSY => "A resource is busy or held by another process (EAGAIN, EBUSY, ETXTBSY, a held lock such as git's `index.lock` or dpkg's): waiting usually clears it.", true, true, Warning, Backoff;
    /// An error reported inside a successful-looking answer.
    REMOTE_ERROR => "The answer looked successful (HTTP 2xx) but its body reports an error.", false, true, Error, Alternatives;
    /// The answer could not be understood.
    INVALID_RESPONSE => "The answer was not in the expected form (bad JSON, missing field).", false, true, Error, Alternatives;
    /// Credentials are missing or wrong.
    UNAUTHORIZED => "Credentials are missing, wrong or expired (HTTP 401, authentication failed).", false, false, Error, Escalate;
    /// The caller may not do this.
    PERMISSION_DENIED => "The operation is not permitted (HTTP 403, EACCES, EPERM).", false, false, Error, Escalate;
    /// A file, URL or resource is not there.
    NOT_FOUND => "A file, URL or resource is not there (ENOENT, HTTP 404).", false, true, Error, PathSearch;
    /// The program to run does not exist.
    COMMAND_NOT_FOUND => "The program to run was not found on PATH or at the given path.", false, true, Error, Alternatives;
    /// The target already exists.
    ALREADY_EXISTS => "The target already exists (EEXIST, HTTP 409 'already exists'); the goal may already hold.", false, true, Warning, Verify;
    /// Over a size limit.
    TOO_LARGE => "The input or output is over a size limit (HTTP 413, a file over max_bytes).", false, true, Warning, Chunked;
    /// The arguments are wrong.
    INVALID_ARGS => "The arguments are invalid (schema violation, HTTP 400/422, a usage error).", false, false, Error, Escalate;
    /// Another HTTP 4xx status.
    HTTP_ERROR => "Another HTTP client error status (4xx not listed above).", false, true, Error, Alternatives;
    /// A command exited non-zero with no better explanation.
    NON_ZERO_EXIT => "A command exited with a non-zero status and no recognisable cause; not retried unless the step opts in (`retry.on`).", false, true, Error, Alternatives;
    /// A command was killed by a signal it did not expect.
    KILLED_BY_SIGNAL => "A command was killed by a signal (OOM killer, external kill).", false, true, Error, Alternatives;
    /// The disk is full.
    NO_SPACE => "No space left on the device.", false, false, Critical, Escalate;
    /// A program could not be started.
    SPAWN_FAILED => "The program could not be started for another reason (bad executable format, resource limits).", false, false, Error, Escalate;
    /// Other I/O failures.
    IO_ERROR => "Another input/output failure.", false, true, Error, Alternatives;
    /// The MCP server does not answer.
    MCP_SERVER_UNREACHABLE => "The MCP server could not be started or stopped answering.", true, true, Error, Backoff;
    /// The server has no such tool.
    MCP_TOOL_NOT_FOUND => "The MCP server has no tool of that name (its tools/list is read again once); use an alternative or ask.", false, true, Error, Alternatives;
    /// The tool ran and reported a failure the classifiers do not recognise.
    MCP_TOOL_ERROR => "An MCP tool answered with `isError: true` and a message no classifier recognises.", false, true, Error, Alternatives;
    /// A policy or a person refused the call.
    BLOCKED => "The call was refused before it ran: the safety policy or a person said no.", false, false, Critical, Escalate;
    /// The loop gave up: a guardrail budget ran out.
    BUDGET_EXHAUSTED => "A guardrail budget ran out (attempts, wall clock, tokens).", false, false, Error, Escalate;
    /// A bug in Mend itself.
    INTERNAL => "A bug in Mend itself: the tool could not report a proper outcome.", false, false, Critical, Escalate;
}

impl ErrorCode {
    /// A code from a string, checked to be SCREAMING_SNAKE.
    pub fn parse(s: &str) -> Result<ErrorCode, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(format!("`{s}` is not an error code: use SCREAMING_SNAKE, e.g. CONNECTION_REFUSED"));
        }
        Ok(KNOWN
            .iter()
            .find(|i| i.code == s)
            .map(|i| ErrorCode(Cow::Borrowed(i.code)))
            .unwrap_or_else(|| ErrorCode(Cow::Owned(s.to_owned()))))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the built-in table knows this code.
    pub fn is_known(&self) -> bool {
        KNOWN.iter().any(|i| i.code == self.as_str())
    }

    /// What the code means and its default treatment. Unknown codes are
    /// non-retryable, recoverable errors whose policy is alternatives.
    pub fn info(&self) -> CodeInfo {
        KNOWN.iter().find(|i| i.code == self.as_str()).copied().unwrap_or(CodeInfo {
            code: "",
            meaning: "A code this version of Mend does not know.",
            retryable: false,
            recoverable: true,
            severity: Severity::Error,
            policy: DefaultPolicy::Alternatives,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ErrorCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The code table as markdown: the body of `docs/error-codes.md`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated from `crates/mend-core/src/code.rs` by `mend codes --markdown`; \
         a test fails when this file and the table differ \
         (regenerate with `MEND_BLESS=1 cargo test -p mend-core`).\n\n\
         Every failed outcome carries one of these codes. The list is closed but \
         extensible: a tool or a remote service may report any other SCREAMING_SNAKE \
         code, which is treated as a non-retryable, recoverable error.\n\n\
         **Unknown fate (issue 14).** `TIMEOUT`, `CONNECTION_RESET` and `KILLED_BY_SIGNAL` \
         mean the call may have done its work before it failed (unless the tool knows the \
         request never left: a failure while connecting, a 408), and so does any failure \
         the tool marks `in_doubt` (an answer that could not be read, a 500, 502 or 504, \
         a redirect's target failing after the request was answered). A call that is not safe to repeat \
         (an HTTP `POST` or `PATCH`, RFC 9110 §9.2.2; an `fs` `edit`; any `exec` command \
         unless its step says `idempotent = true`) is then never sent again — by the policy, \
         a lesson, a model, a remembered decision or an alternative that does the same \
         work — until the step's verify call answers that the goal does not hold \
         (`NOT_FOUND`, `NON_ZERO_EXIT`, `REMOTE_ERROR` or `HTTP_ERROR`) or a person \
         chooses \"Send it again\". A step with an `idempotency_key` is safe to repeat: \
         the same key goes with every attempt. See `docs/job-format.md`.\n\n\
         | code | meaning | retryable | recoverable | severity | default policy |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for i in KNOWN {
        let sev = match i.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            i.code,
            i.meaning,
            i.retryable,
            i.recoverable,
            sev,
            i.policy.describe()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_parse_to_themselves() {
        for i in KNOWN {
            let c = ErrorCode::parse(i.code).unwrap();
            assert_eq!(c.as_str(), i.code);
            assert!(c.is_known());
        }
    }

    #[test]
    fn custom_codes_are_accepted_and_bad_ones_rejected() {
        let c = ErrorCode::parse("QUOTA_EXCEEDED_2").unwrap();
        assert!(!c.is_known());
        assert!(!c.info().retryable);
        assert!(ErrorCode::parse("lower_case").is_err());
        assert!(ErrorCode::parse("").is_err());
        assert!(ErrorCode::parse("9LIVES").is_err());
    }

    #[test]
    fn error_code_doc_matches_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/error-codes.md");
        let want = markdown_table();
        // The file goes on with sections generated elsewhere (the
        // commands table, from mend-tools): this table is what comes before.
        let file = std::fs::read_to_string(path).unwrap_or_default();
        let rest = file.find("\n<!-- ").map(|i| &file[i..]).unwrap_or("");
        if std::env::var_os("MEND_BLESS").is_some() {
            std::fs::write(path, format!("{want}{rest}")).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have.strip_suffix(rest) == Some(want.as_str()), "docs/error-codes.md is stale: run MEND_BLESS=1 cargo test -p mend-core");
    }
}
