//! What a connection's shard asks the shard that owns a group, and the
//! answers: plain owned data, so it crosses the mesh, and independent of the
//! wire version (the handlers map versions to and from these).

use bytes::Bytes;

pub enum GroupCall {
    Join(JoinCall),
    Sync(SyncCall),
    Heartbeat(MemberRef),
    Leave {
        group_id: String,
        members: Vec<LeavingMember>,
    },
    Commit(CommitCall),
    FetchOffsets {
        group_id: String,
        /// None: every partition the group has an offset for.
        topics: Option<Vec<(String, Vec<i32>)>>,
    },
    Describe {
        group_id: String,
    },
    List,
    Delete {
        group_id: String,
    },
    DeleteOffsets {
        group_id: String,
        partitions: Vec<(String, i32)>,
    },
}

impl GroupCall {
    /// Calls that wait for a rebalance to end.
    pub fn may_wait(&self) -> bool {
        matches!(self, GroupCall::Join(_) | GroupCall::Sync(_))
    }
}

pub enum GroupReply {
    Join(JoinReply),
    Sync(SyncReply),
    Heartbeat(i16),
    Leave(LeaveReply),
    Commit(Vec<i16>),
    FetchOffsets(FetchedOffsets),
    Describe(DescribedGroup),
    List(Vec<ListedGroup>),
    Delete(i16),
    DeleteOffsets { error: i16, partitions: Vec<i16> },
}

/// A member as requests name it.
#[derive(Clone, Debug)]
pub struct MemberRef {
    pub group_id: String,
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct JoinCall {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a static leader that rejoins a stable group is told
    /// to skip the assignment (older clients compute one that is ignored).
    pub supports_skip_assignment: bool,
}

#[derive(Clone, Debug, Default)]
pub struct JoinReply {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// The leader's view: every member and its metadata for the protocol.
    pub members: Vec<JoinedMember>,
}

#[derive(Clone, Debug)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug)]
pub struct SyncCall {
    pub member: MemberRef,
    /// v5+: checked against the group's when given.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug, Default)]
pub struct SyncReply {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

#[derive(Clone, Debug)]
pub struct LeavingMember {
    /// Empty when only the instance id is known (AdminClient removal).
    pub member_id: String,
    pub instance_id: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct LeaveReply {
    pub error: i16,
    pub members: Vec<(LeavingMember, i16)>,
}

#[derive(Clone, Debug)]
pub struct CommitCall {
    pub member: MemberRef,
    pub offsets: Vec<CommitPart>,
}

#[derive(Clone, Debug)]
pub struct CommitPart {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct FetchedOffsets {
    pub error: i16,
    pub topics: Vec<(String, Vec<FetchedOffset>)>,
}

#[derive(Clone, Debug)]
pub struct FetchedOffset {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub error: i16,
}

#[derive(Clone, Debug, Default)]
pub struct DescribedGroup {
    pub error: i16,
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

#[derive(Clone, Debug)]
pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Clone, Debug)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: String,
}
