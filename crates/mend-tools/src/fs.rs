//! `fs`: read (optionally a byte range), write (atomic), edit (replace
//! text), list, find (glob), mkdir and remove.
//!
//! A missing path is `NOT_FOUND` and the tool can search for the right one;
//! a file over `max_bytes` is `TOO_LARGE` and the tool proposes a bounded
//! chunk; `remove` is destructive and needs approval before it runs.

use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use mend_core::safety::Intent;
use mend_core::tool::{CallContext, Effect, Repair, Tool};
use mend_core::{ErrorCode, Outcome, ToolError};
use serde_json::{Value, json};

use crate::ms_since;

/// Default largest file `read` returns whole.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
/// Default cap on `list` and `find` results.
pub const DEFAULT_MAX_RESULTS: u64 = 1000;
/// Entries the path search looks at, at most.
const SEARCH_BUDGET: usize = 20_000;

/// The `fs` tool.
#[derive(Debug, Default, Clone)]
pub struct FsTool;

fn io_error(e: &std::io::Error, path: &Path, doing: &str) -> ToolError {
    let code = match e.kind() {
        ErrorKind::NotFound => ErrorCode::NOT_FOUND,
        ErrorKind::PermissionDenied => ErrorCode::PERMISSION_DENIED,
        ErrorKind::AlreadyExists => ErrorCode::ALREADY_EXISTS,
        ErrorKind::StorageFull => ErrorCode::NO_SPACE,
        ErrorKind::IsADirectory | ErrorKind::NotADirectory | ErrorKind::DirectoryNotEmpty | ErrorKind::InvalidInput => {
            ErrorCode::INVALID_ARGS
        }
        _ => ErrorCode::IO_ERROR,
    };
    let mut te = ToolError::new(code.clone(), format!("{doing} {}: {e}", path.display())).hint("path", path.display().to_string());
    if code == ErrorCode::NOT_FOUND {
        te = te.hint("missing", "path");
    }
    te
}

fn text_of(bytes: &[u8]) -> (String, bool) {
    let binary = bytes.contains(&0) || std::str::from_utf8(bytes).is_err();
    (String::from_utf8_lossy(bytes).into_owned(), binary)
}

/// Writes a file atomically: a temporary file in the same folder, fsync,
/// rename over the target, fsync of the folder.
pub fn write_atomic(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.write_all(content)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn op_read(path: &Path, args: &Value) -> Outcome {
    let max = args.get("max_bytes").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_BYTES);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Outcome::failure(io_error(&e, path, "reading")),
    };
    if meta.is_dir() {
        return Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, format!("{} is a directory: use op = \"list\"", path.display())));
    }
    let size = meta.len();
    let offset = args.get("offset").and_then(Value::as_u64);
    let length = args.get("length").and_then(Value::as_u64);
    if offset.is_none() && length.is_none() && size > max {
        return Outcome::failure(
            ToolError::new(ErrorCode::TOO_LARGE, format!("{} is {size} bytes, over max_bytes {max}", path.display()))
                .hint("size", size)
                .hint("limit", max)
                .hint("path", path.display().to_string()),
        );
    }
    let offset = offset.unwrap_or(0);
    let length = length.unwrap_or(size.saturating_sub(offset)).min(max);
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Outcome::failure(io_error(&e, path, "opening")),
    };
    let mut buf = Vec::with_capacity(length.min(1 << 24) as usize);
    if let Err(e) = f.seek(SeekFrom::Start(offset)).and_then(|_| Read::by_ref(&mut f).take(length).read_to_end(&mut buf)) {
        return Outcome::failure(io_error(&e, path, "reading"));
    }
    let (content, binary) = text_of(&buf);
    let next = offset + buf.len() as u64;
    let mut output = json!({"path": path.display().to_string(), "size": size, "offset": offset, "bytes": buf.len(), "content": content});
    if binary {
        output["binary"] = json!(true);
    }
    if next < size {
        let note = ToolError::new(ErrorCode::TOO_LARGE, format!("read bytes {offset}..{next} of {size}"))
            .hint("next_offset", next)
            .hint("size", size);
        return Outcome::partial(output, note);
    }
    Outcome::success(output)
}

fn op_write(path: &Path, args: &Value) -> Outcome {
    let content = args.get("content").and_then(Value::as_str).unwrap_or("");
    if !args.get("overwrite").and_then(Value::as_bool).unwrap_or(true) && path.exists() {
        return Outcome::failure(
            ToolError::new(ErrorCode::ALREADY_EXISTS, format!("{} already exists (overwrite = false)", path.display()))
                .hint("path", path.display().to_string()),
        );
    }
    if args.get("create_dirs").and_then(Value::as_bool).unwrap_or(false)
        && let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return Outcome::failure(io_error(&e, dir, "creating"));
    }
    match write_atomic(path, content.as_bytes()) {
        Ok(()) => Outcome::success(json!({"path": path.display().to_string(), "bytes": content.len()})),
        Err(e) => Outcome::failure(io_error(&e, path, "writing")),
    }
}

