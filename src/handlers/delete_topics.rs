//! DeleteTopics (key 20), v1-6: by name (v1-5 `topic_names`, v6 `topics`
//! with a name) or by topic id (v6 `topics` with an id). Deleted on the
//! control shard, which removes the topic from every shard's table (closing
//! and deleting its partitions) before the answer; `timeout_ms` is therefore
//! not used.
//!
//! Malformed v6 entries are refused one by one, as Kafka's controller does
//! (INVALID_REQUEST: a name and an id at once, neither, a name or id given
//! twice, a name whose id is also given), and the rest is deleted. A name or
//! id given twice gets one answer, not one per occurrence.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{encode, HandlerError, Reply};
use crate::broker::frontend;
use crate::broker::messages::{ControlRequest, ControlResponse, TopicOutcome, TopicSelector};
use crate::broker::shard::ShardState;
use crate::cluster::TopicTable;

pub async fn handle(
    shard: &Rc<ShardState>,
    header: &RequestHeader,
    version: i16,
    request: DeleteTopicsRequest,
) -> Result<Reply, HandlerError> {
    let entries: Vec<Entry> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| Entry {
                name: t.name.as_ref().map(|n| n.as_str().to_string()),
                id: t.topic_id,
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| Entry {
                name: Some(n.as_str().to_string()),
                id: Uuid::nil(),
            })
            .collect()
    };
    let rows = plan(&entries, &shard.topics());

    let selectors: Vec<TopicSelector> = rows
        .iter()
        .filter_map(|row| match row {
            Row::Delete(target) => Some(target.selector()),
            Row::Refused { .. } => None,
        })
        .collect();
    let mut outcomes = if selectors.is_empty() {
        Vec::new().into_iter()
    } else {
        match frontend::control::call(shard, ControlRequest::DeleteTopics { topics: selectors })
            .await
        {
            Ok(ControlResponse::TopicsDeleted(outcomes)) => outcomes.into_iter(),
            Ok(_) => {
                tracing::error!("unexpected control answer to DeleteTopics");
                Vec::new().into_iter()
            }
            Err(error) => {
                tracing::error!(%error, "DeleteTopics: control shard unreachable");
                Vec::new().into_iter()
            }
        }
    };

    let mut results = Vec::with_capacity(rows.len());
    for row in rows {
        let result = match row {
            Row::Refused {
                name,
                id,
                error,
                message,
            } => result(name, id, Some((error, message))),
            Row::Delete(target) => {
                let outcome = outcomes.next().unwrap_or_else(|| TopicOutcome {
                    name: String::new(),
                    id: Uuid::nil(),
                    error: Some((
                        ResponseError::UnknownServerError,
                        "the control shard did not answer".to_string(),
                    )),
                    partitions: -1,
                    replication_factor: -1,
                });
                answer(target, outcome)
            }
        };
        results.push(result);
    }
    let response = DeleteTopicsResponse::default().with_responses(results);
    encode(
        ApiKey::DeleteTopics,
        version,
        header.correlation_id,
        &response,
    )
}

/// One topic as the request names it.
#[derive(Clone, Debug)]
struct Entry {
    name: Option<String>,
    /// Nil when not given.
    id: Uuid,
}

/// One response row, before the deletion.
#[derive(Clone, Debug, PartialEq)]
enum Row {
    Delete(Target),
    Refused {
        name: Option<String>,
        id: Uuid,
        error: ResponseError,
        message: String,
    },
}

/// A topic to delete, as the request named it.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    Name(String),
    Id(Uuid),
}

impl Target {
    fn selector(&self) -> TopicSelector {
        match self {
            Target::Name(name) => TopicSelector::Name(name.clone()),
            Target::Id(id) => TopicSelector::Id(*id),
        }
    }
}

fn invalid(name: Option<String>, id: Uuid, message: &str) -> Row {
    Row::Refused {
        name,
        id,
        error: ResponseError::InvalidRequest,
        message: message.to_string(),
    }
}

/// The rows of the answer in request order: what to delete and what is
/// refused before asking the control shard. `table` resolves names to ids
/// only to notice a topic named both ways.
fn plan(entries: &[Entry], table: &TopicTable) -> Vec<Row> {
    let mut name_count: HashMap<&str, usize> = HashMap::new();
    let mut id_count: HashMap<Uuid, usize> = HashMap::new();
    for entry in entries {
        match (&entry.name, entry.id.is_nil()) {
            (Some(name), true) => *name_count.entry(name).or_default() += 1,
            (None, false) => *id_count.entry(entry.id).or_default() += 1,
            _ => {}
        }
    }
    let given_ids: HashSet<Uuid> = id_count
        .iter()
        .filter(|(_, count)| **count == 1)
        .map(|(id, _)| *id)
        .collect();
    let mut answered_names: HashSet<&str> = HashSet::new();
    let mut answered_ids: HashSet<Uuid> = HashSet::new();
    let mut rows = Vec::new();
    for entry in entries {
        match (&entry.name, entry.id.is_nil()) {
            (None, true) => rows.push(invalid(
                None,
                Uuid::nil(),
                "Neither topic name nor id were specified.",
            )),
            (Some(name), false) => rows.push(invalid(
                Some(name.clone()),
                entry.id,
                "You may not specify both topic name and topic id.",
            )),
            (Some(name), true) => {
                if !answered_names.insert(name) {
                    continue;
                }
                if name_count[name.as_str()] > 1 {
                    rows.push(invalid(
                        Some(name.clone()),
                        Uuid::nil(),
                        "Duplicate topic name.",
                    ));
                    continue;
                }
                match table.get(name) {
                    Some(info) if given_ids.contains(&info.id) => rows.push(invalid(
                        Some(name.clone()),
                        info.id,
                        "The provided topic name maps to an ID that was already supplied.",
                    )),
                    _ => rows.push(Row::Delete(Target::Name(name.clone()))),
                }
            }
            (None, false) => {
                if !answered_ids.insert(entry.id) {
                    continue;
                }
                if id_count[&entry.id] > 1 {
                    rows.push(invalid(None, entry.id, "Duplicate topic id."));
                    continue;
                }
                rows.push(Row::Delete(Target::Id(entry.id)));
            }
        }
    }
    rows
}

