//! `key=value` arguments (`--property`, `--config`, `--add-config`,
//! `--producer-property`, ...) and Kafka's `--command-config` files.

use std::collections::BTreeMap;
use std::path::Path;

use super::CliError;

/// Splits `key=value`; the flag name is for the message.
pub fn parse_pair(flag: &str, pair: &str) -> Result<(String, String), CliError> {
    match pair.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(CliError::Usage(format!(
            "{flag} takes key=value, got {pair:?}"
        ))),
    }
}

/// Every `key=value` of a repeated flag, later ones winning.
pub fn parse_pairs(flag: &str, pairs: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    pairs
        .iter()
        .map(|pair| parse_pair(flag, pair))
        .collect::<Result<_, _>>()
}

/// A Java properties file of client settings (`key=value` lines, `#` and
/// `!` comments).
pub fn read_properties_file(path: &Path) -> Result<BTreeMap<String, String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Failed(format!("reading {}: {e}", path.display())))?;
    let mut properties = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{}:{}: expected key=value, got {line:?}",
                    path.display(),
                    number + 1
                ))
            })?;
        properties.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(properties)
}

/// Kafka's comma-separated `k=v,k2=v2` list (`--add-config`), where a value
/// may hold commas inside square brackets (`k=[a,b]`).
pub fn parse_config_list(flag: &str, list: &str) -> Result<Vec<(String, String)>, CliError> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for c in list.chars() {
        match c {
            '[' => {
                depth += 1;
                continue;
            }
            ']' => {
                depth = depth.saturating_sub(1);
                continue;
            }
            ',' if depth == 0 => {
                if !current.trim().is_empty() {
                    pairs.push(parse_pair(flag, current.trim())?);
                }
                current.clear();
                continue;
            }
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        pairs.push(parse_pair(flag, current.trim())?);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_split_on_commas_outside_brackets() {
        let pairs =
            parse_config_list("--add-config", "a=1,cleanup.policy=[delete,compact]").unwrap();
        assert_eq!(
            pairs,
            [
                ("a".to_string(), "1".to_string()),
                ("cleanup.policy".to_string(), "delete,compact".to_string())
            ]
        );
        assert!(parse_config_list("--add-config", "novalue").is_err());
    }

    #[test]
    fn pairs_keep_equals_signs_in_values() {
        assert_eq!(
            parse_pair("--property", "key.separator==").unwrap(),
            ("key.separator".to_string(), "=".to_string())
        );
    }
}
