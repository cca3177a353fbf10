//! `sluice groups`: kafka-consumer-groups.sh. List, describe (offsets and
//! lag, or members), reset offsets, delete groups and delete offsets, with
//! Kafka's flags and tables.
//!
//! Built on librdkafka: ListGroups/DescribeGroups (`fetch_group_list`),
//! OffsetFetch (`committed_offsets` of every partition of every topic, so
//! no admin API beyond the consumer's is needed), ListOffsets
//! (`fetch_watermarks`, `offsets_for_times`), OffsetCommit (`commit` from a
//! consumer that has the group id but never subscribes) and DeleteGroups.
//! Resetting and deleting offsets is in [`super::group_offsets`].

use std::collections::{BTreeMap, BTreeSet};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};

use super::common::{block_on, Connection};
use super::group_offsets;
use super::CliError;

/// Column widths start at Kafka's.
const WIDTH_MIN: usize = 15;

#[derive(clap::Args, Debug)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// List the groups.
    #[arg(long)]
    pub list: bool,
    /// Describe groups: offsets and lag (default), or --members, --state.
    #[arg(long)]
    pub describe: bool,
    /// With --describe: the members instead of offsets.
    #[arg(long)]
    pub members: bool,
    /// With --describe: the group's state.
    #[arg(long)]
    pub state: bool,
    /// With --describe --members: each member's partitions.
    #[arg(long)]
    pub verbose: bool,
    /// Delete groups (they must have no members).
    #[arg(long)]
    pub delete: bool,
    /// Delete a group's committed offsets of --topic.
    #[arg(long = "delete-offsets")]
    pub delete_offsets: bool,
    /// Reset a group's committed offsets (the group must have no members).
    #[arg(long = "reset-offsets")]
    pub reset_offsets: bool,
    /// The group (repeatable).
    #[arg(long)]
    pub group: Vec<String>,
    /// Every group.
    #[arg(long = "all-groups")]
    pub all_groups: bool,
    /// A topic, or TOPIC:P1,P2 for some partitions (repeatable).
    #[arg(long)]
    pub topic: Vec<String>,
    /// Every topic the group has offsets for.
    #[arg(long = "all-topics")]
    pub all_topics: bool,
    #[arg(long = "to-earliest")]
    pub to_earliest: bool,
    #[arg(long = "to-latest")]
    pub to_latest: bool,
    #[arg(long = "to-current")]
    pub to_current: bool,
    #[arg(long = "to-offset", allow_hyphen_values = true)]
    pub to_offset: Option<i64>,
    #[arg(long = "shift-by", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// YYYY-MM-DDTHH:mm:SS.sss, UTC unless it ends in Z or ±hh:mm.
    #[arg(long = "to-datetime")]
    pub to_datetime: Option<String>,
    /// Print the new offsets, change nothing (the default).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    pub execute: bool,
    /// Kafka's request timeout in ms (sets --request-timeout-ms).
    #[arg(long = "timeout")]
    pub timeout: Option<u64>,
}

pub fn run(mut args: GroupsArgs) -> Result<(), CliError> {
    args.connection.resolve()?;
    if let Some(ms) = args.timeout {
        args.connection.request_timeout_ms = ms;
    }
    let actions = [
        args.list,
        args.describe,
        args.delete,
        args.delete_offsets,
        args.reset_offsets,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err(CliError::Usage(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets".into(),
        ));
    }
    if !args.list && args.group.is_empty() && !args.all_groups {
        return Err(CliError::Usage(
            "--group or --all-groups is required".into(),
        ));
    }
    let mut wire = args.connection.wire()?;
    let tools = Tools::new(&args.connection)?;
    if args.list {
        for group in tools.groups(None)? {
            println!("{}", group.name);
        }
        return Ok(());
    }
    let groups = if args.all_groups {
        tools.groups(None)?.into_iter().map(|g| g.name).collect()
    } else {
        args.group.clone()
    };
    if args.describe {
        describe(&args, &tools, &groups)
    } else if args.delete {
        delete(&args, &groups)
    } else if args.delete_offsets {
        group_offsets::delete_offsets(&args, &mut wire, &groups)
    } else {
        group_offsets::reset(&args, &tools, &groups)
    }
}

/// A group as ListGroups/DescribeGroups report it.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub state: String,
    pub protocol: String,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub id: String,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<(String, i32)>,
}

