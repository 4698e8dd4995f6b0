// The memory screen: MEMORY.md's sections and lessons with their
// provenance, search as you type over the index, a form and a raw mode that
// both save through the lossless, conflict-checked writer, and what
// `mend memory check` finds, with one-click fixes.
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, errorText, failed, toIpcError } from "./api";
import type { Finding, HitView, IpcError, IpcErrorCode, LessonInput, LessonView, MemoryEdit, MemoryView, SaveResult } from "./ipc";

type Toast = { tone: "ok" | "error"; text: string; code?: IpcErrorCode };
const ACTIONS = ["", "retry_same", "retry_modified", "use_alternative", "verify_state", "ask_user", "escalate", "abort"];

/** A snippet with its matches marked. */
export function Highlighted({ text, ranges }: { text: string; ranges: [number, number][] }) {
  // Ranges are UTF-8 byte offsets: map them onto the string's characters.
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  const parts: preact.ComponentChild[] = [];
  let at = 0;
  ranges.forEach(([s, e], i) => {
    parts.push(dec.decode(bytes.slice(at, s)));
    parts.push(<mark key={i}>{dec.decode(bytes.slice(s, e))}</mark>);
    at = e;
  });
  parts.push(dec.decode(bytes.slice(at)));
  return <span>{parts}</span>;
}

function inputOf(l: LessonView | null): LessonInput {
  return {
    id: l?.id ?? null,
    text: l?.text ?? "",
    tool: l?.tool ?? null,
    code: l?.code ?? null,
    matches: l?.matches ?? [],
    fix: l?.fix ?? null,
    fix_args: l?.fix_args ?? null,
  };
}

/** The form's fields, by the names the shell gives as an error's place. */
const FIELDS = ["text", "section", "tool", "code", "matches", "fix", "fix_args"];

/** A bad-input error shown under the field it names. */
function FieldError({ name, error }: { name: string; error: IpcError | null }) {
  return error?.place === name ? (
    <span class="field-error" role="alert" data-place={name}>
      {error.message}
    </span>
  ) : null;
}

