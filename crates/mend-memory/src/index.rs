//! The search index of the lessons: a tantivy index in the data directory,
//! derived from MEMORY.md and rebuilt from it whenever it is missing,
//! corrupt, from an older schema, or from another version of the file.
//!
//! One [`LessonIndex`] owns the index writer. Search is BM25 over the
//! lesson's text, its section and its failure (tool, code, match text), with
//! typo-tolerant terms on the text, filters by tool and code, and snippets
//! with the matched byte ranges. [`LessonIndex::sync`] re-indexes only the
//! lessons that changed between two versions of the file, in one commit.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::{Lesson, Memory};

/// Bumped whenever the fields change: an index of another schema is rebuilt.
pub const SCHEMA_VERSION: u32 = 2;

const META: &str = "mend-index.json";

fn is_locked(e: &tantivy::TantivyError) -> bool {
    matches!(e, tantivy::TantivyError::LockFailure(..))
}

impl IndexError {
    /// Another process holds the folder's writer right now.
    fn is_busy(&self) -> bool {
        matches!(self, IndexError::Tantivy { source, .. } if is_locked(source))
    }
}

/// The index failed in a way a rebuild does not fix.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed.
    #[error("{path}: {source}")]
    Tantivy {
        /// The index folder.
        path: String,
        /// The error.
        source: tantivy::TantivyError,
    },
    /// The folder cannot be used.
    #[error("{path}: {source}")]
    Io {
        /// The index folder.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Narrows a search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only lessons for this tool.
    pub tool: Option<String>,
    /// Only lessons for this error code.
    pub code: Option<String>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The lesson's id.
    pub id: String,
    /// Its section.
    pub section: String,
    /// BM25 score.
    pub score: f32,
    /// A fragment of the text around the matches.
    pub snippet: String,
    /// Byte ranges of the matches within `snippet`.
    pub highlights: Vec<Range<usize>>,
    /// What the index keeps of the lesson for showing it without parsing
    /// the file (schema 2, issue 13): `{"line", "first", "when", "fix",
    /// "seen", "failures"}`. `line` is where it was when indexed (an edit
    /// above it may have moved it: check that line holds `first`, the
    /// start of its text).
    pub info: serde_json::Value,
}

/// What the index keeps of a lesson to show it without the file (see
/// [`Hit::info`]).
pub fn info_of(l: &Lesson) -> serde_json::Value {
    let first: String = l.text.lines().next().unwrap_or("").chars().take(40).collect();
    serde_json::json!({
        "line": l.line, "first": first, "when": l.when, "fix": l.fix, "seen": l.provenance.seen, "failures": l.provenance.failures,
    })
}

struct Fields {
    id: Field,
    section: Field,
    text: Field,
    failure: Field,
    tool: Field,
    code: Field,
    info: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        section: b.add_text_field("section", TEXT | STORED),
        text: b.add_text_field("text", TEXT | STORED),
        failure: b.add_text_field("failure", TEXT),
        tool: b.add_text_field("tool", STRING),
        code: b.add_text_field("code", STRING),
        info: b.add_text_field("info", STORED),
    };
    (b.build(), fields)
}

/// The index and its one writer.
pub struct LessonIndex {
    dir: PathBuf,
    /// Kept in memory only: another process holds the folder's writer.
    in_ram: bool,
    index: Index,
    reader: IndexReader,
    /// `None` for a read-only snapshot ([`open_current`](Self::open_current)).
    writer: Option<IndexWriter>,
    f: Fields,
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Meta {
    schema: u32,
    file_version: u64,
}

impl LessonIndex {
    /// Opens the index in `dir` for the file `memory` was parsed from
    /// (`file_version`), rebuilding it when it is missing, unreadable, of
    /// another schema, or of another version of the file. Returns whether
    /// it was rebuilt.
    ///
    /// Processes opening it at once (twenty `mend memory add`s, the desktop
    /// app and a run) rebuild it one at a time, under a lock file beside
    /// the folder; one that finds the folder's writer taken waits a little,
    /// then indexes in memory (issue 13): opening never fails because
    /// another process is using the index.
    pub fn open(dir: &Path, memory: &Memory, file_version: u64) -> Result<(LessonIndex, bool), IndexError> {
        for attempt in 0..5u64 {
            match Self::try_open(dir, memory, file_version) {
                Err(e) if e.is_busy() => std::thread::sleep(std::time::Duration::from_millis(10 * (attempt + 1))),
                other => return other,
            }
        }
        Self::in_ram(dir, memory)
    }

