//! The safety gate's policy, from `mend-safety` (issue 11): calls are read
//! by meaning — shell commands parsed into the simple commands they run,
//! classified from a rules table — never matched as text. The engine asks
//! [`Gate::check`] before every call it makes, whoever proposed it.

pub use mend_safety::{
    Category, Context, Destination, Finding, Gate, Intent, Level, Probe, RULES, RuleDoc, SafetyConfig, Verdict, destination,
    normalise_host, rules_markdown,
};