fn op_edit(path: &Path, args: &Value) -> Outcome {
    let old = args.get("old").and_then(Value::as_str).unwrap_or("");
    let new = args.get("new").and_then(Value::as_str).unwrap_or("");
    let want = args.get("count").and_then(Value::as_u64).unwrap_or(1);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Outcome::failure(io_error(&e, path, "reading")),
    };
    if old.is_empty() {
        return Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, "`old` cannot be empty"));
    }
    let found = text.matches(old).count() as u64;
    if found == 0 {
        return Outcome::failure(
            ToolError::new(ErrorCode::NOT_FOUND, format!("the text to replace is not in {}", path.display())).hint("missing", "text"),
        );
    }
    if found != want {
        return Outcome::failure(ToolError::new(
            ErrorCode::INVALID_ARGS,
            format!("the text to replace occurs {found} times in {}, expected {want} (set `count`)", path.display()),
        ));
    }
    match write_atomic(path, text.replace(old, new).as_bytes()) {
        Ok(()) => Outcome::success(json!({"path": path.display().to_string(), "replaced": found})),
        Err(e) => Outcome::failure(io_error(&e, path, "writing")),
    }
}

fn op_list(path: &Path, args: &Value) -> Outcome {
    let max = args.get("max_results").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_RESULTS) as usize;
    let rd = match std::fs::read_dir(path) {
        Ok(r) => r,
        Err(e) => return Outcome::failure(io_error(&e, path, "listing")),
    };
    let mut entries: Vec<Value> = Vec::new();
    let mut total = 0usize;
    for entry in rd.flatten() {
        total += 1;
        if entries.len() < max {
            let meta = entry.metadata().ok();
            let kind = match &meta {
                Some(m) if m.is_dir() => "dir",
                Some(m) if m.is_symlink() => "symlink",
                _ => "file",
            };
            entries.push(json!({"name": entry.file_name().to_string_lossy(), "kind": kind, "size": meta.map(|m| m.len()).unwrap_or(0)}));
        }
    }
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Outcome::success(json!({"path": path.display().to_string(), "entries": entries, "total": total, "truncated": total > max}))
}

fn op_find(root: &Path, args: &Value) -> Outcome {
    let pattern = args.get("pattern").and_then(Value::as_str).unwrap_or("*");
    let max = args.get("max_results").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_RESULTS) as usize;
    let glob = match globset::GlobBuilder::new(pattern).literal_separator(false).build() {
        Ok(g) => g.compile_matcher(),
        Err(e) => return Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, format!("bad glob `{pattern}`: {e}"))),
    };
    if let Err(e) = std::fs::metadata(root) {
        return Outcome::failure(io_error(&e, root, "searching"));
    }
    let mut matches = Vec::new();
    let mut truncated = false;
    for entry in walkdir::WalkDir::new(root).max_depth(16).into_iter().flatten() {
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if glob.is_match(rel) || glob.is_match(entry.file_name()) {
            if matches.len() >= max {
                truncated = true;
                break;
            }
            matches.push(json!(entry.path().display().to_string()));
        }
    }
    Outcome::success(json!({"root": root.display().to_string(), "pattern": pattern, "matches": matches, "truncated": truncated}))
}

fn op_mkdir(path: &Path, args: &Value) -> Outcome {
    let parents = args.get("parents").and_then(Value::as_bool).unwrap_or(false);
    let exist_ok = args.get("exist_ok").and_then(Value::as_bool).unwrap_or(false);
    if path.is_dir() && exist_ok {
        return Outcome::success(json!({"path": path.display().to_string(), "created": false}));
    }
    let r = if parents && !path.exists() { std::fs::create_dir_all(path) } else { std::fs::create_dir(path) };
    match r {
        Ok(()) => Outcome::success(json!({"path": path.display().to_string(), "created": true})),
        Err(e) => Outcome::failure(io_error(&e, path, "creating")),
    }
}

fn op_remove(path: &Path, args: &Value) -> Outcome {
    let recursive = args.get("recursive").and_then(Value::as_bool).unwrap_or(false);
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return Outcome::failure(io_error(&e, path, "removing")),
    };
    let r = if meta.is_dir() {
        if recursive { std::fs::remove_dir_all(path) } else { std::fs::remove_dir(path) }
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Ok(()) => Outcome::success(json!({"path": path.display().to_string(), "removed": true})),
        Err(e) => Outcome::failure(io_error(&e, path, "removing")),
    }
}

