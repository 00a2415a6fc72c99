//! A small, strict JSON scanner and writer.
//!
//! syncline never needs to understand an event's payload: it routes by the envelope's
//! fields and hands the payload to JS as text, where the browser's own `JSON.parse` turns it
//! into a value. So this module validates a document, splits objects into fields whose values
//! stay raw text, and reads the few scalar fields the envelope has. Keeping `serde_json` (and
//! float formatting) out of the wasm module is what this buys; never panicking on hostile
//! input is what it must guarantee, so every access is bounds-checked and nesting is limited.

use std::borrow::Cow;

/// Deepest nesting of arrays and objects accepted; deeper input is an error, not a stack overflow.
pub const MAX_DEPTH: usize = 128;

/// Why a piece of text is not the JSON that was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text ended inside a value.
    #[error("unexpected end of JSON input")]
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    #[error("unexpected character in JSON at byte {0}")]
    UnexpectedChar(usize),
    /// A string holds a bad escape, a control character or a lone surrogate.
    #[error("invalid string in JSON at byte {0}")]
    InvalidString(usize),
    /// A number that JSON's grammar does not allow.
    #[error("invalid number in JSON at byte {0}")]
    InvalidNumber(usize),
    /// More than [`MAX_DEPTH`] nested arrays or objects.
    #[error("JSON nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Something other than whitespace after the value.
    #[error("trailing characters after JSON value at byte {0}")]
    TrailingCharacters(usize),
    /// The value has another type than the one asked for.
    #[error("expected a JSON {0}")]
    WrongType(&'static str),
}

/// Checks that `text` is exactly one JSON value, with optional surrounding whitespace.
pub fn validate(text: &str) -> Result<(), JsonError> {
    let mut scanner = Scanner::new(text);
    scanner.skip_ws();
    scanner.value(0)?;
    scanner.finish()
}

/// Splits a JSON object into its fields: unescaped keys and raw (still encoded) values.
///
/// The whole object is validated. Duplicate keys are kept in order; callers take the first.
pub fn object_fields(text: &str) -> Result<Vec<(Cow<'_, str>, &str)>, JsonError> {
    let mut scanner = Scanner::new(text);
    scanner.skip_ws();
    let fields = scanner.object_fields()?;
    scanner.finish()?;
    Ok(fields)
}

/// Splits a JSON array into its raw (still encoded) elements, validating the whole array.
pub fn array_elements(text: &str) -> Result<Vec<&str>, JsonError> {
    let mut scanner = Scanner::new(text);
    scanner.skip_ws();
    if scanner.peek() != Some(b'[') {
        return Err(JsonError::WrongType("array"));
    }
    scanner.pos += 1;
    let mut items = Vec::new();
    scanner.skip_ws();
    if scanner.peek() == Some(b']') {
        scanner.pos += 1;
    } else {
        loop {
            scanner.skip_ws();
            let start = scanner.pos;
            scanner.value(1)?;
            items.push(scanner.slice(start));
            scanner.skip_ws();
            match scanner.next_byte()? {
                b',' => continue,
                b']' => break,
                _ => return Err(JsonError::UnexpectedChar(scanner.pos - 1)),
            }
        }
    }
    scanner.finish()?;
    Ok(items)
}

/// Reads a raw JSON string value, unescaping it (borrowed when it holds no escapes).
pub fn as_str(raw: &str) -> Result<Cow<'_, str>, JsonError> {
    let mut scanner = Scanner::new(raw);
    scanner.skip_ws();
    if scanner.peek() != Some(b'"') {
        return Err(JsonError::WrongType("string"));
    }
    let value = scanner.string()?;
    scanner.finish()?;
    Ok(value)
}

/// Reads a raw JSON number that is a non-negative integer fitting in `u64`.
pub fn as_u64(raw: &str) -> Result<u64, JsonError> {
    let text = raw.trim_matches(is_ws_char);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(JsonError::WrongType("non-negative integer"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(JsonError::InvalidNumber(0));
    }
    let mut value: u64 = 0;
    for b in text.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(JsonError::WrongType("non-negative integer"))?;
    }
    Ok(value)
}

