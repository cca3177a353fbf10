//! How `sluice consume` turns key and value bytes into text: Kafka's
//! deserializers, named by a short word or by Kafka's class name
//! (`org.apache.kafka.common.serialization.LongDeserializer`), so the
//! output of a word count (8-byte big-endian longs) prints as numbers.

use super::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deserializer {
    /// UTF-8 text (invalid sequences replaced), Kafka's StringDeserializer.
    String,
    /// Raw bytes as they are (ByteArrayDeserializer, BytesDeserializer).
    Bytes,
    /// Big-endian integers and IEEE floats of exactly their size.
    Long,
    Integer,
    Short,
    Double,
    Float,
}

impl Deserializer {
    /// Parses `string`, `long`, ... or a Kafka deserializer class name.
    pub fn parse(name: &str) -> Result<Deserializer, CliError> {
        let simple = name.rsplit('.').next().unwrap_or(name);
        let simple = simple.strip_suffix("Deserializer").unwrap_or(simple);
        match simple.to_ascii_lowercase().as_str() {
            "string" => Ok(Deserializer::String),
            "bytes" | "bytearray" | "bytebuffer" => Ok(Deserializer::Bytes),
            "long" => Ok(Deserializer::Long),
            "int" | "integer" => Ok(Deserializer::Integer),
            "short" => Ok(Deserializer::Short),
            "double" => Ok(Deserializer::Double),
            "float" => Ok(Deserializer::Float),
            _ => Err(CliError::Usage(format!(
                "unknown deserializer {name:?}: use string, bytes, long, int, short, double, float or Kafka's class name"
            ))),
        }
    }

    fn class_name(self) -> &'static str {
        match self {
            Deserializer::String => "StringDeserializer",
            Deserializer::Bytes => "ByteArrayDeserializer",
            Deserializer::Long => "LongDeserializer",
            Deserializer::Integer => "IntegerDeserializer",
            Deserializer::Short => "ShortDeserializer",
            Deserializer::Double => "DoubleDeserializer",
            Deserializer::Float => "FloatDeserializer",
        }
    }

    /// The bytes as printed; a number of the wrong size is an error, as in
    /// Kafka ("Size of data received by LongDeserializer is not 8").
    pub fn render(self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let sized = |size: usize| -> Result<&[u8], String> {
            if bytes.len() == size {
                Ok(bytes)
            } else {
                Err(format!(
                    "Size of data received by {} is not {size}",
                    self.class_name()
                ))
            }
        };
        let text = match self {
            Deserializer::String => return Ok(String::from_utf8_lossy(bytes).into_owned().into()),
            Deserializer::Bytes => return Ok(bytes.to_vec()),
            Deserializer::Long => {
                i64::from_be_bytes(sized(8)?.try_into().map_err(|_| "size")?).to_string()
            }
            Deserializer::Integer => {
                i32::from_be_bytes(sized(4)?.try_into().map_err(|_| "size")?).to_string()
            }
            Deserializer::Short => {
                i16::from_be_bytes(sized(2)?.try_into().map_err(|_| "size")?).to_string()
            }
            Deserializer::Double => java_double(f64::from_be_bytes(
                sized(8)?.try_into().map_err(|_| "size")?,
            )),
            Deserializer::Float => java_double(f64::from(f32::from_be_bytes(
                sized(4)?.try_into().map_err(|_| "size")?,
            ))),
        };
        Ok(text.into_bytes())
    }
}

/// Java prints doubles with a decimal point (`2.0`, not `2`).
fn java_double(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e7 {
        format!("{value:.1}")
    } else if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_and_words_name_the_same_deserializer() {
        assert_eq!(
            Deserializer::parse("org.apache.kafka.common.serialization.LongDeserializer").unwrap(),
            Deserializer::Long
        );
        assert_eq!(Deserializer::parse("long").unwrap(), Deserializer::Long);
        assert_eq!(Deserializer::parse("int").unwrap(), Deserializer::Integer);
        assert!(Deserializer::parse("avro").is_err());
    }

    #[test]
    fn numbers_are_big_endian_and_sized() {
        assert_eq!(
            Deserializer::Long.render(&42i64.to_be_bytes()).unwrap(),
            b"42"
        );
        assert_eq!(
            Deserializer::Integer
                .render(&(-7i32).to_be_bytes())
                .unwrap(),
            b"-7"
        );
        assert_eq!(
            Deserializer::Double.render(&2f64.to_be_bytes()).unwrap(),
            b"2.0"
        );
        assert_eq!(
            Deserializer::Double.render(&2.5f64.to_be_bytes()).unwrap(),
            b"2.5"
        );
        assert_eq!(
            Deserializer::Long.render(b"abc").unwrap_err(),
            "Size of data received by LongDeserializer is not 8"
        );
    }
}
