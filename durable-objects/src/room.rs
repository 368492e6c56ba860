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

/// A change to an actor's undo or redo stack, for the host to persist in order (so that undo
/// history survives the room being evicted from memory).
#[derive(Debug, Clone, PartialEq)]
pub enum StackOp {
    /// `command` went on top of the stack.
    Push {
        /// Whose stack.
        actor: Actor,
        /// The redo stack (else the undo stack).
        redo: bool,
        /// The inverse pushed.
        command: Box<Command>,
    },
    /// The top of the stack was taken.
    Pop {
        /// Whose stack.
        actor: Actor,
        /// The redo stack (else the undo stack).
        redo: bool,
    },
    /// The oldest entry fell off (the stack is at [`MAX_UNDO`]).
    DropOldest {
        /// Whose stack.
        actor: Actor,
        /// The redo stack (else the undo stack).
        redo: bool,
    },
    /// The stack was emptied (a new change clears redo).
    Clear {
        /// Whose stack.
        actor: Actor,
        /// The redo stack (else the undo stack).
        redo: bool,
    },
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
    /// Stack changes not yet handed to the host.
    ops: Vec<StackOp>,
}

impl Room {
    /// A room at `seq` with this timeline.
    pub fn new(timeline: Timeline, seq: u64) -> Self {
        Room {
            timeline,
            seq,
            stacks: HashMap::new(),
            ops: Vec::new(),
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
        let undo = group(inverses.into_iter().rev().collect());
        stacks.undo.push(undo.clone());
        self.ops.push(StackOp::Push {
            actor: actor.clone(),
            redo: false,
            command: Box::new(undo),
        });
        if stacks.undo.len() > MAX_UNDO {
            stacks.undo.remove(0);
            self.ops.push(StackOp::DropOldest {
                actor: actor.clone(),
                redo: false,
            });
        }
        if !stacks.redo.is_empty() {
            stacks.redo.clear();
            self.ops.push(StackOp::Clear {
                actor: actor.clone(),
                redo: true,
            });
        }
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
        // Taken off whether it applies or not: an inapplicable entry is dropped.
        self.ops.push(StackOp::Pop {
            actor: actor.clone(),
            redo: !undo,
        });
        let applied = apply(&mut self.timeline, command.clone()).map_err(HistoryError::Conflict)?;
        let stacks = self.stacks.entry(actor.clone()).or_default();
        if undo {
            stacks.redo.push(applied.inverse.clone());
        } else {
            stacks.undo.push(applied.inverse.clone());
        }
        self.ops.push(StackOp::Push {
            actor: actor.clone(),
            redo: undo,
            command: Box::new(applied.inverse.clone()),
        });
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

    /// The stack changes made since the last call, in order, for the host to persist.
    pub fn take_stack_ops(&mut self) -> Vec<StackOp> {
        std::mem::take(&mut self.ops)
    }

    /// Restores an actor's stored undo and redo stacks (oldest first) while loading.
    pub fn restore_stacks(&mut self, actor: Actor, undo: Vec<Command>, redo: Vec<Command>) {
        self.stacks.insert(actor, Stacks { undo, redo });
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

    /// Applies stack changes the way the Durable Object's `stacks` table does.
    fn replay_ops(stored: &mut HashMap<(Actor, bool), Vec<Command>>, ops: Vec<StackOp>) {
        for op in ops {
            match op {
                StackOp::Push {
                    actor,
                    redo,
                    command,
                } => stored.entry((actor, redo)).or_default().push(*command),
                StackOp::Pop { actor, redo } => {
                    stored.entry((actor, redo)).or_default().pop();
                }
                StackOp::DropOldest { actor, redo } => {
                    let stack = stored.entry((actor, redo)).or_default();
                    if !stack.is_empty() {
                        stack.remove(0);
                    }
                }
                StackOp::Clear { actor, redo } => {
                    stored.remove(&(actor, redo));
                }
            }
        }
    }

    #[test]
    fn stack_changes_rebuild_the_undo_history_after_a_reload() {
        let (a, b) = (actor("usr_a"), actor("usr_b"));
        let mut live = room();
        let mut stored = HashMap::new();
        live.submit(&a, vec![add_track(TRACK_A)], None, 1).unwrap();
        live.submit(&b, vec![add_track(TRACK_B)], None, 2).unwrap();
        live.undo(&a, 3).unwrap();
        live.redo(&a, 4).unwrap();
        live.undo(&a, 5).unwrap();
        replay_ops(&mut stored, live.take_stack_ops());
        assert!(live.take_stack_ops().is_empty(), "ops are handed over once");

        // A reloaded room: the same timeline, stacks restored from what was stored.
        let mut reloaded = Room::new(live.timeline().clone(), live.seq());
        for actor in [&a, &b] {
            reloaded.restore_stacks(
                actor.clone(),
                stored
                    .get(&(actor.clone(), false))
                    .cloned()
                    .unwrap_or_default(),
                stored
                    .get(&(actor.clone(), true))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        // Both answer a's redo, b's undo and a's next undo alike.
        for room in [&mut live, &mut reloaded] {
            let redo = room.redo(&a, 6).unwrap();
            assert!(matches!(redo.command, Command::AddTrack { .. }));
            let undo = room.undo(&b, 7).unwrap();
            assert!(matches!(undo.command, Command::RemoveTrack { .. }));
            assert!(matches!(room.undo(&b, 8), Err(HistoryError::Empty)));
        }
        assert_eq!(live.timeline(), reloaded.timeline());
    }
}
