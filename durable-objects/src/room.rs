//! The room's ordering core, free of I/O: a timeline, its sequence number, and per-actor
//! undo/redo. The [`ProjectRoom`](crate::ProjectRoom) Durable Object is a thin adapter that
//! persists what this returns and talks to clients.
//!
//! Every accepted command gets the next sequence number, so every reader sees one total order.
//! A request's commands are applied atomically: if one is refused, those before it are rolled
//! back with their inverses and nothing is numbered.

use std::collections::HashMap;

use editor_core::{apply, Command, CommandError, Timeline};
use serde::{Deserialize, Serialize};

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// `user`, `api_key` or `agent`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The actor's id.
    pub id: String,
}

/// One accepted command, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the total order, from 1.
    pub seq: u64,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Who.
    pub actor: Actor,
    /// What was applied.
    pub command: Command,
    /// What undoes it.
    pub inverse: Command,
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// Index of the refused command in the request.
    pub index: usize,
    /// The timeline engine's reason.
    pub error: CommandError,
    /// The commands were based on an older state than the room's.
    pub stale: bool,
}

/// Why an undo or redo could not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryError {
    /// Nothing to undo / redo for this actor.
    Empty,
    /// Later edits by others make the inverse inapplicable; the entry is dropped.
    Conflict(CommandError),
}

#[derive(Default, Debug, Clone)]
struct Stacks {
    /// Inverses of the actor's own changes, most recent last.
    undo: Vec<Command>,
    /// Inverses of the actor's undos, most recent last.
    redo: Vec<Command>,
}

/// Deepest undo history kept per actor.
pub const MAX_UNDO: usize = 200;

/// A project's timeline and its order.
pub struct Room {
    timeline: Timeline,
    seq: u64,
    stacks: HashMap<Actor, Stacks>,
}

impl Room {
    /// A room at `seq` with this timeline.
    pub fn new(timeline: Timeline, seq: u64) -> Self {
        Room {
            timeline,
            seq,
            stacks: HashMap::new(),
        }
    }

    /// The current timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The sequence number of the last accepted command (0 before any).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Applies `commands` atomically in order; on success numbers and returns them and records
    /// the group as one undo step of `actor`.
    pub fn submit(
        &mut self,
        actor: &Actor,
        commands: Vec<Command>,
        base_seq: Option<u64>,
        at: i64,
    ) -> Result<Vec<LogEntry>, Refusal> {
        let stale = base_seq.is_some_and(|base| base < self.seq);
        let mut inverses: Vec<Command> = Vec::with_capacity(commands.len());
        for (index, command) in commands.iter().enumerate() {
            match apply(&mut self.timeline, command.clone()) {
                Ok(applied) => inverses.push(applied.inverse),
                Err(error) => {
                    self.roll_back(inverses);
                    return Err(Refusal {
                        index,
                        error,
                        stale,
                    });
                }
            }
        }
        let entries = self.number(actor, commands, inverses.clone(), at);
        let stacks = self.stacks.entry(actor.clone()).or_default();
        stacks
            .undo
            .push(group(inverses.into_iter().rev().collect()));
        if stacks.undo.len() > MAX_UNDO {
            stacks.undo.remove(0);
        }
        stacks.redo.clear();
        Ok(entries)
    }

    /// Undoes `actor`'s most recent change (even across others' later edits, when it still
    /// applies); the undo is itself a numbered command.
    pub fn undo(&mut self, actor: &Actor, at: i64) -> Result<LogEntry, HistoryError> {
        self.step(actor, at, true)
    }

    /// Redoes `actor`'s most recent undo.
    pub fn redo(&mut self, actor: &Actor, at: i64) -> Result<LogEntry, HistoryError> {
        self.step(actor, at, false)
    }

    fn step(&mut self, actor: &Actor, at: i64, undo: bool) -> Result<LogEntry, HistoryError> {
        let stacks = self.stacks.entry(actor.clone()).or_default();
        let source = if undo {
            &mut stacks.undo
        } else {
            &mut stacks.redo
        };
        let command = source.pop().ok_or(HistoryError::Empty)?;
        let applied = apply(&mut self.timeline, command.clone()).map_err(HistoryError::Conflict)?;
        let stacks = self.stacks.entry(actor.clone()).or_default();
        if undo {
            stacks.redo.push(applied.inverse.clone());
        } else {
            stacks.undo.push(applied.inverse.clone());
        }
        let mut entries = self.number(actor, vec![command], vec![applied.inverse], at);
        Ok(entries.remove(0))
    }