/// The row for a deletion the control shard carried out or refused.
fn answer(target: Target, outcome: TopicOutcome) -> DeletableTopicResult {
    match target {
        Target::Name(name) => result(Some(name), outcome.id, outcome.error),
        // An unknown id has no name to report: Kafka answers null.
        Target::Id(id) => {
            let name =
                (outcome.error.is_none() || !outcome.name.is_empty()).then_some(outcome.name);
            result(name, id, outcome.error)
        }
    }
}

fn result(
    name: Option<String>,
    id: Uuid,
    error: Option<(ResponseError, String)>,
) -> DeletableTopicResult {
    let mut result = DeletableTopicResult::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_id(id);
    if let Some((error, message)) = error {
        result = result
            .with_error_code(error.code())
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::TopicInfo;

    fn by_name(name: &str) -> Entry {
        Entry {
            name: Some(name.to_string()),
            id: Uuid::nil(),
        }
    }

    fn by_id(id: Uuid) -> Entry {
        Entry { name: None, id }
    }

    fn table_with(name: &str, id: Uuid) -> TopicTable {
        TopicTable::default().with_topic(TopicInfo {
            name: name.into(),
            id,
            partitions: 1,
            configs: Default::default(),
            internal: false,
        })
    }

    fn message(row: &Row) -> Option<&str> {
        match row {
            Row::Refused { message, .. } => Some(message),
            Row::Delete(_) => None,
        }
    }

    #[test]
    fn names_and_ids_are_deleted_in_request_order() {
        let id = Uuid::from_u128(7);
        let rows = plan(&[by_name("a"), by_id(id)], &TopicTable::default());
        assert_eq!(
            rows,
            vec![
                Row::Delete(Target::Name("a".into())),
                Row::Delete(Target::Id(id)),
            ]
        );
    }

    #[test]
    fn malformed_entries_are_refused_one_by_one() {
        let id = Uuid::from_u128(7);
        let known = Uuid::from_u128(9);
        let rows = plan(
            &[
                Entry {
                    name: None,
                    id: Uuid::nil(),
                },
                Entry {
                    name: Some("both".into()),
                    id,
                },
                by_name("dup"),
                by_name("dup"),
                by_id(id),
                by_id(id),
                by_id(known),
                by_name("t"),
                by_name("ok"),
            ],
            &table_with("t", known),
        );
        let messages: Vec<Option<&str>> = rows.iter().map(message).collect();
        assert_eq!(
            messages,
            vec![
                Some("Neither topic name nor id were specified."),
                Some("You may not specify both topic name and topic id."),
                Some("Duplicate topic name."),
                Some("Duplicate topic id."),
                None,
                Some("The provided topic name maps to an ID that was already supplied."),
                None,
            ]
        );
        assert_eq!(rows[4], Row::Delete(Target::Id(known)));
        assert_eq!(rows[6], Row::Delete(Target::Name("ok".into())));
        assert!(rows.iter().all(|r| match r {
            Row::Refused { error, .. } => *error == ResponseError::InvalidRequest,
            Row::Delete(_) => true,
        }));
    }

    #[test]
    fn an_unknown_id_is_answered_without_a_name() {
        let id = Uuid::from_u128(3);
        let refused = TopicOutcome {
            name: String::new(),
            id: Uuid::nil(),
            error: Some((ResponseError::UnknownTopicId, "unknown".into())),
            partitions: -1,
            replication_factor: -1,
        };
        let row = answer(Target::Id(id), refused);
        assert_eq!(row.name, None);
        assert_eq!(row.topic_id, id);
        assert_eq!(row.error_code, ResponseError::UnknownTopicId.code());

        let deleted = TopicOutcome {
            name: "t".into(),
            id,
            error: None,
            partitions: 1,
            replication_factor: 1,
        };
        let row = answer(Target::Id(id), deleted);
        assert_eq!(row.name.as_ref().map(|n| n.as_str()), Some("t"));
        assert_eq!((row.error_code, row.error_message), (0, None));
    }
}