/// Reads a raw JSON boolean.
pub fn as_bool(raw: &str) -> Result<bool, JsonError> {
    match raw.trim_matches(is_ws_char) {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(JsonError::WrongType("boolean")),
    }
}

/// True when a raw value is JSON `null` (absent fields are treated the same by callers).
pub fn is_null(raw: &str) -> bool {
    raw.trim_matches(is_ws_char) == "null"
}

/// Appends `value` to `out` as a JSON string literal, escaping what JSON requires.
pub fn write_str(out: &mut String, value: &str) {
    out.push('"');
    let mut rest = value;
    while let Some(index) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
        let (plain, tail) = rest.split_at(index);
        out.push_str(plain);
        let mut chars = tail.chars();
        if let Some(c) = chars.next() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                other => {
                    out.push_str("\\u00");
                    let byte = other as u32;
                    out.push(hex_digit(byte >> 4));
                    out.push(hex_digit(byte & 0xf));
                }
            }
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    out.push('"');
}

/// Appends a `u64` in decimal without going through `core::fmt`.
pub fn write_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        if let Some(slot) = digits.get_mut(len) {
            *slot = b'0' + (value % 10) as u8;
        }
        len += 1;
        value /= 10;
        if value == 0 || len == digits.len() {
            break;
        }
    }
    for digit in digits.iter().take(len).rev() {
        out.push(char::from(*digit));
    }
}

fn hex_digit(n: u32) -> char {
    char::from_digit(n & 0xf, 16).unwrap_or('0')
}

