//! A reader for Java properties files, the format of Kafka's
//! `server.properties`, with `java.util.Properties.load` semantics.
//!
//! The rules, as Java applies them:
//!
//! - A *natural line* ends at `\n`, `\r` or `\r\n`. Leading spaces, tabs and
//!   form feeds of every natural line are skipped.
//! - A natural line that is then empty, or starts with `#` or `!`, is skipped
//!   whole (a comment never continues onto the next line).
//! - A line ending in an odd number of backslashes continues on the next
//!   natural line: the last backslash is dropped, and so is the next line's
//!   leading whitespace. A continuation line that is blank ends the logical
//!   line; one that starts with `#` is text, not a comment.
//! - The key ends at the first unescaped `=`, `:`, space, tab or form feed.
//!   Whitespace after it is skipped, then one `=` or `:` if the key ended at
//!   whitespace, then whitespace again; the rest of the line is the value,
//!   trailing whitespace included (Kafka trims values when it parses them,
//!   and so does [`super::BrokerConfig`]).
//! - Escapes in keys and values: `\t` `\n` `\r` `\f`, `\uXXXX` (exactly four
//!   hex digits; UTF-16 surrogate pairs combine), and `\` before any other
//!   character stands for that character (`\:` `\=` `\ ` `\\` `\#`).
//! - A key given twice keeps its last value; [`parse`] returns every
//!   occurrence in order so the caller can say which were overridden.
//!
//! Bytes are decoded by [`decode`]: UTF-8, or ISO-8859-1 if they are not valid
//! UTF-8 (what `java.util.PropertyResourceBundle` does since Java 9; Kafka's
//! own loader always uses ISO-8859-1, which garbles UTF-8 text, so we do
//! not copy it). A UTF-8 byte order mark is dropped rather than becoming part
//! of the first key.

use std::borrow::Cow;

/// One `key=value` entry, with the 1-based number of the natural line on which
/// its logical line starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A malformed `\uXXXX` escape: the only thing Java refuses in this format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PropertiesError {
    pub line: usize,
    pub message: String,
}

/// Decodes a properties file's bytes: UTF-8 if valid, else ISO-8859-1 (every
/// byte is the code point of the same value). Drops a UTF-8 byte order mark.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Parses properties text into its entries, in file order.
pub fn parse(text: &str) -> Result<Vec<Property>, PropertiesError> {
    logical_lines(text)
        .into_iter()
        .map(|(line, chars)| {
            let (key, value) = split_key_value(&chars);
            Ok(Property {
                key: unescape(key, line)?,
                value: unescape(value, line)?,
                line,
            })
        })
        .collect()
}

/// Whitespace as `java.util.Properties` knows it.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0C'
}

/// Splits text into natural lines at `\r\n`, `\r` or `\n`.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            None => {
                lines.push(rest);
                break;
            }
            Some(end) => {
                lines.push(&rest[..end]);
                let terminator = if rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[end + terminator..];
            }
        }
    }
    lines
}

fn ends_in_odd_backslashes(chars: &[char]) -> bool {
    chars.iter().rev().take_while(|&&c| c == '\\').count() % 2 == 1
}

/// Joins continued lines and drops blank and comment lines. Returns each
/// logical line, escapes still in place, with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, Vec<char>)> {
    let lines = natural_lines(text);
    let mut out = Vec::new();
    let mut next = 0;
    while next < lines.len() {
        let first = lines[next].trim_start_matches(is_blank);
        next += 1;
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let line_number = next;
        let mut chars: Vec<char> = first.chars().collect();
        while ends_in_odd_backslashes(&chars) {
            // The backslash that continues the line is not part of it, even
            // at the end of the file.
            chars.pop();
            let Some(continuation) = lines.get(next) else {
                break;
            };
            next += 1;
            let continuation = continuation.trim_start_matches(is_blank);
            if continuation.is_empty() {
                break;
            }
            chars.extend(continuation.chars());
        }
        out.push((line_number, chars));
    }
    out
}

/// Splits a logical line into its raw (still escaped) key and value.
fn split_key_value(chars: &[char]) -> (&[char], &[char]) {
    let mut key_end = chars.len();
    let mut value_start = chars.len();
    let mut has_separator = false;
    let mut preceding_backslash = false;
    for (i, &c) in chars.iter().enumerate() {
        if !preceding_backslash && (c == '=' || c == ':') {
            key_end = i;
            value_start = i + 1;
            has_separator = true;
            break;
        }
        if !preceding_backslash && is_blank(c) {
            key_end = i;
            value_start = i + 1;
            break;
        }
        preceding_backslash = c == '\\' && !preceding_backslash;
    }
    while let Some(&c) = chars.get(value_start) {
        if is_blank(c) {
            value_start += 1;
        } else if !has_separator && (c == '=' || c == ':') {
            has_separator = true;
            value_start += 1;
        } else {
            break;
        }
    }
    (&chars[..key_end], &chars[value_start..])
}

