//! [`from_js`]: JS values (a parsed JSON body, a message, options) into serde types.
//!
//! serde-wasm-bindgen's deserializer builds every error with `format!`, and serde's messages
//! print the offending value, floats included: that alone brought ~30 KB of float printing into
//! the module, more than the rest of the browser code. This deserializer reads exactly what the
//! contract, the messages and the options use (strings, numbers, booleans, null, arrays,
//! objects, unit enum variants), and its errors carry no text: the caller knows what it expected.
//! (Serialization stays with serde-wasm-bindgen, which prints nothing.)

use js_sys::{Array, Object, Reflect};
use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use wasm_bindgen::{JsCast, JsValue};

/// The value did not have the expected shape.
#[derive(Debug)]
pub(crate) struct Invalid;

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unexpected value")
    }
}

impl std::error::Error for Invalid {}

impl de::Error for Invalid {
    /// Drops serde's message unformatted, so no `Display` of any value is linked.
    fn custom<T: fmt::Display>(_: T) -> Self {
        Invalid
    }
}

/// Reads `value` as a `T`.
pub(crate) fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, Invalid> {
    T::deserialize(Js(value))
}

struct Js(JsValue);

impl Js {
    fn is_nullish(&self) -> bool {
        self.0.is_null() || self.0.is_undefined()
    }

    /// A non-negative integer a JS number holds exactly.
    fn unsigned(&self) -> Result<u64, Invalid> {
        const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
        match self.0.as_f64() {
            Some(n) if (0.0..=MAX_SAFE).contains(&n) && n.fract() == 0.0 => Ok(n as u64),
            _ => Err(Invalid),
        }
    }
}

macro_rules! unsigned {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
            // The visitor checks the range of the narrower types.
            visitor.visit_u64(self.unsigned()?)
        }
    )*};
}

impl<'de> Deserializer<'de> for Js {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        let value = self.0;
        if let Some(s) = value.as_string() {
            visitor.visit_string(s)
        } else if let Some(n) = value.as_f64() {
            visitor.visit_f64(n)
        } else if let Some(b) = value.as_bool() {
            visitor.visit_bool(b)
        } else if value.is_null() || value.is_undefined() {
            visitor.visit_unit()
        } else if Array::is_array(&value) {
            visitor.visit_seq(Seq { array: value.into(), next: 0 })
        } else if value.is_object() {
            visitor.visit_map(Map { keys: Object::keys(value.unchecked_ref::<Object>()), next: 0, object: value, current: JsValue::UNDEFINED })
        } else {
            Err(Invalid)
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        if self.is_nullish() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _name: &'static str, _variants: &'static [&'static str], visitor: V) -> Result<V::Value, Invalid> {
        // Unit variants only, written as their name: `"retry"`, `"popup"`.
        let name: StringDeserializer<Invalid> = self.0.as_string().ok_or(Invalid)?.into_deserializer();
        visitor.visit_enum(name)
    }

    unsigned! { deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct Seq {
    array: Array,
    next: u32,
}

impl<'de> SeqAccess<'de> for Seq {
    type Error = Invalid;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Invalid> {
        if self.next >= self.array.length() {
            return Ok(None);
        }
        self.next += 1;
        seed.deserialize(Js(self.array.get(self.next - 1))).map(Some)
    }
}

struct Map {
    keys: Array,
    next: u32,
    object: JsValue,
    current: JsValue,
}

impl<'de> MapAccess<'de> for Map {
    type Error = Invalid;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Invalid> {
        if self.next >= self.keys.length() {
            return Ok(None);
        }
        self.current = self.keys.get(self.next);
        self.next += 1;
        let key: StringDeserializer<Invalid> = self.current.as_string().ok_or(Invalid)?.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Invalid> {
        seed.deserialize(Js(Reflect::get(&self.object, &self.current).map_err(|_| Invalid)?))
    }
}
