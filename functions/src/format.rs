//! Trino's date/time format patterns translated to chrono's strftime syntax,
//! for the functions of [`super::datetime`]: MySQL specifiers (`date_format`,
//! `date_parse`: `%i` minutes, `%s` seconds, `%f` microseconds, ...) as Trino
//! documents them, and the common subset of Joda-Time letters
//! (`format_datetime`, `parse_datetime`: `yyyy`, `MMM`, `HH`, `SSS`, quoted
//! literals, ...). A specifier Trino rejects, or one not supported here,
//! fails with Trino's message.

use datafusion::error::Result as DFResult;

use super::invalid_argument;

/// MySQL specifiers as Trino documents them.
pub fn mysql_to_chrono(pattern: &str) -> DFResult<String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            push_literal(&mut out, c);
            continue;
        }
        let Some(s) = chars.next() else {
            return Err(invalid_argument("pattern ends with '%'"));
        };
        out.push_str(match s {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'v' => "%V",
            'W' => "%A",
            'x' => "%G",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            other => {
                return Err(invalid_argument(format!(
                    "%{other} not supported in date format string"
                )));
            }
        });
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Joda-Time patterns (the common subset dashboards use).
pub fn joda_to_chrono(pattern: &str) -> DFResult<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a single quote.
            i += 1;
            if i < chars.len() && chars[i] == '\'' {
                out.push('\'');
                i += 1;
                continue;
            }
            while i < chars.len() {
                if chars[i] == '\'' {
                    if i + 1 < chars.len() && chars[i + 1] == '\'' {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                push_literal(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        out.push_str(match (c, n) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('x', 2) => "%g",
            ('x', _) => "%G",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('k', _) => "%-H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('e', _) => "%u",
            ('w', _) => "%V",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            ('z', _) => "%Z",
            (other, _) => {
                return Err(invalid_argument(format!(
                    "Joda pattern letter '{other}' is not supported"
                )));
            }
        });
        i += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations() {
        assert_eq!(
            mysql_to_chrono("%Y-%m-%d %H:%i:%s.%f %p %%").unwrap(),
            "%Y-%m-%d %H:%M:%S.%6f %p %%"
        );
        assert!(mysql_to_chrono("%Q").is_err());
        assert_eq!(
            joda_to_chrono("yyyy-MM-dd'T'HH:mm:ss.SSS Z").unwrap(),
            "%Y-%m-%dT%H:%M:%S.%3f %z"
        );
        assert_eq!(
            joda_to_chrono("EEEE, MMMM d ''yy").unwrap(),
            "%A, %B %-d '%y"
        );
        assert_eq!(joda_to_chrono("100%").unwrap(), "100%%");
    }
}