    fn try_open(dir: &Path, memory: &Memory, file_version: u64) -> Result<(LessonIndex, bool), IndexError> {
        let io = |source| IndexError::Io { path: dir.display().to_string(), source };
        let mut lock_path = dir.as_os_str().to_owned();
        lock_path.push(".rebuild-lock");
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io)?;
        lock.lock().map_err(io)?;
        let out = Self::open_locked(dir, memory, file_version);
        let _ = lock.unlock();
        out
    }

    fn open_locked(dir: &Path, memory: &Memory, file_version: u64) -> Result<(LessonIndex, bool), IndexError> {
        let meta_ok = std::fs::read(dir.join(META))
            .ok()
            .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
            .is_some_and(|m| m == Meta { schema: SCHEMA_VERSION, file_version });
        let existing = if meta_ok { Some(Self::open_existing(dir)) } else { None };
        match existing {
            Some(Ok(idx)) => return Ok((idx, false)),
            Some(Err(e)) if is_locked(&e) => return Self::in_ram(dir, memory),
            _ => {}
        }
        // The folder's writer is held by another Mend process (the desktop
        // app while `mend` runs): index in memory rather than fail.
        if Self::locked_elsewhere(dir) {
            return Self::in_ram(dir, memory);
        }
        let mut idx = Self::create(dir)?;
        idx.rebuild(memory, file_version)?;
        Ok((idx, true))
    }

    fn locked_elsewhere(dir: &Path) -> bool {
        Index::open_in_dir(dir).is_ok_and(|i| i.writer::<TantivyDocument>(15_000_000).err().is_some_and(|e| is_locked(&e)))
    }

    fn in_ram(dir: &Path, memory: &Memory) -> Result<(LessonIndex, bool), IndexError> {
        let (schema, f) = schema();
        let tv = |source| IndexError::Tantivy { path: dir.display().to_string(), source };
        let mut idx = Self::with(dir, Index::create_in_ram(schema), f).map_err(tv)?;
        idx.in_ram = true;
        idx.rebuild(memory, 0)?;
        Ok((idx, true))
    }

    /// Whether the index lives in memory only (another process holds the
    /// index folder's writer).
    pub fn is_in_ram(&self) -> bool {
        self.in_ram
    }

    fn tantivy(&self, source: tantivy::TantivyError) -> IndexError {
        IndexError::Tantivy { path: self.dir.display().to_string(), source }
    }

    fn open_existing(dir: &Path) -> Result<LessonIndex, tantivy::TantivyError> {
        let (schema, f) = schema();
        let index = Index::open_in_dir(dir)?;
        if index.schema() != schema {
            return Err(tantivy::TantivyError::SchemaError("another schema".into()));
        }
        Self::with(dir, index, f)
    }

    fn with(dir: &Path, index: Index, f: Fields) -> Result<LessonIndex, tantivy::TantivyError> {
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer(50_000_000)?;
        Ok(LessonIndex { dir: dir.to_path_buf(), in_ram: false, index, reader, writer: Some(writer), f })
    }

    fn create(dir: &Path) -> Result<LessonIndex, IndexError> {
        let io = |source| IndexError::Io { path: dir.display().to_string(), source };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let (schema, f) = schema();
        let tv = |source| IndexError::Tantivy { path: dir.display().to_string(), source };
        let index = Index::create_in_dir(dir, schema).map_err(tv)?;
        Self::with(dir, index, f).map_err(tv)
    }

    fn document(&self, l: &Lesson) -> TantivyDocument {
        let failure = [l.when.tool.as_deref().unwrap_or(""), l.when.code.as_deref().unwrap_or(""), &l.when.matches.join(" ")].join(" ");
        let mut d = doc!(
            self.f.id => l.id.clone(),
            self.f.section => l.section.clone(),
            self.f.text => l.text.clone(),
            self.f.failure => failure,
        );
        if let Some(t) = &l.when.tool {
            d.add_text(self.f.tool, t.to_ascii_lowercase());
        }
        if let Some(c) = &l.when.code {
            d.add_text(self.f.code, c.to_ascii_uppercase());
        }
        d.add_text(self.f.info, info_of(l).to_string());
        d
    }

    /// The writer, unless this is a read-only snapshot.
    fn w(&mut self) -> Result<&mut IndexWriter, IndexError> {
        let path = self.dir.display().to_string();
        self.writer.as_mut().ok_or_else(|| IndexError::Io { path, source: std::io::Error::other("the index is open read-only") })
    }

