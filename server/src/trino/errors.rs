//! Trino's wire form of an error: the `error` object of a failed query's
//! response (`errorName`/`errorCode`/`errorType` from the error's kind,
//! `errorLocation` from the parser's position, `failureInfo`).

use contango_common::error::ContangoError;
use serde_json::{Value, json};

/// Trino's `error` object for a failed query.
pub fn error_json(e: &ContangoError) -> Value {
    let (name, code, kind) = e.kind().trino_error();
    let mut error = json!({
        "message": e.message(),
        "errorCode": code,
        "errorName": name,
        "errorType": kind,
        "failureInfo": {
            "type": "io.trino.spi.TrinoException",
            "message": e.message(),
            "suppressed": [],
            "stack": [],
        },
    });
    if let Some((line, column)) = location(e.message()) {
        error["errorLocation"] = json!({"lineNumber": line, "columnNumber": column});
        error["failureInfo"]["errorLocation"] = error["errorLocation"].clone();
    }
    error
}

/// `Line: L, Column: C` as the SQL parser reports positions.
fn location(message: &str) -> Option<(u64, u64)> {
    let number_after = |key: &str| -> Option<u64> {
        let rest = &message[message.find(key)? + key.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    };
    Some((number_after("Line: ")?, number_after("Column: ")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use contango_common::error::ErrorKind;

    #[test]
    fn syntax_error_location() {
        assert_eq!(
            location(
                "sql parser error: Expected: an SQL statement, found: SELEC at Line: 2, Column: 5"
            ),
            Some((2, 5))
        );
        assert_eq!(location("no position"), None);
        let e = ContangoError::new(ErrorKind::Syntax, "x at Line: 1, Column: 8");
        let j = error_json(&e);
        assert_eq!(j["errorName"], "SYNTAX_ERROR");
        assert_eq!(j["errorCode"], 1);
        assert_eq!(j["errorLocation"]["columnNumber"], 8);
    }
}