/// Files near a missing path whose names match it best: the same name
/// elsewhere, a different case, or a small typo. Best first, at most `n`.
pub fn search_near(missing: &Path, want_dir: bool, n: usize) -> Vec<PathBuf> {
    search_near_within(missing, None, want_dir, n)
}

/// [`search_near`], never looking above `floor` (a job's folder, for a
/// path the job wrote relative to it: a sibling job's files are never
/// proposed).
pub fn search_near_within(missing: &Path, floor: Option<&Path>, want_dir: bool, n: usize) -> Vec<PathBuf> {
    let Some(name) = missing.file_name().map(|s| s.to_string_lossy().into_owned()) else { return vec![] };
    // The nearest folder that exists; one more level up so a wrong folder is found too.
    let mut root = missing.parent().map(Path::to_path_buf);
    while let Some(r) = &root {
        if r.is_dir() {
            break;
        }
        root = r.parent().map(Path::to_path_buf);
    }
    let Some(mut root) = root else { return vec![] };
    if root == missing.parent().unwrap_or(Path::new(""))
        && let Some(up) = root.parent()
        && up.parent().is_some()
        && floor.is_none_or(|f| up.starts_with(f))
    {
        root = up.to_path_buf();
    }
    let lower = name.to_lowercase();
    let stem = Path::new(&lower).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut scored: Vec<(usize, usize, PathBuf)> = Vec::new();
    for entry in walkdir::WalkDir::new(&root).max_depth(4).into_iter().flatten().take(SEARCH_BUDGET) {
        if entry.file_type().is_dir() != want_dir || entry.path() == missing {
            continue;
        }
        let cand = entry.file_name().to_string_lossy().to_lowercase();
        let score = if cand == lower {
            if entry.file_name().to_string_lossy() == name { 0 } else { 1 }
        } else {
            let d = strsim::levenshtein(&cand, &lower);
            let cstem = Path::new(&cand).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if d <= 2 && lower.len() > 3 {
                2 + d
            } else if !stem.is_empty() && cstem == stem {
                6
            } else {
                continue;
            }
        };
        scored.push((score, entry.depth(), entry.into_path()));
    }
    scored.sort();
    scored.into_iter().take(n).map(|(_, _, p)| p).collect()
}

/// The paths [`search_near`] finds for `raw` (a path as the job wrote it,
/// relative to `base`), each as the job would write it — a relative path
/// stays relative to `base` — with the repair's reason. Best first, at most
/// `n`. Shared by the `fs` and `exec` repairs, so both propose the same
/// paths in the same words (issue 14).
pub(crate) async fn near_paths(raw: &str, base: &Path, want_dir: bool, n: usize) -> Vec<(String, String)> {
    let missing = base.join(raw);
    // A path written relative to the job's folder is looked for inside it.
    let floor = Path::new(raw).is_relative().then(|| base.to_path_buf());
    let found = tokio::task::spawn_blocking(move || search_near_within(&missing, floor.as_deref(), want_dir, n)).await.unwrap_or_default();
    found
        .into_iter()
        .take(n)
        .map(|p| {
            // Keep the path relative when the job wrote it relative.
            let shown = if Path::new(raw).is_relative() { p.strip_prefix(base).unwrap_or(&p).to_path_buf() } else { p.clone() };
            let shown = shown.display().to_string();
            let reason = format!("{raw} does not exist; found {shown} nearby");
            (shown, reason)
        })
        .collect()
}

fn resolve(ctx: &CallContext, p: &str) -> PathBuf {
    ctx.base_dir.join(p)
}

#[async_trait]
impl Tool for FsTool {
    fn name(&self) -> &str {
        "fs"
    }

    fn description(&self) -> &str {
        "Read (ranges), write atomically, edit, list, find, mkdir and remove files"
    }