fn is_ws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Result<u8, JsonError> {
        let b = self.peek().ok_or(JsonError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }

    fn slice(&self, start: usize) -> &'a str {
        // Positions only ever stop on ASCII structural bytes or the end, so these are char
        // boundaries; `get` keeps it panic-free regardless.
        self.text.get(start..self.pos).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn finish(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(JsonError::TrailingCharacters(self.pos));
        }
        Ok(())
    }

    fn expect_literal(&mut self, literal: &[u8]) -> Result<(), JsonError> {
        let end = self.pos + literal.len();
        match self.bytes.get(self.pos..end) {
            Some(found) if found == literal => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(JsonError::UnexpectedChar(self.pos)),
            None => Err(JsonError::UnexpectedEnd),
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        match self.peek().ok_or(JsonError::UnexpectedEnd)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b't' => self.expect_literal(b"true"),
            b'f' => self.expect_literal(b"false"),
            b'n' => self.expect_literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(JsonError::UnexpectedChar(self.pos)),
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected());
            }
            self.string()?;
            self.skip_ws();
            if self.next_byte()? != b':' {
                return Err(JsonError::UnexpectedChar(self.pos - 1));
            }
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.next_byte()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(JsonError::UnexpectedChar(self.pos - 1)),
            }
        }
    }

    fn object_fields(&mut self) -> Result<Vec<(Cow<'a, str>, &'a str)>, JsonError> {
        if self.peek() != Some(b'{') {
            return Err(JsonError::WrongType("object"));
        }
        self.pos += 1;
        let mut fields = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(fields);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected());
            }
            let key = self.string()?;
            self.skip_ws();
            if self.next_byte()? != b':' {
                return Err(JsonError::UnexpectedChar(self.pos - 1));
            }
            self.skip_ws();
            let start = self.pos;
            self.value(1)?;
            fields.push((key, self.slice(start)));
            self.skip_ws();
            match self.next_byte()? {
                b',' => continue,
                b'}' => return Ok(fields),
                _ => return Err(JsonError::UnexpectedChar(self.pos - 1)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.next_byte()? {
                b',' => continue,
                b']' => return Ok(()),
                _ => return Err(JsonError::UnexpectedChar(self.pos - 1)),
            }
        }
    }

    fn unexpected(&self) -> JsonError {
        if self.pos >= self.bytes.len() {
            JsonError::UnexpectedEnd
        } else {
            JsonError::UnexpectedChar(self.pos)
        }
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(JsonError::InvalidNumber(start)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(JsonError::InvalidNumber(start));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(JsonError::InvalidNumber(start));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    /// Scans a string starting at its opening quote; borrows when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes, just find the closing quote and reject control characters.
        loop {
            match self.peek() {
                None => return Err(JsonError::UnexpectedEnd),
                Some(b'"') => {
                    let s = self.slice(start);
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(b) if b < 0x20 => return Err(JsonError::InvalidString(self.pos)),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(self.slice(start));
        loop {
            let chunk_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.slice(chunk_start));
            match self.next_byte()? {
                b'"' => return Ok(Cow::Owned(out)),
                b'\\' => self.escape(&mut out)?,
                _ => return Err(JsonError::InvalidString(self.pos - 1)),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let at = self.pos;
        match self.next_byte()? {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    if self.next_byte()? != b'\\' || self.next_byte()? != b'u' {
                        return Err(JsonError::InvalidString(at));
                    }
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(JsonError::InvalidString(at));
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else if (0xDC00..0xE000).contains(&first) {
                    return Err(JsonError::InvalidString(at));
                } else {
                    first
                };
                out.push(char::from_u32(code).ok_or(JsonError::InvalidString(at))?);
            }
            _ => return Err(JsonError::InvalidString(at)),
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0u32;
        for _ in 0..4 {
            let at = self.pos;
            let b = self.next_byte()?;
            let digit = char::from(b)
                .to_digit(16)
                .ok_or(JsonError::InvalidString(at))?;
            value = value * 16 + digit;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_documents() {
        for ok in [
            "null",
            " true ",
            "0",
            "-1.5e+10",
            "\"a\\u00e9\\ud83d\\ude00\"",
            "[1,[2,{\"a\":[]}],{}]",
            "{\"a\" : {\"b\" : null}}",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "nul",
            "01",
            "1.",
            "-",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "\"\u{1}\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "[1] x",
            "{'a':1}",
            "\"abc",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn limits_depth_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000);
        assert_eq!(validate(&deep), Err(JsonError::TooDeep));
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(validate(&fine), Ok(()));
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(validate(&too_deep), Err(JsonError::TooDeep));
    }

    #[test]
    fn splits_objects_into_raw_fields() {
        let fields = object_fields(r#"{"t":"ev","data":{"x":[1,2]},"k\"q":  "v" }"#).unwrap();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0], (Cow::Borrowed("t"), "\"ev\""));
        assert_eq!(fields[1].1, r#"{"x":[1,2]}"#);
        assert_eq!(fields[2].0, "k\"q");
        assert_eq!(object_fields("[]"), Err(JsonError::WrongType("object")));
        assert!(object_fields("{\"a\":1} {").is_err());
    }

    #[test]
    fn splits_arrays() {
        assert_eq!(
            array_elements(" [ 1 , {\"a\":2} ,\"x\"]").unwrap(),
            vec!["1", "{\"a\":2}", "\"x\""]
        );
        assert_eq!(array_elements("[]").unwrap(), Vec::<&str>::new());
        assert!(array_elements("[1,,2]").is_err());
    }

    #[test]
    fn reads_scalars() {
        assert_eq!(as_str("\"a\\nb\"").unwrap(), "a\nb");
        assert!(matches!(
            as_str("\"plain\"").unwrap(),
            Cow::Borrowed("plain")
        ));
        assert_eq!(as_str("1"), Err(JsonError::WrongType("string")));
        assert_eq!(as_u64("18446744073709551615"), Ok(u64::MAX));
        assert!(as_u64("18446744073709551616").is_err());
        assert!(as_u64("-1").is_err());
        assert!(as_u64("1.0").is_err());
        assert!(as_u64("007").is_err());
        assert_eq!(as_bool(" true"), Ok(true));
        assert!(as_bool("1").is_err());
        assert!(is_null(" null "));
    }

    #[test]
    fn writes_strings_that_read_back() {
        for s in [
            "",
            "plain",
            "quote\"back\\slash",
            "ctl\u{1}\u{1f}\n\t\r",
            "é😀",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(as_str(&out).unwrap(), s);
        }
    }

    #[test]
    fn writes_integers() {
        for n in [0u64, 7, 10, 1_234_567, u64::MAX] {
            let mut out = String::new();
            write_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }
}