    /// The index as it is on disk, read-only and without taking its writer,
    /// if it was built from exactly this version of the file (`file_version`
    /// = [`crate::store::Version`] of its bytes) with this schema; `None`
    /// otherwise (then [`open`](Self::open) rebuilds it). What `mend memory
    /// search` uses so a search does not parse the file (issue 13).
    pub fn open_current(dir: &Path, file_version: u64) -> Option<LessonIndex> {
        let meta: Meta = serde_json::from_slice(&std::fs::read(dir.join(META)).ok()?).ok()?;
        if meta != (Meta { schema: SCHEMA_VERSION, file_version }) {
            return None;
        }
        let (schema, f) = schema();
        let index = Index::open_in_dir(dir).ok()?;
        if index.schema() != schema {
            return None;
        }
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().ok()?;
        Some(LessonIndex { dir: dir.to_path_buf(), in_ram: false, index, reader, writer: None, f })
    }

    fn write_meta(&self, file_version: u64) -> Result<(), IndexError> {
        if self.in_ram {
            return Ok(());
        }
        let meta = serde_json::to_vec(&Meta { schema: SCHEMA_VERSION, file_version }).unwrap_or_default();
        std::fs::write(self.dir.join(META), meta).map_err(|source| IndexError::Io { path: self.dir.display().to_string(), source })
    }

    /// Indexes every lesson of `memory` afresh, in one commit.
    pub fn rebuild(&mut self, memory: &Memory, file_version: u64) -> Result<(), IndexError> {
        self.w()?.delete_all_documents().map_err(|e| self.tantivy(e))?;
        for l in memory.lessons() {
            let d = self.document(l);
            self.w()?.add_document(d).map_err(|e| self.tantivy(e))?;
        }
        self.commit(file_version)
    }

    fn commit(&mut self, file_version: u64) -> Result<(), IndexError> {
        self.w()?.commit().map_err(|e| self.tantivy(e))?;
        self.reader.reload().map_err(|e| self.tantivy(e))?;
        self.write_meta(file_version)
    }

    /// Brings the index from the file as `old` to the file as `new`:
    /// only lessons that were added, changed or removed are touched, in
    /// one commit. Returns how many lessons were re-indexed or removed.
    pub fn sync(&mut self, old: &Memory, new: &Memory, file_version: u64) -> Result<usize, IndexError> {
        let before: HashMap<&str, &Lesson> = old.lessons().map(|l| (l.id.as_str(), l)).collect();
        let mut touched = 0;
        let mut seen = std::collections::HashSet::new();
        for l in new.lessons() {
            seen.insert(l.id.as_str());
            // What the index keeps (not where the lesson is: a line moved by
            // an edit above it is checked by whoever shows it).
            let same = before.get(l.id.as_str()).is_some_and(|b| {
                b.text == l.text && b.when == l.when && b.section == l.section && b.fix == l.fix && b.provenance == l.provenance
            });
            if !same {
                let t = Term::from_field_text(self.f.id, &l.id);
                self.w()?.delete_term(t);
                let d = self.document(l);
                self.w()?.add_document(d).map_err(|e| self.tantivy(e))?;
                touched += 1;
            }
        }
        for id in before.keys().filter(|id| !seen.contains(*id)) {
            let t = Term::from_field_text(self.f.id, id);
            self.w()?.delete_term(t);
            touched += 1;
        }
        self.commit(file_version)?;
        Ok(touched)
    }