/// Resolves escapes. Works in UTF-16 units, as Java does, so that a surrogate
/// pair written as two `\u` escapes becomes one character.
fn unescape(chars: &[char], line: usize) -> Result<String, PropertiesError> {
    let mut units: Vec<u16> = Vec::with_capacity(chars.len());
    let mut buf = [0u16; 2];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let c = if c != '\\' {
            c
        } else {
            let Some(&escaped) = chars.get(i) else {
                // A lone trailing backslash cannot survive line joining;
                // dropping it matches Java.
                break;
            };
            i += 1;
            match escaped {
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                'f' => '\x0C',
                'u' => {
                    let digits = chars.get(i..i + 4).unwrap_or(&[]);
                    let unit = hex_unit(digits).ok_or_else(|| PropertiesError {
                        line,
                        message: format!(
                            "malformed \\uXXXX escape \"\\u{}\": expected four hex digits",
                            chars[i..chars.len().min(i + 4)].iter().collect::<String>()
                        ),
                    })?;
                    i += 4;
                    units.push(unit);
                    continue;
                }
                other => other,
            }
        };
        units.extend_from_slice(c.encode_utf16(&mut buf));
    }
    String::from_utf16(&units).map_err(|_| PropertiesError {
        line,
        message: "a \\uXXXX escape is half of a UTF-16 surrogate pair without the other half"
            .to_string(),
    })
}