impl Group {
    fn of(info: &GroupInfo) -> Group {
        Group {
            name: info.name().to_string(),
            state: info.state().to_string(),
            protocol: info.protocol().to_string(),
            members: info
                .members()
                .iter()
                .map(|m| Member {
                    id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    host: m.client_host().to_string(),
                    assignment: m
                        .assignment()
                        .and_then(parse_assignment)
                        .unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Kafka lets offsets be reset only while nobody consumes.
    pub(super) fn is_inactive(&self) -> bool {
        matches!(self.state.as_str(), "Empty" | "Dead" | "")
    }
}

/// A consumer protocol assignment: version, then topics with partitions
/// (user data after them is ignored). `None` for bytes that do not parse.
pub fn parse_assignment(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let slice = bytes.get(at..at.checked_add(n)?)?;
        at += n;
        Some(slice)
    };
    let _version = i16::from_be_bytes(take(2)?.try_into().ok()?);
    let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let mut assignment = Vec::new();
    for _ in 0..topics.max(0) {
        let length = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let topic = String::from_utf8(take(length.max(0) as usize)?.to_vec()).ok()?;
        let partitions = i32::from_be_bytes(take(4)?.try_into().ok()?);
        for _ in 0..partitions.max(0) {
            let partition = i32::from_be_bytes(take(4)?.try_into().ok()?);
            assignment.push((topic.clone(), partition));
        }
    }
    Some(assignment)
}

/// The librdkafka clients the group commands use.
pub(super) struct Tools<'a> {
    pub(super) connection: &'a Connection,
    /// No group id: metadata, watermarks, group lists.
    plain: BaseConsumer,
}

impl<'a> Tools<'a> {
    pub(super) fn new(connection: &'a Connection) -> Result<Tools<'a>, CliError> {
        let plain = connection
            .client_config(std::iter::empty())?
            .create()
            .map_err(|e| CliError::Failed(format!("creating the client: {e}")))?;
        Ok(Tools { connection, plain })
    }

    /// A consumer in `group` that never subscribes: it reads and commits the
    /// group's offsets without joining it.
    pub(super) fn group_consumer(&self, group: &str) -> Result<BaseConsumer, CliError> {
        let mut settings = BTreeMap::new();
        settings.insert("group.id".to_string(), group.to_string());
        settings.insert("enable.auto.commit".to_string(), "false".to_string());
        self.connection
            .client_config(&settings)?
            .create()
            .map_err(|e| CliError::Failed(format!("creating the group client: {e}")))
    }

    pub(super) fn groups(&self, name: Option<&str>) -> Result<Vec<Group>, CliError> {
        let list = self
            .plain
            .fetch_group_list(name, self.connection.timeout())
            .map_err(|e| CliError::Failed(format!("listing groups: {e}")))?;
        let mut groups: Vec<Group> = list.groups().iter().map(Group::of).collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    pub(super) fn group(&self, name: &str) -> Result<Group, CliError> {
        Ok(self
            .groups(Some(name))?
            .into_iter()
            .find(|g| g.name == name)
            .unwrap_or(Group {
                name: name.to_string(),
                state: "Dead".to_string(),
                protocol: String::new(),
                members: Vec::new(),
            }))
    }

    /// Every partition of `topic` (none if it does not exist), or of every
    /// topic with `None`.
    pub(super) fn partitions(&self, topic: Option<&str>) -> Result<Vec<(String, i32)>, CliError> {
        let metadata = self
            .plain
            .fetch_metadata(topic, self.connection.timeout())
            .map_err(|e| CliError::Failed(format!("reading metadata: {e}")))?;
        let mut partitions = Vec::new();
        for t in metadata.topics() {
            if t.error().is_some() {
                continue;
            }
            for p in t.partitions() {
                partitions.push((t.name().to_string(), p.id()));
            }
        }
        partitions.sort();
        Ok(partitions)
    }

    /// The group's committed offsets of `partitions` (those it has one for).
    pub(super) fn committed(
        &self,
        consumer: &BaseConsumer,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, CliError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        let committed = consumer
            .committed_offsets(list, self.connection.timeout())
            .map_err(|e| CliError::Failed(format!("reading committed offsets: {e}")))?;
        Ok(committed
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

    pub(super) fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), CliError> {
        self.plain
            .fetch_watermarks(topic, partition, self.connection.timeout())
            .map_err(|e| CliError::Failed(format!("reading offsets of {topic}-{partition}: {e}")))
    }
}

fn width(values: impl Iterator<Item = usize>) -> usize {
    values.fold(WIDTH_MIN, usize::max)
}

fn describe(args: &GroupsArgs, tools: &Tools<'_>, groups: &[String]) -> Result<(), CliError> {
    let all_partitions = tools.partitions(None)?;
    for name in groups {
        let group = tools.group(name)?;
        let consumer = tools.group_consumer(name)?;
        let committed = tools.committed(&consumer, &all_partitions)?;
        let assigned: BTreeMap<(String, i32), &Member> = group
            .members
            .iter()
            .flat_map(|m| m.assignment.iter().map(move |tp| (tp.clone(), m)))
            .collect();
        if group.state == "Dead" && committed.is_empty() {
            return Err(CliError::Failed(format!(
                "Consumer group '{name}' does not exist."
            )));
        }
        if args.state {
            print_state(&group);
            continue;
        }
        if args.members {
            print_members(&group, args.verbose);
            continue;
        }
        if group.members.is_empty() {
            println!("\nConsumer group '{name}' has no active members.");
        }
        let keys: BTreeSet<(String, i32)> =
            committed.keys().chain(assigned.keys()).cloned().collect();
        let mut rows = Vec::new();
        for (topic, partition) in keys {
            let (_, end) = tools.watermarks(&topic, partition)?;
            let current = committed.get(&(topic.clone(), partition)).copied();
            let member = assigned.get(&(topic.clone(), partition));
            rows.push([
                name.clone(),
                topic.clone(),
                partition.to_string(),
                current.map_or("-".into(), |c| c.to_string()),
                end.to_string(),
                current.map_or("-".into(), |c| (end - c).max(0).to_string()),
                member.map_or("-".into(), |m| m.id.clone()),
                member.map_or("-".into(), |m| m.host.clone()),
                member.map_or("-".into(), |m| m.client_id.clone()),
            ]);
        }
        let group_w = width(rows.iter().map(|r| r[0].len()).chain([name.len()]));
        let topic_w = width(rows.iter().map(|r| r[1].len()));
        let id_w = width(rows.iter().map(|r| r[6].len()));
        let host_w = width(rows.iter().map(|r| r[7].len()));
        let line = |r: &[String; 9]| {
            format!(
                "{:<group_w$} {:<topic_w$} {:<10} {:<15} {:<15} {:<15} {:<id_w$} {:<host_w$} {}",
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]
            )
        };
        println!();
        let header = [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ]
        .map(String::from);
        println!("{}", line(&header).trim_end());
        for row in &rows {
            println!("{}", line(row).trim_end());
        }
    }
    Ok(())
}

fn print_members(group: &Group, verbose: bool) {
    if group.members.is_empty() {
        println!("\nConsumer group '{}' has no active members.", group.name);
        return;
    }
    let group_w = width([group.name.len()].into_iter());
    let id_w = width(group.members.iter().map(|m| m.id.len()));
    let host_w = width(group.members.iter().map(|m| m.host.len()));
    let client_w = width(group.members.iter().map(|m| m.client_id.len()));
    println!();
    let mut header = format!(
        "{:<group_w$} {:<id_w$} {:<host_w$} {:<client_w$} {:<12}",
        "GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"
    );
    if verbose {
        header.push_str(" ASSIGNMENT");
    }
    println!("{}", header.trim_end());
    for m in &group.members {
        let mut line = format!(
            "{:<group_w$} {:<id_w$} {:<host_w$} {:<client_w$} {:<12}",
            group.name,
            m.id,
            m.host,
            m.client_id,
            m.assignment.len()
        );
        if verbose {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in &m.assignment {
                by_topic.entry(topic).or_default().push(*partition);
            }
            let text = by_topic
                .iter()
                .map(|(t, ps)| {
                    let list = ps
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(",");
                    format!("{t}({list})")
                })
                .collect::<Vec<_>>()
                .join(",");
            line.push(' ');
            line.push_str(if text.is_empty() { "-" } else { &text });
        }
        println!("{}", line.trim_end());
    }
}

fn print_state(group: &Group) {
    let group_w = width([group.name.len()].into_iter());
    println!();
    println!(
        "{:<group_w$} {:<20} {:<20} #MEMBERS",
        "GROUP", "ASSIGNMENT-STRATEGY", "STATE"
    );
    let strategy = if group.protocol.is_empty() {
        "-"
    } else {
        &group.protocol
    };
    println!(
        "{:<group_w$} {:<20} {:<20} {}",
        group.name,
        strategy,
        group.state,
        group.members.len()
    );
}

fn delete(args: &GroupsArgs, groups: &[String]) -> Result<(), CliError> {
    let admin = args.connection.admin()?;
    let names: Vec<&str> = groups.iter().map(String::as_str).collect();
    let results = block_on(admin.delete_groups(&names, &args.connection.admin_options()))
        .map_err(|e| CliError::Failed(format!("deleting groups: {e}")))?;
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err())
        .map(|(group, code)| format!("* Group '{group}' could not be deleted due to: {code}"))
        .collect();
    if !failures.is_empty() {
        return Err(CliError::Failed(format!(
            "Deletion of some consumer groups failed:\n{}",
            failures.join("\n")
        )));
    }
    let quoted = groups
        .iter()
        .map(|g| format!("'{g}'"))
        .collect::<Vec<_>>()
        .join(", ");
    println!("Deletion of requested consumer groups ({quoted}) was successful.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_and_bad_bytes_do_not() {
        let mut bytes = vec![
            0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
        ];
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            parse_assignment(&bytes).unwrap(),
            [("t".to_string(), 0), ("t".to_string(), 3)]
        );
        assert!(parse_assignment(&bytes[..9]).is_none());
    }
}
