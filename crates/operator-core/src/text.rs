//! Enums kept as text, in SQLite and in JSON: their names come from one `strum` derive
//! (`AsRefStr` to write, `EnumString` to read, with `serialize_all = "snake_case"`), and
//! [`serde_as_text!`] makes serde use the same names, so no second list can drift from the first.

/// Implements `Serialize` (the `AsRef<str>` text) and `Deserialize` (through `FromStr`) for each
/// enum given.
macro_rules! serde_as_text {
    ($($t:ty),+ $(,)?) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_ref())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(|_| {
                    serde::de::Error::custom(format!(
                        "unknown {} {text:?}",
                        stringify!($t)
                    ))
                })
            }
        }
    )+};
}

pub(crate) use serde_as_text;