    /// Re-indexes the lessons `ids` (removed, changed or added) as they are
    /// in `new`, in one commit: what [`sync`](Self::sync) does when the
    /// caller already knows which lessons an edit touched.
    pub fn update<'a>(
        &mut self,
        ids: &[String],
        lessons: impl IntoIterator<Item = &'a Lesson>,
        file_version: u64,
    ) -> Result<(), IndexError> {
        for id in ids {
            let t = Term::from_field_text(self.f.id, id);
            self.w()?.delete_term(t);
        }
        for l in lessons {
            let d = self.document(l);
            self.w()?.add_document(d).map_err(|e| self.tantivy(e))?;
        }
        self.commit(file_version)
    }

    /// How many lessons are indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether no lesson is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn filter_clauses(&self, filter: &Filter) -> Vec<(Occur, Box<dyn Query>)> {
        let term = |field: Field, value: String| -> (Occur, Box<dyn Query>) {
            (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(field, &value), IndexRecordOption::Basic)))
        };
        let mut out = Vec::new();
        if let Some(t) = &filter.tool {
            out.push(term(self.f.tool, t.to_ascii_lowercase()));
        }
        if let Some(c) = &filter.code {
            out.push(term(self.f.code, c.to_ascii_uppercase()));
        }
        out
    }

    /// Lessons within `filter`, the ones sharing the most words with `query`
    /// first; unlike [`search`](Self::search) a lesson need not share any
    /// word (the diagnosis looks lessons up by tool and code, words rank).
    /// Returns ids and scores.
    pub fn lookup(&self, query: &str, filter: &Filter, limit: usize) -> Result<Vec<(String, f32)>, IndexError> {
        let searcher = self.reader.searcher();
        let mut parser = QueryParser::for_index(&self.index, vec![self.f.text, self.f.section, self.f.failure]);
        parser.set_field_boost(self.f.failure, 2.0);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(AllQuery))];
        if !query.trim().is_empty() {
            clauses.push((Occur::Should, parser.parse_query_lenient(query).0));
        }
        clauses.extend(self.filter_clauses(filter));
        let top = searcher
            .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(|e| self.tantivy(e))?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| self.tantivy(e))?;
            out.push((d.get_first(self.f.id).and_then(|v| v.as_str()).unwrap_or("").to_owned(), score));
        }
        Ok(out)
    }

    /// What the index keeps of lesson `id`: its section, its text and its
    /// `info` (see [`Hit::info`]); `None` when it has no such lesson.
    pub fn stored(&self, id: &str) -> Result<Option<(String, String, serde_json::Value)>, IndexError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(Term::from_field_text(self.f.id, id), IndexRecordOption::Basic);
        let top = searcher.search(&q, &TopDocs::with_limit(1).order_by_score()).map_err(|e| self.tantivy(e))?;
        let Some((_, addr)) = top.into_iter().next() else { return Ok(None) };
        let d: TantivyDocument = searcher.doc(addr).map_err(|e| self.tantivy(e))?;
        let get = |f: Field| d.get_first(f).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        Ok(Some((get(self.f.section), get(self.f.text), serde_json::from_str(&get(self.f.info)).unwrap_or_default())))
    }

    /// The best `limit` lessons for `query` (free text: words, `"phrases"`,
    /// typos tolerated), within `filter`.
    pub fn search(&self, query: &str, filter: &Filter, limit: usize) -> Result<Vec<Hit>, IndexError> {
        let searcher = self.reader.searcher();
        let fields = vec![self.f.text, self.f.section, self.f.failure];
        let mut exact = QueryParser::for_index(&self.index, fields.clone());
        exact.set_field_boost(self.f.failure, 2.0);
        let mut fuzzy = QueryParser::for_index(&self.index, fields);
        fuzzy.set_field_fuzzy(self.f.text, true, 1, true);
        // Exact words score by BM25 and rank first; words within one typo
        // (a constant score) still match.
        let text_query: Box<dyn Query> = if query.trim().is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(vec![
                (Occur::Should, Box::new(BoostQuery::new(exact.parse_query_lenient(query).0, 2.0)) as Box<dyn Query>),
                (Occur::Should, fuzzy.parse_query_lenient(query).0),
            ]))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text_query.box_clone())];
        clauses.extend(self.filter_clauses(filter));
        let full = BooleanQuery::new(clauses);
        let top = searcher.search(&full, &TopDocs::with_limit(limit.max(1)).order_by_score()).map_err(|e| self.tantivy(e))?;
        // Fuzzy terms name no exact term to highlight: snippets come from the
        // same words parsed exactly.
        let exact = QueryParser::for_index(&self.index, vec![self.f.text]).parse_query_lenient(query).0;
        let snippets = (!query.trim().is_empty()).then(|| SnippetGenerator::create(&searcher, &*exact, self.f.text).ok()).flatten();
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| self.tantivy(e))?;
            let get = |f: Field| d.get_first(f).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let (snippet, highlights) = match &snippets {
                Some(g) => {
                    let s = g.snippet_from_doc(&d);
                    if s.fragment().is_empty() {
                        (get(self.f.text).chars().take(150).collect(), Vec::new())
                    } else {
                        (s.fragment().to_owned(), s.highlighted().to_vec())
                    }
                }
                None => (get(self.f.text).chars().take(150).collect(), Vec::new()),
            };
            let info = serde_json::from_str(&get(self.f.info)).unwrap_or_default();
            hits.push(Hit { id: get(self.f.id), section: get(self.f.section), score, snippet, highlights, info });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    const FILE: &str = "## shop API\n\n- The shop API's rate limit clears after its Retry-After.\n  - when: `http` `RATE_LIMITED` \"api.shop.example\"\n  - fix: retry_same\n  - id: shop-429\n- Timeouts on the reports endpoint: double the timeout.\n  - when: `http` `TIMEOUT`\n  - fix: retry_modified `{\"timeout_ms\": 20000}`\n  - id: reports-timeout\n\n## build\n\n- `make` needs gcc: install build-essential.\n  - when: `exec` `COMMAND_NOT_FOUND` \"gcc\"\n  - id: gcc\n";

    #[test]
    fn search_ranks_filters_tolerates_typos_and_highlights() {
        let dir = tempfile::tempdir().unwrap();
        let m = parse(FILE);
        let (idx, rebuilt) = LessonIndex::open(dir.path(), &m, 1).unwrap();
        assert!(rebuilt);
        assert_eq!(idx.len(), 3);
        let hits = idx.search("rate limit", &Filter::default(), 5).unwrap();
        assert_eq!(hits[0].id, "shop-429");
        let h = &hits[0];
        assert!(!h.highlights.is_empty());
        let marked: Vec<&str> = h.highlights.iter().map(|r| &h.snippet[r.clone()]).collect();
        assert!(marked.iter().any(|w| w.eq_ignore_ascii_case("rate")), "{marked:?} in {}", h.snippet);
        // A typo still finds it.
        assert_eq!(idx.search("timout", &Filter::default(), 5).unwrap()[0].id, "reports-timeout");
        // Filters by tool and code; an empty query lists what the filter allows.
        let only = idx.search("", &Filter { tool: Some("exec".into()), code: None }, 5).unwrap();
        assert_eq!(only.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["gcc"]);
        let only = idx.search("the", &Filter { tool: None, code: Some("timeout".into()) }, 5).unwrap();
        assert_eq!(only.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["reports-timeout"]);
        // The failure fields are searched too; raw user text never fails.
        assert_eq!(idx.search("RATE_LIMITED", &Filter::default(), 5).unwrap()[0].id, "shop-429");
        assert!(idx.search("AND OR ( \" :", &Filter::default(), 5).is_ok());
    }

    #[test]
    fn sync_reindexes_only_what_changed_and_reopening_keeps_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let old = parse(FILE);
        let (mut idx, _) = LessonIndex::open(dir.path(), &old, 1).unwrap();
        let new_text = FILE.replace("install build-essential", "install build-essential or clang").replace(
            "- Timeouts on the reports endpoint: double the timeout.\n  - when: `http` `TIMEOUT`\n  - fix: retry_modified `{\"timeout_ms\": 20000}`\n  - id: reports-timeout\n",
            "",
        );
        let new = parse(&new_text);
        assert_eq!(idx.sync(&old, &new, 2).unwrap(), 2, "one changed, one removed");
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.search("clang", &Filter::default(), 5).unwrap()[0].id, "gcc");
        assert!(idx.search("reports", &Filter::default(), 5).unwrap().is_empty());
        drop(idx);
        // The same file version reopens without a rebuild; another version rebuilds.
        let (idx, rebuilt) = LessonIndex::open(dir.path(), &new, 2).unwrap();
        assert!(!rebuilt);
        assert_eq!(idx.len(), 2);
        drop(idx);
        let (idx, rebuilt) = LessonIndex::open(dir.path(), &old, 1).unwrap();
        assert!(rebuilt);
        assert_eq!(idx.len(), 3);
    }

    #[test]
    fn a_corrupt_index_is_rebuilt_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let m = parse(FILE);
        drop(LessonIndex::open(dir.path(), &m, 7).unwrap());
        // Damage every file of the index but the meta file.
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if e.file_name() != META {
                std::fs::write(e.path(), b"garbage").unwrap();
            }
        }
        let (idx, rebuilt) = LessonIndex::open(dir.path(), &m, 7).unwrap();
        assert!(rebuilt);
        assert_eq!(idx.search("gcc", &Filter::default(), 5).unwrap()[0].id, "gcc");
    }

    #[test]
    fn a_second_writer_of_the_folder_indexes_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let m = parse(FILE);
        let (first, _) = LessonIndex::open(dir.path(), &m, 7).unwrap();
        assert!(!first.is_in_ram());
        for version in [7, 8] {
            let (mut second, _) = LessonIndex::open(dir.path(), &m, version).unwrap();
            assert!(second.is_in_ram(), "version {version}");
            assert_eq!(second.search("gcc", &Filter::default(), 5).unwrap()[0].id, "gcc");
            let edited = parse(&FILE.replace("needs gcc", "needs clang"));
            second.sync(&m, &edited, 9).unwrap();
            assert_eq!(second.search("clang", &Filter::default(), 5).unwrap()[0].id, "gcc");
        }
        drop(first);
        let (third, rebuilt) = LessonIndex::open(dir.path(), &m, 7).unwrap();
        assert!(!third.is_in_ram() && !rebuilt, "the folder was left as it was");
    }
}
