//! Plain JS objects read field by field with `Reflect`, and built the same way.
//!
//! Options are read in the order their fields are declared; a missing field (or `undefined`
//! without the key) is absent, `null` is absent for a leaf, and a value of the wrong type
//! fails with "`what`: invalid type: `found`, expected `wanted`". Building and reading objects
//! here rather than through a serialization framework keeps its code, and float formatting,
//! out of the wasm module.

use wasm_bindgen::prelude::*;

use super::convert::invalid_argument;

/// An options object, or nothing (`undefined`/`null` at the top: every field absent).
pub struct Fields<'a> {
    object: Option<JsValue>,
    what: &'a str,
}

impl<'a> Fields<'a> {
    /// The object passed to a call; `name` is its type in error messages.
    pub fn top(value: &JsValue, what: &'a str, name: &str) -> Result<Self, JsValue> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self { object: None, what });
        }
        Self::object_of(value.clone(), what, name)
    }

    fn object_of(value: JsValue, what: &'a str, name: &str) -> Result<Self, JsValue> {
        if value.is_object() {
            Ok(Self {
                object: Some(value),
                what,
            })
        } else {
            Err(invalid_type(what, &value, &["struct ", name].concat()))
        }
    }

    /// The field's value, unless the key is missing.
    fn field(&self, key: &str) -> Option<JsValue> {
        let object = self.object.as_ref()?;
        let key = JsValue::from_str(key);
        let value = js_sys::Reflect::get(object, &key).ok()?;
        if value.is_undefined() && !js_sys::Reflect::has(object, &key).unwrap_or(false) {
            return None;
        }
        Some(value)
    }

    /// The field's value unless missing, `undefined` or `null`.
    pub fn value(&self, key: &str) -> Option<JsValue> {
        self.field(key)
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    /// A nested options object (`name` is its type); missing reads as empty.
    pub fn nested(&self, key: &str, name: &str) -> Result<Fields<'a>, JsValue> {
        match self.field(key) {
            None => Ok(Self {
                object: None,
                what: self.what,
            }),
            Some(v) => Self::object_of(v, self.what, name),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>, JsValue> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| self.wrong(&v, "f64")),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, JsValue> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.wrong(&v, "a boolean")),
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>, JsValue> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| self.wrong(&v, "a string")),
        }
    }

    fn wrong(&self, value: &JsValue, wanted: &str) -> JsValue {
        invalid_type(self.what, value, wanted)
    }

    /// A value that is neither of the types an option takes (`name` names the pair).
    pub fn no_variant(&self, name: &str) -> JsValue {
        invalid_argument(
            &[
                self.what,
                ": data did not match any variant of untagged enum ",
                name,
            ]
            .concat(),
        )
    }
}

fn invalid_type(what: &str, value: &JsValue, wanted: &str) -> JsValue {
    let found = if value.is_undefined() || value.is_null() {
        "unit value".to_owned()
    } else if let Some(b) = value.as_bool() {
        ["boolean `", if b { "true" } else { "false" }, "`"].concat()
    } else if let Some(n) = value.as_f64() {
        ["floating point `", &float_text(n), "`"].concat()
    } else if let Some(s) = value.as_string() {
        format!("string {s:?}")
    } else {
        format!("{value:?}")
    };
    invalid_argument(&[what, ": invalid type: ", &found, ", expected ", wanted].concat())
}

/// A number as an error message shows it: with a decimal point, "inf", "NaN".
fn float_text(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let mut text: String = js_sys::Number::from(n)
        .to_string_with_radix(10)
        .map(String::from)
        .unwrap_or_default();
    if !text.contains(['.', 'e']) {
        text.push_str(".0");
    }
    text
}

/// Each string of an array (or other iterable); `None` if it is not one, or holds a non-string.
pub fn strings(value: &JsValue) -> Option<Vec<String>> {
    let iter = js_sys::try_iter(value).ok()??;
    let mut out = Vec::new();
    for item in iter {
        out.push(item.ok()?.as_string()?);
    }
    Some(out)
}

/// A plain object built field by field.
pub struct Builder(js_sys::Object);

impl Builder {
    pub fn new() -> Self {
        Self(js_sys::Object::new())
    }

    pub fn set(&self, key: &str, value: JsValue) -> &Self {
        let _ = js_sys::Reflect::set(&self.0, &JsValue::from_str(key), &value);
        self
    }

    pub fn num(&self, key: &str, value: u64) -> &Self {
        self.set(key, JsValue::from_f64(value as f64))
    }

    /// A number, or `null` when absent.
    pub fn opt(&self, key: &str, value: Option<u64>) -> &Self {
        self.set(
            key,
            value.map_or(JsValue::NULL, |v| JsValue::from_f64(v as f64)),
        )
    }

    pub fn str(&self, key: &str, value: &str) -> &Self {
        self.set(key, JsValue::from_str(value))
    }

    pub fn flag(&self, key: &str, value: bool) -> &Self {
        self.set(key, JsValue::from_bool(value))
    }

    pub fn build(self) -> JsValue {
        self.0.into()
    }
}
