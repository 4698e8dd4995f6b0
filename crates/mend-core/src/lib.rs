//! The self-healing loop and everything it reasons about, with no I/O.
//!
//! Mend runs jobs — sequences of tool calls — inside a loop:
//! DETECT → CLASSIFY → ATTEMPT FIX → ESCALATE → LEARN → REPEAT.
//! This crate owns that loop ([`engine`]), the structured outcome every tool
//! returns ([`outcome`]), the closed-but-extensible list of error codes
//! ([`code`]), the recovery actions ([`action`]), the diagnosis layers
//! ([`diagnose`], the lesson layer in [`lesson`]), the guardrails ([`safety`], [`redact`], budgets in
//! [`job`]), approvals ([`approval`]), the journal events ([`event`]) and the
//! job file format ([`job`]).
//!
//! It reaches the world only through traits: [`tool::Tool`],
//! [`diagnose::Diagnoser`], [`lesson::LessonSource`], [`event::Journal`], [`approval::Approver`] and
//! [`clock::Clock`]. The tools, journal and command line crates implement them.

pub mod action;
pub mod approval;
pub mod clock;
pub mod code;
pub mod config;
pub mod diagnose;
pub mod engine;
pub mod event;
pub mod job;
pub mod lesson;
pub mod mcp;
pub mod outcome;
pub mod payload;
pub mod redact;
pub mod report;
pub mod safety;
pub mod schedule;
pub mod tool;

pub use action::{Action, Diagnosis};
pub use code::ErrorCode;
pub use outcome::{Outcome, Severity, Status, ToolError};
