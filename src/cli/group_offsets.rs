//! Changing a consumer group's committed offsets for `sluice groups`:
//! `--reset-offsets` (Kafka's scenarios, printed as Kafka's NEW-OFFSET
//! table; `--dry-run` commits nothing) and `--delete-offsets` (OffsetDelete,
//! which the rdkafka binding lacks, over [`super::wire`]).

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::groups::{GroupsArgs, Tools};
use super::wire::{error_text, WireClient};
use super::CliError;

/// The reset table's fixed widths, as Kafka prints it.
const RESET_GROUP_WIDTH: usize = 30;

/// `--topic T` or `--topic T:0,2` into partitions; `--all-topics` is every
/// partition the group has an offset for.
fn selected_partitions(
    args: &GroupsArgs,
    tools: &Tools<'_>,
    committed_anywhere: impl FnOnce() -> Result<Vec<(String, i32)>, CliError>,
) -> Result<Vec<(String, i32)>, CliError> {
    if args.all_topics {
        return committed_anywhere();
    }
    if args.topic.is_empty() {
        return Err(CliError::Usage(
            "--topic or --all-topics is required".into(),
        ));
    }
    let mut selected = Vec::new();
    for spec in &args.topic {
        let (topic, wanted) = match spec.split_once(':') {
            Some((topic, list)) => {
                let partitions = list
                    .split(',')
                    .map(|p| {
                        p.trim().parse::<i32>().map_err(|_| {
                            CliError::Usage(format!("--topic {spec}: bad partition {p:?}"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (topic, Some(partitions))
            }
            None => (spec.as_str(), None),
        };
        let existing = tools.partitions(Some(topic))?;
        if existing.is_empty() {
            return Err(CliError::Failed(format!("Topic '{topic}' does not exist")));
        }
        match wanted {
            None => selected.extend(existing),
            Some(partitions) => {
                for p in partitions {
                    if !existing.iter().any(|(_, e)| *e == p) {
                        return Err(CliError::Failed(format!(
                            "topic {topic} has no partition {p}"
                        )));
                    }
                    selected.push((topic.to_string(), p));
                }
            }
        }
    }
    selected.sort();
    selected.dedup();
    Ok(selected)
}

pub(super) fn reset(
    args: &GroupsArgs,
    tools: &Tools<'_>,
    groups: &[String],
) -> Result<(), CliError> {
    let scenarios = [
        args.to_earliest,
        args.to_latest,
        args.to_current,
        args.to_offset.is_some(),
        args.shift_by.is_some(),
        args.to_datetime.is_some(),
    ];
    if scenarios.iter().filter(|s| **s).count() != 1 {
        return Err(CliError::Usage(
            "--reset-offsets needs exactly one of --to-earliest, --to-latest, --to-current, --to-offset, --shift-by, --to-datetime".into(),
        ));
    }
    if args.dry_run && args.execute {
        return Err(CliError::Usage(
            "--dry-run and --execute cannot be used together".into(),
        ));
    }
    if !args.dry_run && !args.execute {
        eprintln!("WARN: No action will be performed as the --execute option is missing. Add --dry-run to say so explicitly, or --execute to reset the offsets.");
    }
    let datetime_ms = args
        .to_datetime
        .as_deref()
        .map(parse_datetime_ms)
        .transpose()?;
    for name in groups {
        let group = tools.group(name)?;
        if !group.is_inactive() {
            return Err(CliError::Failed(format!(
                "Assignments can only be reset if the group '{name}' is inactive, but the current state is {}.",
                group.state
            )));
        }
        let consumer = tools.group_consumer(name)?;
        let partitions = selected_partitions(args, tools, || {
            let all = tools.partitions(None)?;
            Ok(tools.committed(&consumer, &all)?.into_keys().collect())
        })?;
        let committed = tools.committed(&consumer, &partitions)?;
        let by_time = match datetime_ms {
            Some(ms) => offsets_for_time(tools, &consumer, &partitions, ms)?,
            None => BTreeMap::new(),
        };
        let mut new_offsets = BTreeMap::new();
        for tp in &partitions {
            let (low, high) = tools.watermarks(&tp.0, tp.1)?;
            let current = committed.get(tp).copied();
            let target = if args.to_earliest {
                low
            } else if args.to_latest {
                high
            } else if let Some(offset) = args.to_offset {
                offset.clamp(low, high)
            } else if let Some(shift) = args.shift_by {
                let base = current.ok_or_else(|| {
                    CliError::Failed(format!(
                        "Cannot shift offset for partition {}-{} since there is no current committed offset",
                        tp.0, tp.1
                    ))
                })?;
                base.saturating_add(shift).clamp(low, high)
            } else if args.to_current {
                current.unwrap_or(high)
            } else {
                by_time.get(tp).copied().unwrap_or(high)
            };
            new_offsets.insert(tp.clone(), target);
        }
        if args.execute && !new_offsets.is_empty() {
            let mut list = TopicPartitionList::new();
            for ((topic, partition), offset) in &new_offsets {
                list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                    .map_err(|e| CliError::Failed(e.to_string()))?;
            }
            consumer.commit(&list, CommitMode::Sync).map_err(|e| {
                CliError::Failed(format!("committing offsets of group {name}: {e}"))
            })?;
        }
        println!();
        println!(
            "{:<w$} {:<w$} {:<10} NEW-OFFSET",
            "GROUP",
            "TOPIC",
            "PARTITION",
            w = RESET_GROUP_WIDTH
        );
        for ((topic, partition), offset) in &new_offsets {
            println!(
                "{}",
                format!(
                    "{:<w$} {:<w$} {:<10} {:<15}",
                    name,
                    topic,
                    partition,
                    offset,
                    w = RESET_GROUP_WIDTH
                )
                .trim_end()
            );
        }
    }
    Ok(())
}

fn offsets_for_time(
    tools: &Tools<'_>,
    consumer: &BaseConsumer,
    partitions: &[(String, i32)],
    timestamp_ms: i64,
) -> Result<BTreeMap<(String, i32), i64>, CliError> {
    let mut list = TopicPartitionList::new();
    for (topic, partition) in partitions {
        list.add_partition_offset(topic, *partition, Offset::Offset(timestamp_ms))
            .map_err(|e| CliError::Failed(e.to_string()))?;
    }
    let found = consumer
        .offsets_for_times(list, tools.connection.timeout())
        .map_err(|e| CliError::Failed(format!("looking up offsets by time: {e}")))?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) if offset >= 0 => {
                Some(((e.topic().to_string(), e.partition()), offset))
            }
            _ => None,
        })
        .collect())
}

/// `YYYY-MM-DDTHH:mm:SS[.sss][Z|±hh:mm]` as milliseconds since the epoch
/// (UTC when no zone is given).
pub fn parse_datetime_ms(text: &str) -> Result<i64, CliError> {
    let bad = || {
        CliError::Usage(format!(
            "--to-datetime takes YYYY-MM-DDTHH:mm:SS.sss (optionally Z or ±hh:mm), got {text:?}"
        ))
    };
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let mut date_parts = date.split('-');
    let number = |part: Option<&str>| -> Result<i64, CliError> {
        part.and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad)
    };
    let year = number(date_parts.next())?;
    let month = number(date_parts.next())?;
    let day = number(date_parts.next())?;
    // Split off a zone: Z, or the last + / - in the time part.
    let (clock, offset_minutes) = if let Some(clock) = time.strip_suffix('Z') {
        (clock, 0)
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (clock, zone) = time.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let zone = &zone[1..];
        let (h, m) = zone
            .split_once(':')
            .unwrap_or((zone.get(..2).unwrap_or(""), zone.get(2..).unwrap_or("")));
        let h: i64 = h.parse().map_err(|_| bad())?;
        let m: i64 = if m.is_empty() {
            0
        } else {
            m.parse().map_err(|_| bad())?
        };
        (clock, sign * (h * 60 + m))
    } else {
        (time, 0)
    };
    let (hms, millis) = match clock.split_once('.') {
        Some((hms, fraction)) => {
            let digits: String = fraction.chars().take(3).collect();
            let padded = format!("{digits:0<3}");
            (hms, padded.parse::<i64>().map_err(|_| bad())?)
        }
        None => (clock, 0),
    };
    let mut clock_parts = hms.split(':');
    let number = |part: Option<&str>| -> Result<i64, CliError> {
        part.and_then(|p| p.parse::<i64>().ok()).ok_or_else(bad)
    };
    let hour = number(clock_parts.next())?;
    let minute = number(clock_parts.next())?;
    let second = number(clock_parts.next())?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok((((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second) * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const FIND_COORDINATOR_VERSION: i16 = 2;
const OFFSET_DELETE_VERSION: i16 = 0;

pub(super) fn delete_offsets(
    args: &GroupsArgs,
    wire: &mut WireClient,
    groups: &[String],
) -> Result<(), CliError> {
    let [group] = groups else {
        return Err(CliError::Usage(
            "--delete-offsets takes exactly one --group".into(),
        ));
    };
    let tools = Tools::new(&args.connection)?;
    let partitions = selected_partitions(args, &tools, || {
        Err(CliError::Usage("--delete-offsets needs --topic".into()))
    })?;
    // OffsetDelete goes to the group's coordinator.
    let found: FindCoordinatorResponse = wire.call(
        ApiKey::FindCoordinator,
        FIND_COORDINATOR_VERSION,
        &FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.clone()))
            .with_key_type(0),
    )?;
    if found.error_code != 0 {
        return Err(CliError::Failed(format!(
            "finding the coordinator of group {group}: {}",
            error_text(found.error_code, found.error_message.as_ref())
        )));
    }
    let coordinator = format!("{}:{}", found.host.as_str(), found.port);
    let mut coordinator_wire = if coordinator == wire.address() {
        None
    } else {
        Some(WireClient::connect(
            &coordinator,
            args.connection.timeout(),
        )?)
    };
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in &partitions {
        by_topic.entry(topic).or_default().push(*partition);
    }
    let request = OffsetDeleteRequest::default()
        .with_group_id(StrBytes::from_string(group.clone()).into())
        .with_topics(
            by_topic
                .iter()
                .map(|(topic, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(*p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let target = coordinator_wire.as_mut().unwrap_or(wire);
    let response: OffsetDeleteResponse =
        target.call(ApiKey::OffsetDelete, OFFSET_DELETE_VERSION, &request)?;
    if response.error_code != 0 {
        return Err(CliError::Failed(format!(
            "Encounter some unknown error: deleting offsets of group {group}: {}",
            error_text(response.error_code, None)
        )));
    }
    let mut failed = false;
    let mut rows = Vec::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            let status = if p.error_code == 0 {
                "Successful".to_string()
            } else {
                failed = true;
                format!("Error: {}", error_text(p.error_code, None))
            };
            rows.push((topic.name.0.as_str().to_string(), p.partition_index, status));
        }
    }
    rows.sort();
    let topics: Vec<&str> = by_topic.keys().copied().collect();
    if failed {
        println!(
            "Request succeed for deleting offsets with topic {} group {group}, but some partitions failed",
            topics.join(", ")
        );
    } else {
        println!(
            "Request succeed for deleting offsets with topic {} group {group}",
            topics.join(", ")
        );
    }
    println!();
    println!("{:<30} {:<15} STATUS", "TOPIC", "PARTITION");
    for (topic, partition, status) in rows {
        println!(
            "{}",
            format!("{topic:<30} {partition:<15} {status:<30}").trim_end()
        );
    }
    if failed {
        return Err(CliError::Failed(format!(
            "some offsets of group {group} were not deleted"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_unless_zoned() {
        assert_eq!(parse_datetime_ms("1970-01-01T00:00:00.000").unwrap(), 0);
        assert_eq!(parse_datetime_ms("1970-01-01T00:00:01.5").unwrap(), 1500);
        assert_eq!(
            parse_datetime_ms("2024-02-29T12:34:56.789Z").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            parse_datetime_ms("2024-02-29T14:34:56.789+02:00").unwrap(),
            1_709_210_096_789
        );
        assert!(parse_datetime_ms("2024-13-01T00:00:00").is_err());
        assert!(parse_datetime_ms("yesterday").is_err());
    }
}