function LessonForm({
  lesson,
  sections,
  onSave,
  onCancel,
}: {
  lesson: LessonView | null;
  sections: string[];
  /** Resolves to the error of a field, if the shell refused one. */
  onSave: (section: string, input: LessonInput) => Promise<IpcError | null>;
  onCancel: () => void;
}) {
  const [f, setF] = useState<LessonInput>(inputOf(lesson));
  const [section, setSection] = useState(lesson?.section ?? sections[0] ?? "");
  const [fieldError, setFieldError] = useState<IpcError | null>(null);
  const set = (k: keyof LessonInput, v: unknown) => setF({ ...f, [k]: v });
  return (
    <form
      class="lesson-form"
      onSubmit={(e) => {
        e.preventDefault();
        onSave(section, f).then(setFieldError);
      }}
    >
      <label>
        What the lesson says
        <textarea name="text" rows={3} value={f.text} onInput={(e) => set("text", (e.target as HTMLTextAreaElement).value)} required />
        <FieldError name="text" error={fieldError} />
      </label>
      <div class="form-row">
        <label>
          Section
          <input name="section" list="mem-sections" value={section} disabled={!!lesson} onInput={(e) => setSection((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Tool
          <input name="tool" value={f.tool ?? ""} placeholder="http, exec, fs…" onInput={(e) => set("tool", (e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Error code
          <input name="code" value={f.code ?? ""} placeholder="RATE_LIMITED" onInput={(e) => set("code", (e.target as HTMLInputElement).value)} />
        </label>
      </div>
      <label>
        The failure contains (one per line)
        <textarea
          name="matches"
          rows={2}
          value={f.matches.join("\n")}
          onInput={(e) => set("matches", (e.target as HTMLTextAreaElement).value.split("\n"))}
        />
      </label>
      <div class="form-row">
        <label>
          Fix
          <select name="fix" value={f.fix ?? ""} onChange={(e) => set("fix", (e.target as HTMLSelectElement).value || null)}>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a || "(none: context only)"}
              </option>
            ))}
          </select>
          <FieldError name="fix" error={fieldError} />
        </label>
        <label class="grow">
          Fix arguments (JSON)
          <input name="fix_args" value={f.fix_args ?? ""} placeholder='{"timeout_ms": 20000}' onInput={(e) => set("fix_args", (e.target as HTMLInputElement).value)} />
          <FieldError name="fix_args" error={fieldError} />
        </label>
      </div>
      <datalist id="mem-sections">
        {sections.map((s) => (
          <option key={s} value={s} />
        ))}
      </datalist>
      <div class="actions">
        <button type="submit" class="primary">
          {lesson ? "Save lesson" : "Add lesson"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Provenance({ l, onOpenRun }: { l: LessonView; onOpenRun: (run: string) => void }) {
  return (
    <dl class="provenance">
      <dt>Applies to</dt>
      <dd class="mono">{[l.tool, l.code, ...l.matches.map((m) => `"${m}"`)].filter(Boolean).join(" ") || "—"}</dd>
      <dt>Fix</dt>
      <dd class="mono">{l.fix ? `${l.fix}${l.fix_args ? ` ${l.fix_args}` : ""}` : "—"}</dd>
      <dt>Seen</dt>
      <dd>{l.seen} time{l.seen === 1 ? "" : "s"}</dd>
      <dt>Last seen</dt>
      <dd>{l.last ?? "—"}</dd>
      <dt>Last outcome</dt>
      <dd>{l.outcome ?? "—"}</dd>
      <dt>Failures in a row</dt>
      <dd>{l.failures}</dd>
      <dt>State</dt>
      <dd>
        {l.trusted ? <span class="pill ok">trusted</span> : <span class="pill">context only</span>} {l.flagged && <span class="pill warn">flagged</span>}
      </dd>
      <dt>Runs that used it</dt>
      <dd class="runs">
        {l.runs.length === 0
          ? "none yet"
          : l.runs.slice(0, 8).map((r) => (
              <button key={r} class="link mono" onClick={() => onOpenRun(r)}>
                {r.slice(0, 8)}
              </button>
            ))}
      </dd>
      <dt>Line</dt>
      <dd>{l.line}</dd>
    </dl>
  );
}

type Conflict = { theirs: string; ours: string; reason: string; retry: (text: string) => void };

export function MemoryScreen({ onToast, onOpenRun }: { onToast: (t: Toast) => void; onOpenRun: (run: string) => void }) {
  const [view, setView] = useState<MemoryView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [filters, setFilters] = useState({ tool: "", code: "", section: "", state: "" });
  const [hits, setHits] = useState<HitView[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [editing, setEditing] = useState<"new" | "edit" | null>(null);
  const [raw, setRaw] = useState<{ text: string; line: number | null } | null>(null);
  const [conflict, setConflict] = useState<Conflict | null>(null);
  // Inline asks instead of window.prompt/confirm (not every web view has them).
  const [newSection, setNewSection] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const rawRef = useRef<HTMLTextAreaElement>(null);

  const load = useCallback(() => api.memoryView().then((v) => (setView(v), setError(null)), (e) => setError(errorText(e))), []);
  useEffect(() => {
    load();
  }, []);

  // Search as you type (debounced): the index does the matching.
  const searching = query.trim() !== "" || Object.values(filters).some((v) => v !== "");
  useEffect(() => {
    if (!searching) {
      setHits(null);
      return;
    }
    const t = window.setTimeout(() => {
      api
        .memorySearch(query, filters.tool || null, filters.code || null, filters.section || null, filters.state || null)
        .then(setHits, (e) => onToast(failed(e)));
    }, 120);
    return () => clearTimeout(t);
  }, [query, filters, view?.version]);

  useEffect(() => {
    if (raw?.line != null && rawRef.current) {
      const ta = rawRef.current;
      const offset = raw.text.split("\n").slice(0, raw.line - 1).join("\n").length + (raw.line > 1 ? 1 : 0);
      ta.focus();
      ta.setSelectionRange(offset, offset);
      const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 18;
      ta.scrollTop = Math.max(0, (raw.line - 3) * lineHeight);
    }
  }, [raw?.line]);

  const lessons = useMemo(() => view?.sections.flatMap((s) => s.lessons) ?? [], [view]);
  const byId = useMemo(() => new Map(lessons.map((l) => [l.id, l])), [lessons]);
  const sections = useMemo(() => view?.sections.map((s) => s.title).filter((t) => t) ?? [], [view]);
  const tools = useMemo(() => [...new Set(lessons.map((l) => l.tool).filter(Boolean) as string[])].sort(), [lessons]);
  const codes = useMemo(() => [...new Set(lessons.map((l) => l.code).filter(Boolean) as string[])].sort(), [lessons]);
  const current = selected ? byId.get(selected) ?? null : null;

  const after = (r: SaveResult, what: string, redo: (text: string) => void) => {
    if (r.result === "saved") {
      onToast({ tone: "ok", text: r.merged ? `${what} (merged with a change made elsewhere).` : `${what}.` });
      setConflict(null);
      load();
    } else {
      setConflict({ theirs: r.theirs, ours: r.ours, reason: r.reason, retry: redo });
    }
  };
  // Resolves to a bad field's error (the form shows it at the field and
  // stays open); any other error is a toast.
  const save = (edit: MemoryEdit, what: string): Promise<IpcError | null> => {
    if (!view) return Promise.resolve(null);
    return api.memorySave(view.version, edit).then(
      (r) => (after(r, what, (text) => saveRaw(text, what)), null),
      (e) => {
        const err = toIpcError(e);
        if (err.code === "bad_input" && FIELDS.includes(err.place ?? "")) return err;
        onToast(failed(e));
        return null;
      },
    );
  };
  // A form closes unless a field was refused.
  const saveForm = (edit: MemoryEdit, what: string) => save(edit, what).then((err) => (err || setEditing(null), err));
  const saveRaw = (text: string, what = "Saved the file") => {
    if (!view) return;
    api.memoryRaw(view.version, text).then(
      (r) => {
        after(r, what, (t) => saveRaw(t, what));
        if (r.result === "saved") setRaw(null);
      },
      (e) => onToast(failed(e)),
    );
  };

  const fixFinding = (f: Finding, how: "merge" | "delete" | "open") => {
    if (how === "open") setRaw({ text: view?.text ?? "", line: f.line });
    else if (how === "merge" && f.lesson && f.other) save({ op: "merge", keep: f.other, drop: f.lesson }, `Merged ${f.lesson} into ${f.other}`);
    else if (how === "delete" && f.lesson) save({ op: "delete", id: f.lesson }, `Deleted ${f.lesson}`);
  };

  if (error) return <div class="notice error">{error}</div>;
  if (!view) return <div class="state muted">Loading the memory…</div>;

  if (conflict) {
    return (
      <section class="memory conflict" data-screen="memory">
        <h2>The file changed on disk while you were editing</h2>
        <p class="muted">{conflict.reason}. Nothing is lost: choose which version to keep, or edit yours and save it over theirs.</p>
        <div class="versions">
          <div>
            <h3>On disk now</h3>
            <textarea readonly class="mono" rows={18} value={conflict.theirs} data-version="theirs" />
            <button onClick={() => (setConflict(null), load())}>Keep the file on disk</button>
          </div>
          <div>
            <h3>With your change</h3>
            <textarea class="mono" rows={18} value={conflict.ours} data-version="ours" onInput={(e) => setConflict({ ...conflict, ours: (e.target as HTMLTextAreaElement).value })} />
            <button
              class="primary"
              onClick={() =>
                api.memoryView().then((v) => {
                  setView(v);
                  api.memoryRaw(v.version, conflict.ours).then((r) => after(r, "Saved your version", conflict.retry), (e) => onToast(failed(e)));
                })
              }
            >
              Use my version
            </button>
          </div>
        </div>
      </section>
    );
  }

  if (raw) {
    return (
      <section class="memory raw" data-screen="memory">
        <header class="detail-head">
          <div>
            <h2>MEMORY.md</h2>
            <p class="muted mono">{view.path}</p>
          </div>
          <div class="actions">
            <button class="primary" onClick={() => saveRaw(raw.text)}>
              Save file
            </button>
            <button onClick={() => setRaw(null)}>Back to lessons</button>
          </div>
        </header>
        <textarea ref={rawRef} class="raw-editor mono" spellcheck={false} value={raw.text} onInput={(e) => setRaw({ text: (e.target as HTMLTextAreaElement).value, line: null })} />
      </section>
    );
  }

  const shown: LessonView[] | null = hits ? (hits.map((h) => byId.get(h.id)).filter(Boolean) as LessonView[]) : null;
  return (
    <section class="memory" data-screen="memory">
      <div class="memory-bar">
        <input class="search" type="search" placeholder="Search lessons (typos are fine)" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} aria-label="Search lessons" />
        <select aria-label="Tool" value={filters.tool} onChange={(e) => setFilters({ ...filters, tool: (e.target as HTMLSelectElement).value })}>
          <option value="">any tool</option>
          {tools.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <select aria-label="Error code" value={filters.code} onChange={(e) => setFilters({ ...filters, code: (e.target as HTMLSelectElement).value })}>
          <option value="">any code</option>
          {codes.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <select aria-label="Section" value={filters.section} onChange={(e) => setFilters({ ...filters, section: (e.target as HTMLSelectElement).value })}>
          <option value="">any section</option>
          {sections.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <select aria-label="State" value={filters.state} onChange={(e) => setFilters({ ...filters, state: (e.target as HTMLSelectElement).value })}>
          <option value="">trusted or not</option>
          <option value="trusted">trusted</option>
          <option value="flagged">flagged</option>
        </select>
        <button onClick={() => (setEditing("new"), setSelected(null))}>New lesson</button>
        {newSection === null ? (
          <button onClick={() => setNewSection("")}>New section</button>
        ) : (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (newSection.trim()) save({ op: "add_section", title: newSection.trim() }, `Added section ${newSection.trim()}`);
              setNewSection(null);
            }}
          >
            <input aria-label="New section title" placeholder="Section title" value={newSection} onInput={(e) => setNewSection((e.target as HTMLInputElement).value)} />
            <button type="submit">Add</button>
            <button type="button" onClick={() => setNewSection(null)}>
              Cancel
            </button>
          </form>
        )}
        <button onClick={() => setRaw({ text: view.text, line: null })}>Raw markdown</button>
        <button onClick={() => api.memoryOpen().catch((e) => onToast(failed(e)))}>Open in editor</button>
      </div>
      {view.findings.length > 0 && (
        <section class="panel findings">
          <h3>
            {view.findings.length} thing{view.findings.length === 1 ? "" : "s"} to look at
          </h3>
          <ul>
            {view.findings.map((f, i) => (
              <li key={i} data-kind={f.kind}>
                <span class={`pill ${f.kind === "problem" || f.kind === "failing" ? "bad" : "warn"}`}>{f.kind}</span> <span class="muted">line {f.line}:</span> {f.message}
                <span class="fixes">
                  {f.kind === "duplicate" && <button onClick={() => fixFinding(f, "merge")}>Merge</button>}
                  {f.lesson && f.kind !== "problem" && <button onClick={() => fixFinding(f, "delete")}>Delete</button>}
                  <button onClick={() => fixFinding(f, "open")}>Open at line {f.line}</button>
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <div class="memory-body">
        <div class="lesson-list">
          {shown ? (
            shown.length === 0 ? (
              <div class="state muted">No lesson matches.</div>
            ) : (
              <ul class="hits">
                {hits!.map((h) => (
                  <li key={h.id}>
                    <button class={h.id === selected ? "lesson selected" : "lesson"} data-lesson={h.id} onClick={() => (setSelected(h.id), setEditing(null))}>
                      <span class="sub muted">
                        {h.section} · {h.id}
                      </span>
                      <Highlighted text={h.snippet} ranges={h.highlights} />
                    </button>
                  </li>
                ))}
              </ul>
            )
          ) : (
            view.sections.map((s) => (
              <div key={s.title} class="mem-section" data-section={s.title}>
                <div class="section-head">
                  <h3>{s.title || "(before any section)"}</h3>
                  {s.title &&
                    (confirming === `section:${s.title}` ? (
                      <span class="actions">
                        <button class="danger" onClick={() => (setConfirming(null), save({ op: "delete_section", title: s.title }, `Deleted section ${s.title}`))}>
                          Delete it and its {s.lessons.length} lesson{s.lessons.length === 1 ? "" : "s"}
                        </button>
                        <button onClick={() => setConfirming(null)}>Keep</button>
                      </span>
                    ) : (
                      <button class="icon" title="Delete this section and its lessons" aria-label={`Delete section ${s.title}`} onClick={() => setConfirming(`section:${s.title}`)}>
                        ✕
                      </button>
                    ))}
                </div>
                {s.lessons.length === 0 ? (
                  <div class="muted sub">No lessons.</div>
                ) : (
                  <ul>
                    {s.lessons.map((l) => (
                      <li key={l.id}>
                        <button class={l.id === selected ? "lesson selected" : "lesson"} data-lesson={l.id} onClick={() => (setSelected(l.id), setEditing(null))}>
                          <span>{l.text.split("\n")[0]}</span>
                          <span class="sub muted">
                            {l.code ?? "any failure"} → {l.fix ?? "context"} · seen {l.seen}
                            {l.trusted ? "" : " · not applied by itself"}
                            {l.flagged ? " · flagged" : ""}
                          </span>
                        </button>
                      </li>
                    ))}
                  </ul>
                )}
              </div>
            ))
          )}
        </div>
        <div class="lesson-detail">
          {editing === "new" ? (
            <LessonForm
              lesson={null}
              sections={sections}
              onCancel={() => setEditing(null)}
              onSave={(section, input) => saveForm({ op: "add", section, lesson: input }, "Added the lesson")}
            />
          ) : current && editing === "edit" ? (
            <LessonForm
              lesson={current}
              sections={sections}
              onCancel={() => setEditing(null)}
              onSave={(_, input) => saveForm({ op: "replace", id: current.id, lesson: input }, "Saved the lesson")}
            />
          ) : current ? (
            <div class="lesson-card" data-lesson={current.id}>
              <p class="lesson-text">{current.text}</p>
              <Provenance l={current} onOpenRun={onOpenRun} />
              <div class="actions">
                <button class="primary" onClick={() => setEditing("edit")}>
                  Edit
                </button>
                <label class="move">
                  Move to{" "}
                  <select
                    aria-label="Move to section"
                    value=""
                    onChange={(e) => {
                      const to = (e.target as HTMLSelectElement).value;
                      if (to) save({ op: "move", id: current.id, section: to }, `Moved to ${to}`);
                    }}
                  >
                    <option value="">…</option>
                    {sections
                      .filter((s) => s !== current.section)
                      .map((s) => (
                        <option key={s}>{s}</option>
                      ))}
                  </select>
                </label>
                <button onClick={() => setRaw({ text: view.text, line: current.line })}>Open at line {current.line}</button>
                {confirming === current.id ? (
                  <>
                    <button class="danger" onClick={() => (setConfirming(null), save({ op: "delete", id: current.id }, "Deleted the lesson"), setSelected(null))}>
                      Really delete
                    </button>
                    <button onClick={() => setConfirming(null)}>Keep it</button>
                  </>
                ) : (
                  <button class="danger" onClick={() => setConfirming(current.id)}>
                    Delete
                  </button>
                )}
              </div>
            </div>
          ) : (
            <div class="state muted">
              {lessons.length} lesson{lessons.length === 1 ? "" : "s"} in {view.sections.length} section{view.sections.length === 1 ? "" : "s"}. Pick one to see where it came from.
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