    fn number(
        &mut self,
        actor: &Actor,
        commands: Vec<Command>,
        inverses: Vec<Command>,
        at: i64,
    ) -> Vec<LogEntry> {
        commands
            .into_iter()
            .zip(inverses)
            .map(|(command, inverse)| {
                self.seq += 1;
                LogEntry {
                    seq: self.seq,
                    at,
                    actor: actor.clone(),
                    command,
                    inverse,
                }
            })
            .collect()
    }

    fn roll_back(&mut self, inverses: Vec<Command>) {
        for inverse in inverses.into_iter().rev() {
            // An inverse applied right after its command always applies (editor-core's
            // property tests hold it to that); a failure here would be an engine bug.
            let _ = apply(&mut self.timeline, inverse);
        }
    }

    /// Re-applies a logged command while loading (replay after a snapshot).
    pub fn replay(&mut self, entry: &LogEntry) -> Result<(), CommandError> {
        apply(&mut self.timeline, entry.command.clone())?;
        self.seq = entry.seq;
        Ok(())
    }
}

fn group(mut commands: Vec<Command>) -> Command {
    if commands.len() == 1 {
        commands.remove(0)
    } else {
        Command::Batch { commands }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use editor_core::model::{ProjectSettings, Rational};

    fn actor(id: &str) -> Actor {
        Actor {
            kind: "user".into(),
            id: id.into(),
        }
    }

    fn room() -> Room {
        Room::new(
            Timeline::new(ProjectSettings::new(640, 360, Rational::new(30, 1))),
            0,
        )
    }

    fn add_track(id: &str) -> Command {
        serde_json::from_value(serde_json::json!({
            "type": "add_track", "track": {"id": id, "kind": "video"}
        }))
        .expect("valid command")
    }

    const TRACK_A: &str = "trk_01JD0000000000000000000001";
    const TRACK_B: &str = "trk_01JD0000000000000000000002";

    #[test]
    fn commands_are_numbered_in_order() {
        let mut room = room();
        let entries = room
            .submit(
                &actor("a"),
                vec![add_track(TRACK_A), add_track(TRACK_B)],
                Some(0),
                1,
            )
            .expect("accepted");
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(room.seq(), 2);
        assert_eq!(room.timeline().tracks.len(), 2);
    }

    #[test]
    fn a_refused_command_rolls_back_the_whole_request() {
        let mut room = room();
        room.submit(&actor("a"), vec![add_track(TRACK_A)], None, 1)
            .expect("accepted");
        let before = editor_core::format::to_json(room.timeline());
        let refusal = room
            .submit(
                &actor("a"),
                vec![add_track(TRACK_B), add_track(TRACK_A)],
                Some(0),
                2,
            )
            .expect_err("duplicate id refused");
        assert_eq!(refusal.index, 1);
        assert!(refusal.stale);
        assert_eq!(editor_core::format::to_json(room.timeline()), before);
        assert_eq!(room.seq(), 1);
    }

    #[test]
    fn undo_is_per_actor_across_interleaved_edits() {
        let mut room = room();
        room.submit(&actor("a"), vec![add_track(TRACK_A)], None, 1)
            .expect("accepted");
        room.submit(&actor("b"), vec![add_track(TRACK_B)], None, 2)
            .expect("accepted");
        let undo = room.undo(&actor("a"), 3).expect("a can undo");
        assert_eq!(undo.seq, 3);
        let ids: Vec<String> = room
            .timeline()
            .tracks
            .iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(ids, vec![TRACK_B.to_string()]);
        assert_eq!(room.undo(&actor("a"), 4), Err(HistoryError::Empty));
        room.redo(&actor("a"), 5).expect("a can redo");
        assert_eq!(room.timeline().tracks.len(), 2);
    }
}
