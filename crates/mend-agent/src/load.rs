//! The user config and job files: read, parsed and checked, with errors that
//! name the file, line and field.

use std::path::{Path, PathBuf};

use mend_core::config::Config;
use mend_core::job::Job;

/// The data directory when none is given: the OS's (`~/.local/share/mend`
/// on Linux), the same for the command line and the desktop app.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "mend").map(|d| d.data_dir().to_path_buf()).unwrap_or_else(|| PathBuf::from(".mend"))
}

/// Job files larger than this are refused (a job is a few kilobytes).
pub const MAX_JOB_BYTES: u64 = 4 << 20;

/// Reads the config file: `path` if given (it must exist), else the OS
/// config directory's `mend/config.toml` if present, else the defaults.
pub fn config(path: Option<&Path>) -> Result<Config, String> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match directories::ProjectDirs::from("", "", "mend") {
            Some(d) => (d.config_dir().join("config.toml"), false),
            None => return Ok(Config::default()),
        },
    };
    if !required && !path.exists() {
        return Ok(Config::default());
    }
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{shown}: {e}"))?;
    Config::parse(&text, &shown).map_err(|e| e.to_string())
}

/// A job file that does not load: every problem in the message (file,
/// line, field), and the place of the first one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    /// What is wrong, each problem with its place.
    pub message: String,
    /// The first problem's place: `file:line:column`, with the field
    /// (`file:line:column steps[0].args.url`) when one is named; the file
    /// alone when it cannot be read.
    pub place: Option<String>,
}

impl LoadError {
    fn io(shown: &str, message: String) -> LoadError {
        LoadError { message, place: Some(shown.to_owned()) }
    }

    /// The same error, its message prefixed with what it stopped
    /// (`cannot resume run R: …`).
    pub fn context(self, what: &str) -> LoadError {
        LoadError { message: format!("{what}: {}", self.message), place: self.place }
    }
}

impl From<mend_core::job::JobErrors> for LoadError {
    fn from(e: mend_core::job::JobErrors) -> Self {
        let place = e.0.first().map(|f| {
            let mut p = f.file.clone();
            if f.line > 0 {
                p.push_str(&format!(":{}:{}", f.line, f.column));
            }
            if !f.field.is_empty() {
                p.push(' ');
                p.push_str(&f.field);
            }
            p
        });
        LoadError { message: e.to_string(), place }
    }
}

/// Reads and checks a job file.
pub fn job(path: &Path, config: &Config, env: &[(String, String)]) -> Result<Job, LoadError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| LoadError::io(&shown, format!("{shown}: {e}")))?;
    if meta.len() > MAX_JOB_BYTES {
        return Err(LoadError::io(&shown, format!("{shown}: {} bytes is too large for a job file (limit {MAX_JOB_BYTES})", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|e| LoadError::io(&shown, format!("{shown}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, col) = mend_core::job::line_col(&String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]), usize::MAX);
        LoadError { message: format!("{shown}:{line}:{col}: the file is not UTF-8 text"), place: Some(format!("{shown}:{line}:{col}")) }
    })?;
    let base = path.parent().map(Path::to_path_buf).filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| PathBuf::from("."));
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    let job = Job::parse_with(&text, &shown, &base, config)?;
    job.check(&shown, &crate::registry(Path::new(mend_journal::FILE_NAME)), env)?;
    Ok(job)
}
