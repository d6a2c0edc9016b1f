//! What matching a regular expression may cost, checked before a pattern
//! reaches the `regex` crate.
//!
//! The `regex` crate matches in linear time, but its fallback engine (the
//! PikeVM, used when the lazy DFA gives up on a large automaton) keeps one
//! slot per capture group for every automaton state, twice over. A pattern
//! with thousands of capturing alternatives (`(a|b){40}x0|(a|b){40}x1|...`,
//! 2,000 branches) therefore needs 131,898 states × 4,004 slots: the server
//! grew by 8 GB and spent 24 s on a 20-character string, not stoppable by
//! `query_max_run_time` because one call never yields. Here the automaton is
//! compiled first (milliseconds even for that pattern) and a pattern whose
//! slot tables would exceed [`MAX_MATCHER_BYTES`] is refused with
//! EXCEEDED_FUNCTION_MEMORY_LIMIT, as a function whose result is too large
//! is. So is an automaton of more than [`MAX_STATES`] states even without
//! groups: past about 100,000 states the lazy DFA is not used at all and the
//! PikeVM spends milliseconds per input character (4,000 plain branches: 5.5 s
//! for 2,000 characters). Below the bound the lazy DFA matches in linear time.
//! Patterns that pass are remembered per thread, so a pattern is
//! compiled twice only the first time.

use std::cell::RefCell;
use std::collections::HashSet;

use contango_common::error::{ContangoError, ErrorKind};
use datafusion::error::{DataFusionError, Result as DFResult};
use regex_automata::nfa::thompson;

/// Most bytes the slot tables of one pattern's matcher may take.
pub const MAX_MATCHER_BYTES: f64 = (1u64 << 28) as f64;

/// Most automaton states a pattern may compile to.
pub const MAX_STATES: usize = 50_000;

/// The `regex` crate's default limit on a compiled automaton.
const NFA_SIZE_LIMIT: usize = 10 << 20;

/// Accepted patterns remembered per thread before the set starts over.
const REMEMBERED: usize = 1024;

thread_local! {
    static ACCEPTED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// Bytes the PikeVM's slot tables need for `pattern` (two tables of one
/// 8-byte slot per capture-group bound per state), or `None` when the
/// pattern does not compile (the function that runs it reports why).
pub fn matcher_bytes(pattern: &str) -> Option<f64> {
    automaton(pattern).map(|(states, slots)| 2.0 * 8.0 * states as f64 * slots as f64)
}

/// States and slots (two per capture group) of `pattern`'s automaton.
fn automaton(pattern: &str) -> Option<(usize, usize)> {
    let nfa = thompson::Compiler::new()
        .configure(thompson::Config::new().nfa_size_limit(Some(NFA_SIZE_LIMIT)))
        .build(pattern)
        .ok()?;
    Some((nfa.states().len(), nfa.group_info().slot_len()))
}

fn refused(message: String) -> DataFusionError {
    DataFusionError::External(Box::new(ContangoError::new(
        ErrorKind::ExceededFunctionMemoryLimit,
        message,
    )))
}

/// Refuses `pattern` for function `name` when matching it may take more
/// than [`MAX_MATCHER_BYTES`].
pub fn check(name: &str, pattern: &str) -> DFResult<()> {
    if ACCEPTED.with(|a| a.borrow().contains(pattern)) {
        return Ok(());
    }
    if let Some((states, slots)) = automaton(pattern) {
        let bytes = 2.0 * 8.0 * states as f64 * slots as f64;
        if bytes > MAX_MATCHER_BYTES {
            return Err(refused(format!(
                "{name}: matching this regular expression may need {bytes:.0} bytes, more than the \
                 {MAX_MATCHER_BYTES:.0} one call may use (use fewer capturing groups, e.g. (?:...))"
            )));
        }
        if states > MAX_STATES {
            return Err(refused(format!(
                "{name}: this regular expression compiles to {states} states, more than the \
                 {MAX_STATES} one call may use"
            )));
        }
    }
    ACCEPTED.with(|a| {
        let mut a = a.borrow_mut();
        if a.len() >= REMEMBERED {
            a.clear();
        }
        a.insert(pattern.to_string());
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capturing_alternatives(n: usize) -> String {
        let branches: Vec<String> = (0..n)
            .map(|i| format!("(a|b){{{}}}x{i}", i % 40 + 1))
            .collect();
        format!("({})", branches.join("|"))
    }

    #[test]
    fn everyday_patterns_pass() {
        for p in [
            "\\d+",
            "(\\d+)([a-z]+)",
            "(?i)brent|wti",
            "^[A-Z]{2,5}-\\d{4}$",
        ] {
            check("regexp_like", p).unwrap();
            assert!(matcher_bytes(p).unwrap() < 1e6, "{p}");
        }
    }

    #[test]
    fn thousands_of_capturing_branches_are_refused() {
        // Measured with the regex crate: 131,898 states × 4,004 slots.
        let p = capturing_alternatives(2000);
        assert_eq!(matcher_bytes(&p), Some(2.0 * 8.0 * 131_898.0 * 4_004.0));
        let e = check("regexp_replace", &p).unwrap_err().to_string();
        assert!(e.contains("more than the 268435456"), "{e}");
        // The same branches without capturing groups need little memory,
        // but 4,000 of them are more states than the lazy DFA takes.
        let plain = |p: String| p.replace("(a|b)", "(?:a|b)").replacen('(', "(?:", 1);
        check("regexp_replace", &plain(p)).unwrap();
        let e = check("regexp_replace", &plain(capturing_alternatives(4000)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("states, more than the 50000"), "{e}");
    }

    #[test]
    fn invalid_patterns_are_left_to_the_function() {
        assert_eq!(matcher_bytes("("), None);
        check("regexp_like", "(").unwrap();
    }
}
