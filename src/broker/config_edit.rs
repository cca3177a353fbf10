//! Edits of a topic's config overrides, as AlterConfigs (replace them all)
//! and IncrementalAlterConfigs (set, delete, append, subtract one key at a
//! time) ask for them. Pure: the control shard computes the new overrides
//! with [`edit_overrides`] against its current table, then persists and
//! broadcasts them.
//!
//! The rules are Kafka's (`ConfigurationControlManager`):
//! - AlterConfigs replaces every override; a key with a null value is left
//!   out (it returns to its default).
//! - SET validates the value; DELETE removes the override; APPEND and
//!   SUBTRACT work on the items of a LIST config (`cleanup.policy`), starting
//!   from its current effective value, and are refused for other types.
//! - A key named twice in one resource is INVALID_REQUEST; any refused key or
//!   value is INVALID_CONFIG naming it, and nothing of the resource changes.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use crate::config::{validate_topic_config, ConfigType, TopicDefaults};

/// IncrementalAlterConfigs' operation codes.
pub const OP_SET: i8 = 0;
pub const OP_DELETE: i8 = 1;
pub const OP_APPEND: i8 = 2;
pub const OP_SUBTRACT: i8 = 3;

/// One IncrementalAlterConfigs operation on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String, String),
    Delete(String),
    Append(String, String),
    Subtract(String, String),
}

impl ConfigOp {
    /// The operation for a wire code, or INVALID_REQUEST for an unknown one.
    pub fn from_wire(
        operation: i8,
        name: &str,
        value: Option<&str>,
    ) -> Result<ConfigOp, (ResponseError, String)> {
        let name = name.to_string();
        let value = || value.unwrap_or_default().to_string();
        match operation {
            OP_SET => Ok(ConfigOp::Set(name, value())),
            OP_DELETE => Ok(ConfigOp::Delete(name)),
            OP_APPEND => Ok(ConfigOp::Append(name, value())),
            OP_SUBTRACT => Ok(ConfigOp::Subtract(name, value())),
            other => Err((
                ResponseError::InvalidRequest,
                format!("Unknown config operation {other} for config key: {name}"),
            )),
        }
    }

    fn name(&self) -> &str {
        match self {
            ConfigOp::Set(name, _)
            | ConfigOp::Delete(name)
            | ConfigOp::Append(name, _)
            | ConfigOp::Subtract(name, _) => name,
        }
    }
}

/// What to do to one topic's overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigEdit {
    /// AlterConfigs: the overrides become exactly these (null values dropped).
    Replace(Vec<(String, Option<String>)>),
    /// IncrementalAlterConfigs: these operations, one per key.
    Incremental(Vec<ConfigOp>),
}

pub type Refusal = (ResponseError, String);

fn invalid_config(message: String) -> Refusal {
    (ResponseError::InvalidConfig, message)
}

/// The overrides `current` becomes under `edit`, every value validated.
pub fn edit_overrides(
    current: &BTreeMap<String, String>,
    edit: &ConfigEdit,
    defaults: &TopicDefaults,
) -> Result<BTreeMap<String, String>, Refusal> {
    let next = match edit {
        ConfigEdit::Replace(configs) => {
            check_distinct(configs.iter().map(|(name, _)| name.as_str()))?;
            configs
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), value.clone()?)))
                .collect()
        }
        ConfigEdit::Incremental(ops) => {
            check_distinct(ops.iter().map(ConfigOp::name))?;
            let mut next = current.clone();
            for op in ops {
                apply_op(&mut next, current, op, defaults)?;
            }
            next
        }
    };
    for (name, value) in &next {
        validate_topic_config(name, value).map_err(|e| invalid_config(e.to_string()))?;
    }
    defaults
        .with_overrides(next.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| invalid_config(e.to_string()))?;
    Ok(next)
}

fn check_distinct<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), Refusal> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err((
                ResponseError::InvalidRequest,
                format!("Error due to duplicate config keys: {name}"),
            ));
        }
    }
    Ok(())
}

