//! Record values: random uppercase letters of a fixed size (what Kafka's
//! producer perf test sends), or lines of a payload file picked at random.

use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::error::{BenchError, Result};

/// The values a producer cycles through.
#[derive(Debug, Clone)]
pub struct Payloads {
    values: Vec<Vec<u8>>,
    rng: SmallRng,
}

impl Payloads {
    /// One random value of `size` bytes, reused for every record (as Kafka
    /// does; the broker does not compress, so content does not matter).
    pub fn random(size: usize, seed: u64) -> Payloads {
        let mut rng = SmallRng::seed_from_u64(seed);
        let value = (0..size).map(|_| rng.gen_range(b'A'..=b'Z')).collect();
        Payloads {
            values: vec![value],
            rng,
        }
    }

    /// The non-empty lines of `path` (split at `delimiter`).
    pub fn from_file(path: &Path, delimiter: &str, seed: u64) -> Result<Payloads> {
        let text =
            std::fs::read(path).map_err(BenchError::io("cannot read the payload file", path))?;
        let text = String::from_utf8_lossy(&text);
        let values: Vec<Vec<u8>> = text
            .split(delimiter)
            .filter(|line| !line.is_empty())
            .map(|line| line.as_bytes().to_vec())
            .collect();
        if values.is_empty() {
            return Err(BenchError::Usage(format!(
                "payload file {} has no records",
                path.display()
            )));
        }
        Ok(Payloads {
            values,
            rng: SmallRng::seed_from_u64(seed),
        })
    }

    pub fn next_value(&mut self) -> &[u8] {
        let index = if self.values.len() == 1 {
            0
        } else {
            self.rng.gen_range(0..self.values.len())
        };
        &self.values[index]
    }

    /// The mean value size, for the workload description.
    pub fn mean_size(&self) -> f64 {
        self.values.iter().map(Vec::len).sum::<usize>() as f64 / self.values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_have_the_size_asked_for() {
        let mut payloads = Payloads::random(100, 1);
        let value = payloads.next_value().to_vec();
        assert_eq!(value.len(), 100);
        assert!(value.iter().all(u8::is_ascii_uppercase));
        assert_eq!(payloads.mean_size(), 100.0);
    }

    #[test]
    fn a_payload_file_gives_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payloads");
        std::fs::write(&path, "one\ntwo\n\nthree\n").unwrap();
        let mut payloads = Payloads::from_file(&path, "\n", 7).unwrap();
        for _ in 0..20 {
            let value = payloads.next_value();
            assert!([&b"one"[..], b"two", b"three"].contains(&value));
        }
        std::fs::write(&path, "\n\n").unwrap();
        assert!(Payloads::from_file(&path, "\n", 7).is_err());
    }
}
