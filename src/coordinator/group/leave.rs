//! LeaveGroup: members leaving by id or by `group.instance.id` (v3+).

use std::time::Instant;

use kafka_protocol::ResponseError;

use super::*;

impl Group {
    pub fn leave(
        &mut self,
        members: &[LeavingMember],
        settings: &GroupSettings,
        now: Instant,
        now_ms: i64,
    ) -> LeaveReply {
        let mut answers = Vec::with_capacity(members.len());
        let mut departed = false;
        for leaving in members {
            let resolved = match &leaving.instance_id {
                Some(instance_id) => match self.static_members.get(instance_id) {
                    Some(id) if !leaving.member_id.is_empty() && *id != leaving.member_id => {
                        Err(ResponseError::FencedInstanceId)
                    }
                    Some(id) => Ok(id.clone()),
                    None => Err(ResponseError::UnknownMemberId),
                },
                None => Ok(leaving.member_id.clone()),
            };
            let error = match resolved {
                Err(error) => code(error),
                Ok(id) => {
                    if self.pending_members.remove(&id).is_some() {
                        departed = true;
                        0
                    } else if let Some(mut member) = self.remove_member(&id) {
                        member.fail_waiters(ResponseError::UnknownMemberId);
                        departed = true;
                        0
                    } else {
                        code(ResponseError::UnknownMemberId)
                    }
                }
            };
            answers.push((leaving.clone(), error));
        }
        if departed {
            self.after_departure(settings, now, now_ms);
        }
        LeaveReply {
            error: 0,
            members: answers,
        }
    }
}