fn apply_op(
    next: &mut BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
    op: &ConfigOp,
    defaults: &TopicDefaults,
) -> Result<(), Refusal> {
    let name = op.name();
    // The key's type and effective value now (override or default); an
    // unknown name is refused for every operation, DELETE included, so a
    // typo is reported instead of silently doing nothing.
    let config = defaults
        .with_overrides(current.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| invalid_config(e.to_string()))?;
    let entry = defaults
        .describe(&config)
        .into_iter()
        .find(|entry| entry.name == name)
        .ok_or_else(|| invalid_config(format!("Unknown topic config name: {name}")))?;
    let items = |value: &Option<String>| -> Vec<String> {
        value
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    };
    match op {
        ConfigOp::Set(_, value) => {
            next.insert(name.to_string(), value.clone());
        }
        ConfigOp::Delete(_) => {
            next.remove(name);
        }
        ConfigOp::Append(_, value) | ConfigOp::Subtract(_, value) => {
            let verb = if matches!(op, ConfigOp::Append(..)) {
                "append"
            } else {
                "subtract"
            };
            if entry.config_type != ConfigType::List {
                return Err(invalid_config(format!(
                    "Config value {verb} is not allowed for config key: {name}"
                )));
            }
            let mut list = items(&entry.value);
            for item in items(&Some(value.clone())) {
                if verb == "append" {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                } else {
                    list.retain(|present| *present != item);
                }
            }
            next.insert(name.to_string(), list.join(","));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn defaults() -> TopicDefaults {
        let (broker, _) = BrokerConfig::from_pairs([("log.retention.ms", "1000")]).unwrap();
        broker.topic_defaults()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set(name: &str, value: &str) -> ConfigOp {
        ConfigOp::Set(name.into(), value.into())
    }

    #[test]
    fn replace_drops_every_other_override_and_nulls() {
        let current = map(&[("retention.ms", "5"), ("segment.ms", "10")]);
        let edit = ConfigEdit::Replace(vec![
            ("retention.bytes".into(), Some("100".into())),
            ("segment.ms".into(), None),
        ]);
        let next = edit_overrides(&current, &edit, &defaults()).unwrap();
        assert_eq!(next, map(&[("retention.bytes", "100")]));
    }

    #[test]
    fn incremental_set_and_delete_keep_the_rest() {
        let current = map(&[("retention.ms", "5"), ("segment.ms", "10")]);
        let edit = ConfigEdit::Incremental(vec![
            set("retention.bytes", "100"),
            ConfigOp::Delete("segment.ms".into()),
        ]);
        let next = edit_overrides(&current, &edit, &defaults()).unwrap();
        assert_eq!(
            next,
            map(&[("retention.bytes", "100"), ("retention.ms", "5")])
        );
    }

    #[test]
    fn bad_names_and_values_are_invalid_config_naming_the_key() {
        let current = BTreeMap::new();
        for edit in [
            ConfigEdit::Incremental(vec![set("retention.msx", "1")]),
            ConfigEdit::Incremental(vec![ConfigOp::Delete("retention.msx".into())]),
            ConfigEdit::Replace(vec![("retention.msx".into(), Some("1".into()))]),
        ] {
            let (error, message) = edit_overrides(&current, &edit, &defaults()).unwrap_err();
            assert_eq!(error, ResponseError::InvalidConfig);
            assert!(message.contains("retention.msx"), "{message}");
        }
        let edit = ConfigEdit::Incremental(vec![set("retention.ms", "soon")]);
        let (error, message) = edit_overrides(&current, &edit, &defaults()).unwrap_err();
        assert_eq!(error, ResponseError::InvalidConfig);
        assert!(
            message.contains("retention.ms") && message.contains("soon"),
            "{message}"
        );
    }

    #[test]
    fn append_and_subtract_only_on_lists() {
        let current = BTreeMap::new();
        let append = ConfigEdit::Incremental(vec![ConfigOp::Append(
            "cleanup.policy".into(),
            "compact".into(),
        )]);
        let next = edit_overrides(&current, &append, &defaults()).unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "delete,compact")]));
        let subtract = ConfigEdit::Incremental(vec![ConfigOp::Subtract(
            "cleanup.policy".into(),
            "delete".into(),
        )]);
        let next = edit_overrides(&next, &subtract, &defaults()).unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "compact")]));
        let on_long =
            ConfigEdit::Incremental(vec![ConfigOp::Append("retention.ms".into(), "1".into())]);
        let (error, message) = edit_overrides(&current, &on_long, &defaults()).unwrap_err();
        assert_eq!(error, ResponseError::InvalidConfig);
        assert_eq!(
            message,
            "Config value append is not allowed for config key: retention.ms"
        );
    }

    #[test]
    fn a_key_twice_is_invalid_request() {
        let edit = ConfigEdit::Incremental(vec![
            set("retention.ms", "1"),
            ConfigOp::Delete("retention.ms".into()),
        ]);
        let (error, _) = edit_overrides(&BTreeMap::new(), &edit, &defaults()).unwrap_err();
        assert_eq!(error, ResponseError::InvalidRequest);
        assert!(ConfigOp::from_wire(9, "x", None).is_err());
    }
}