    fn schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "op": {"enum": ["read", "write", "edit", "list", "find", "mkdir", "remove"]},
                "path": {"type": "string", "minLength": 1},
                "offset": {"type": "integer", "minimum": 0},
                "length": {"type": "integer", "minimum": 1},
                "max_bytes": {"type": "integer", "minimum": 1},
                "content": {"type": "string"},
                "overwrite": {"type": "boolean"},
                "create_dirs": {"type": "boolean"},
                "old": {"type": "string", "minLength": 1},
                "new": {"type": "string"},
                "count": {"type": "integer", "minimum": 1},
                "pattern": {"type": "string", "minLength": 1},
                "max_results": {"type": "integer", "minimum": 1},
                "parents": {"type": "boolean"},
                "exist_ok": {"type": "boolean"},
                "recursive": {"type": "boolean"}
            },
            "required": ["op", "path"],
            "additionalProperties": false,
            "allOf": [
                {"if": {"properties": {"op": {"const": "write"}}}, "then": {"required": ["content"]}},
                {"if": {"properties": {"op": {"const": "edit"}}}, "then": {"required": ["old", "new"]}},
                {"if": {"properties": {"op": {"const": "find"}}}, "then": {"required": ["pattern"]}}
            ]
        })
    }

    fn render(&self, args: &Value) -> String {
        let op = args.get("op").and_then(Value::as_str).unwrap_or("?");
        let path = args.get("path").and_then(Value::as_str).unwrap_or("?");
        match op {
            "remove" if args.get("recursive").and_then(Value::as_bool).unwrap_or(false) => format!("remove -r {path}"),
            "find" => format!("find {path} {}", args.get("pattern").and_then(Value::as_str).unwrap_or("")),
            _ => format!("{op} {path}"),
        }
    }

    fn effect(&self, args: &Value) -> Effect {
        match args.get("op").and_then(Value::as_str) {
            Some("read" | "list" | "find") => Effect::ReadOnly,
            Some("remove") => Effect::Destructive,
            _ => Effect::Mutating,
        }
    }

    /// Doing it twice leaves what doing it once does (issue 14): reads,
    /// `write` (the same content), `mkdir`, `remove`. `edit` is not: a
    /// second replacement can change the text again.
    fn idempotent(&self, args: &Value) -> bool {
        matches!(args.get("op").and_then(Value::as_str), Some("read" | "list" | "find" | "write" | "mkdir" | "remove"))
    }

    fn intent(&self, args: &Value, base_dir: &std::path::Path) -> Intent {
        let p = args.get("path").and_then(Value::as_str).unwrap_or("");
        Intent::Fs {
            op: args.get("op").and_then(Value::as_str).unwrap_or("").to_owned(),
            path: base_dir.join(p),
            // As the call runs it: `write` replaces an existing file unless
            // told not to (red team: the gate once read the default as false).
            overwrite: args.get("overwrite").and_then(Value::as_bool).unwrap_or(true),
        }
    }

    async fn call(&self, args: &Value, ctx: &CallContext) -> Outcome {
        let t0 = Instant::now();
        let op = args.get("op").and_then(Value::as_str).unwrap_or("").to_owned();
        let path = resolve(ctx, args.get("path").and_then(Value::as_str).unwrap_or(""));
        let a = args.clone();
        let r = tokio::task::spawn_blocking(move || match op.as_str() {
            "read" => op_read(&path, &a),
            "write" => op_write(&path, &a),
            "edit" => op_edit(&path, &a),
            "list" => op_list(&path, &a),
            "find" => op_find(&path, &a),
            "mkdir" => op_mkdir(&path, &a),
            "remove" => op_remove(&path, &a),
            other => Outcome::failure(ToolError::new(ErrorCode::INVALID_ARGS, format!("unknown op `{other}`"))),
        })
        .await;
        match r {
            Ok(o) => o.timed(ms_since(t0)),
            Err(e) => Outcome::failure(ToolError::new(ErrorCode::INTERNAL, format!("fs task failed: {e}"))).timed(ms_since(t0)),
        }
    }

    async fn repairs(&self, args: &Value, error: &ToolError, ctx: &CallContext) -> Vec<Repair> {
        let op = args.get("op").and_then(Value::as_str).unwrap_or("");
        let raw = args.get("path").and_then(Value::as_str).unwrap_or("");
        if error.code == ErrorCode::TOO_LARGE && op == "read" {
            let limit = error.hints.get("limit").and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_BYTES);
            let mut a = args.clone();
            a["offset"] = json!(0);
            a["length"] = json!(limit);
            return vec![Repair { args: a, reason: format!("read the first {limit} bytes as a chunk (the result is partial)") }];
        }
        if error.code != ErrorCode::NOT_FOUND || error.hints.get("missing").and_then(Value::as_str) != Some("path") {
            return vec![];
        }
        match op {
            "write" => {
                let mut a = args.clone();
                a["create_dirs"] = json!(true);
                vec![Repair { args: a, reason: "create the missing folders first".into() }]
            }
            "mkdir" => {
                let mut a = args.clone();
                a["parents"] = json!(true);
                vec![Repair { args: a, reason: "create the missing parent folders too".into() }]
            }
            _ => near_paths(raw, &ctx.base_dir, matches!(op, "list" | "find"), 3)
                .await
                .into_iter()
                .map(|(shown, reason)| {
                    let mut a = args.clone();
                    a["path"] = json!(shown);
                    Repair { args: a, reason }
                })
                .collect(),
        }
    }
}
