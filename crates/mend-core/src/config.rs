//! The user's config file: defaults every job starts from.
//!
//! `~/.config/mend/config.toml` (or `$MEND_CONFIG`, or `--config FILE`):
//!
//! ```toml
//! secrets = ["DEPLOY_TOKEN"]        # redacted in every job, on top of the job's own
//!
//! [safety]                          # added to every job's [safety]
//! destructive = ['\bpurge\b']
//! allow = []
//! delete_hosts = ["api.prod.example"]   # used when a job names none
//!
//! [approval]                        # for jobs that do not say
//! timeout = "30m"
//! on_timeout = "abort"
//! ```
//!
//! A versioned contract like the job format; errors name file, line and field.

use serde::Deserialize;
use toml::Spanned;

use crate::approval::OnTimeout;
use crate::job::{JobError, JobErrors, line_col, parse_duration_ms};
use crate::safety::{SafetyConfig, SafetyPolicy};

/// Defaults for every job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Environment variables whose values are secrets in every job.
    pub secrets: Vec<String>,
    /// Safety rules added to every job's.
    pub safety: SafetyConfig,
    /// Approval wait for jobs that set none.
    pub approval_timeout_ms: Option<u64>,
    /// What a timeout does, for jobs that set nothing.
    pub on_timeout: Option<OnTimeout>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    safety: Option<Spanned<SafetyConfig>>,
    #[serde(default)]
    approval: RawApproval,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApproval {
    timeout: Option<Spanned<String>>,
    on_timeout: Option<OnTimeout>,
}

impl Config {
    /// Parses a config file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, JobErrors> {
        let err = |span: Option<std::ops::Range<usize>>, field: &str, message: String| {
            let (line, column) = span.map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            JobErrors(vec![JobError { file: file.to_owned(), line, column, field: field.to_owned(), message }])
        };
        let raw: Raw = toml::from_str(text).map_err(|e| err(e.span(), "", e.message().trim().to_owned()))?;
        let safety = match raw.safety {
            Some(s) => {
                SafetyPolicy::new(s.get_ref()).map_err(|e| err(Some(s.span()), "safety", e))?;
                s.into_inner()
            }
            None => SafetyConfig::default(),
        };
        let approval_timeout_ms = match &raw.approval.timeout {
            Some(t) => Some(parse_duration_ms(t.get_ref()).map_err(|e| err(Some(t.span()), "approval.timeout", e))?),
            None => None,
        };
        Ok(Config { secrets: raw.secrets, safety, approval_timeout_ms, on_timeout: raw.approval.on_timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_parses_and_bad_ones_name_the_place() {
        let c = Config::parse(
            "secrets = [\"T\"]\n[safety]\ndestructive = ['purge']\n[approval]\ntimeout = \"30m\"\non_timeout = \"abort\"\n",
            "config.toml",
        )
        .unwrap();
        assert_eq!(c.secrets, vec!["T".to_owned()]);
        assert_eq!(c.safety.destructive, vec!["purge".to_owned()]);
        assert_eq!(c.approval_timeout_ms, Some(1_800_000));
        assert_eq!(c.on_timeout, Some(OnTimeout::Abort));
        let e = Config::parse("[approval]\ntimeout = \"soon\"\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!((e.line, e.field.as_str()), (2, "approval.timeout"));
        let e = Config::parse("\n\nsecretz = []\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!(e.line, 3);
        let e = Config::parse("[safety]\nallow = ['(']\n", "c.toml").unwrap_err().0.remove(0);
        assert_eq!(e.field, "safety");
        assert_eq!(Config::parse("", "c.toml").unwrap(), Config::default());
    }
}