fn hex_unit(digits: &[char]) -> Option<u16> {
    if digits.len() != 4 {
        return None;
    }
    digits
        .iter()
        .try_fold(0u16, |acc, c| Some(acc << 4 | c.to_digit(16)? as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn one(text: &str) -> (String, String) {
        let mut all = pairs(text);
        assert_eq!(all.len(), 1, "{text:?} gave {all:?}");
        all.remove(0)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn separators() {
        assert_eq!(one("a=b"), kv("a", "b"));
        assert_eq!(one("a:b"), kv("a", "b"));
        assert_eq!(one("a b"), kv("a", "b"));
        assert_eq!(one("a\tb"), kv("a", "b"));
        assert_eq!(one("a \t = \t b"), kv("a", "b"));
        assert_eq!(one("a : b"), kv("a", "b"));
        // Only one '=' or ':' is a separator; the next belongs to the value.
        assert_eq!(one("a==b"), kv("a", "=b"));
        assert_eq!(one("a = :b"), kv("a", ":b"));
        assert_eq!(one("a b=c"), kv("a", "b=c"));
        assert_eq!(
            one("url=PLAINTEXT://host:9092"),
            kv("url", "PLAINTEXT://host:9092")
        );
        // A key alone has an empty value, with or without a separator.
        assert_eq!(one("lonely"), kv("lonely", ""));
        assert_eq!(one("lonely="), kv("lonely", ""));
        assert_eq!(one("lonely   "), kv("lonely", ""));
        // An empty key.
        assert_eq!(one("=value"), kv("", "value"));
    }

    #[test]
    fn whitespace_trimming() {
        // Leading whitespace goes, trailing whitespace of the value stays.
        assert_eq!(one("  \t\x0Ckey=value  "), kv("key", "value  "));
        assert_eq!(one("key=  value"), kv("key", "value"));
        // Other Unicode spaces are not whitespace to Java.
        assert_eq!(one("\u{a0}key=v"), kv("\u{a0}key", "v"));
    }

    #[test]
    fn comments_and_blank_lines() {
        let text = "# comment\n! also a comment\n\n   \n\t# indented comment\na=1\n#b=2\nc=3 # not a comment\n";
        assert_eq!(
            pairs(text),
            vec![kv("a", "1"), kv("c", "3 # not a comment")]
        );
        // A comment ending in a backslash does not swallow the next line.
        assert_eq!(pairs("# comment \\\na=1"), vec![kv("a", "1")]);
    }

    #[test]
    fn line_endings() {
        assert_eq!(
            pairs("a=1\r\nb=2\rc=3\nd=4"),
            vec![kv("a", "1"), kv("b", "2"), kv("c", "3"), kv("d", "4")]
        );
        let lines: Vec<usize> = parse("a=1\r\n\r\nb=2\r# x\rc=3")
            .unwrap()
            .iter()
            .map(|p| p.line)
            .collect();
        assert_eq!(lines, vec![1, 3, 5]);
    }

    #[test]
    fn continuations() {
        assert_eq!(
            one("a=one,\\\n    two,\\\n\tthree"),
            kv("a", "one,two,three")
        );
        // CRLF and CR line ends continue too.
        assert_eq!(one("a=x\\\r\n  y"), kv("a", "xy"));
        assert_eq!(one("a=x\\\r  y"), kv("a", "xy"));
        // A continued key.
        assert_eq!(one("log.\\\n  dirs=/d"), kv("log.dirs", "/d"));
        // An even number of backslashes is an escaped backslash, no continuation.
        assert_eq!(pairs("a=x\\\\\nb=y"), vec![kv("a", "x\\"), kv("b", "y")]);
        // Three: one escaped backslash, then a continuation.
        assert_eq!(one("a=x\\\\\\\n y"), kv("a", "x\\y"));
        // A continuation line starting with '#' is text, not a comment.
        assert_eq!(one("a=x\\\n  #y"), kv("a", "x#y"));
        // A blank continuation line ends the logical line.
        assert_eq!(pairs("a=x\\\n   \nb=y"), vec![kv("a", "x"), kv("b", "y")]);
        // A backslash at the very end of the file is dropped.
        assert_eq!(one("a=x\\"), kv("a", "x"));
        assert_eq!(one("a=x\\\n"), kv("a", "x"));
        // The line number is that of the first line.
        let props = parse("\n\na=1\\\n2\nb=3").unwrap();
        assert_eq!((props[0].line, props[1].line), (3, 5));
    }

    #[test]
    fn escapes() {
        assert_eq!(one(r"a\:b\=c\ d=v"), kv("a:b=c d", "v"));
        assert_eq!(one(r"k=\t\n\r\f\\\#\!\q"), kv("k", "\t\n\r\x0C\\#!q"));
        assert_eq!(one(r"k=C:\\data\\kafka"), kv("k", r"C:\data\kafka"));
        // An escaped separator in the value is just the character.
        assert_eq!(one(r"k=a\=b\:c"), kv("k", "a=b:c"));
        // Escaped leading space in the value survives trimming.
        assert_eq!(one(r"k=\  x"), kv("k", "  x"));
    }

    #[test]
    fn unicode_escapes() {
        assert_eq!(one(r"k=\u0041\u00e9\u00E9"), kv("k", "Aéé"));
        assert_eq!(one(r"\u006by=v"), kv("ky", "v"));
        // A surrogate pair in two escapes is one character.
        assert_eq!(one(r"k=\uD83D\uDE00"), kv("k", "😀"));
        // Raw non-ASCII text passes through.
        assert_eq!(one("k=größe 😀"), kv("k", "größe 😀"));
    }

    #[test]
    fn malformed_unicode_escapes() {
        for bad in [r"k=\u12", r"k=\u12G4", r"k=\u", r"k=\uD83D", r"k=\uDE00x"] {
            let err = parse(&format!("a=1\n{bad}")).unwrap_err();
            assert_eq!(err.line, 2, "{bad}: {err}");
        }
        let err = parse(r"k=\u12G4").unwrap_err();
        assert!(err.to_string().contains(r#"\u12G4"#), "{err}");
    }

    #[test]
    fn duplicates_are_all_returned_in_order() {
        let props = parse("a=1\nb=2\na=3").unwrap();
        let keys: Vec<&str> = props.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "b", "a"]);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a=é".as_bytes()), "a=é");
        // Not UTF-8: read as ISO-8859-1.
        assert_eq!(decode(b"a=\xE9"), "a=é");
        assert_eq!(decode(b"\xEF\xBB\xBFbroker.id=1"), "broker.id=1");
    }

    #[test]
    fn kafka_stock_server_properties_excerpt() {
        let text = "\
############################# Server Basics #############################

# The id of the broker. This must be set to a unique integer for each broker.
broker.id=0

#listeners=PLAINTEXT://:9092
num.network.threads=3
log.dirs=/tmp/kafka-logs
zookeeper.connect=localhost:2181
";
        assert_eq!(
            pairs(text),
            vec![
                kv("broker.id", "0"),
                kv("num.network.threads", "3"),
                kv("log.dirs", "/tmp/kafka-logs"),
                kv("zookeeper.connect", "localhost:2181"),
            ]
        );
    }
}
