//! The room's outbox: group commit of timeline changes, and frames sent in batches.
//!
//! A busy room takes commands from many sockets in quick succession. Each accepted command is
//! applied to the in-memory timeline at once (so that it is validated and numbered in order),
//! then queued here. Once the runtime has drained the events that arrived together, one flush
//! writes every queued entry to SQLite in a single implicit transaction — one commit for the
//! whole burst instead of one per command — and then sends the frames: each socket gets one
//! message, the sender's `ack` or the `applied` frame, or `{"type":"batch","frames":[…]}`
//! holding several in sequence order. The output gate holds those sends until the commit is
//! durable, so an `ack` never reports a command that could be lost, and a crash before the
//! flush loses only commands nobody was told about (all of them after some seq: no gaps).
//!
//! Order is kept: everything that reads the log or sends another frame (rejects, pongs, comment
//! events, presence, `welcome`, HTTP reads) calls [`Outbox::flush`] first.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use worker::{SqlStorage, State, WebSocket};

use crate::project_room::{entry_json, persist_entries};
use crate::protocol::{Attachment, CLOSE_STORAGE_FAILED};
use crate::room::{LogEntry, Room, StackOp};

/// One accepted change waiting for its commit.
struct Pending {
    entry: LogEntry,
    /// The connection whose command it was, if it came over a socket.
    sender: Option<String>,
    /// What the sender gets (its `ack`), if anything.
    to_sender: Option<String>,
}

/// Least time between two scheduled flushes, in milliseconds per connected socket, and at most:
/// under load, the changes of this long share one commit and one send per socket (a hundred
/// sockets at a flush per command would be a hundred sends per command, and a send costs far
/// more than applying a command); an idle room flushes at once. A hundred sockets flush at most
/// every 10 ms.
const FLUSH_GAP_MS_PER_SOCKET: f64 = 0.1;
const MAX_FLUSH_GAP_MS: f64 = 10.0;

struct Inner {
    /// When the last flush ran (`Date.now()`).
    last_flush: f64,
    pending: Vec<Pending>,
    /// Undo/redo stack changes, committed with the entries.
    ops: Vec<StackOp>,
    scheduled: bool,
    /// The room's sockets with their connection ids; rebuilt from the runtime when `None`.
    sockets: Option<Vec<(String, WebSocket)>>,
}

/// Group commit and batched sends; see the module documentation.
#[derive(Clone)]
pub struct Outbox {
    inner: Rc<RefCell<Inner>>,
    sql: SqlStorage,
    room: Rc<RefCell<Option<Room>>>,
}

impl Outbox {
    /// An empty outbox writing to `sql`; `room` is the in-memory state it snapshots from.
    pub fn new(sql: SqlStorage, room: Rc<RefCell<Option<Room>>>) -> Self {
        Self {
            inner: Rc::new(RefCell::new(Inner {
                last_flush: 0.0,
                pending: Vec::new(),
                ops: Vec::new(),
                scheduled: false,
                sockets: None,
            })),
            sql,
            room,
        }
    }

    /// The room's sockets, from the cache or (after a join or a wake-up) from the runtime.
    pub fn sockets(&self, state: &State) -> Vec<(String, WebSocket)> {
        if let Some(sockets) = self.inner.borrow().sockets.as_ref() {
            return sockets.clone();
        }
        let sockets: Vec<(String, WebSocket)> = state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| {
                let attachment = ws.deserialize_attachment::<Attachment>().ok().flatten()?;
                Some((attachment.member.connection_id, ws))
            })
            .collect();
        self.inner.borrow_mut().sockets = Some(sockets.clone());
        sockets
    }

    /// Forgets the socket list (a socket joined); queued changes are flushed first so that
    /// their frames reach exactly the sockets that were there when they were made.
    pub fn refresh(&self) {
        let _ = self.flush();
        self.inner.borrow_mut().sockets = None;
    }

    /// Drops a connection that left.
    pub fn remove(&self, connection_id: &str) {
        if let Some(sockets) = self.inner.borrow_mut().sockets.as_mut() {
            sockets.retain(|(id, _)| id != connection_id);
        }
    }

    /// Queues an accepted change and schedules the flush that commits and announces it.
    pub fn push(
        &self,
        state: &State,
        entry: LogEntry,
        sender: Option<&str>,
        to_sender: Option<String>,
    ) {
        // Fill the socket cache now: the flush runs outside any event and cannot ask.
        if self.inner.borrow().sockets.is_none() {
            self.sockets(state);
        }
        self.inner.borrow_mut().pending.push(Pending {
            entry,
            sender: sender.map(str::to_string),
            to_sender,
        });
        self.schedule();
    }

    /// Queues undo/redo stack changes for the next commit.
    pub fn stack_ops(&self, ops: Vec<StackOp>) {
        if ops.is_empty() {
            return;
        }
        self.inner.borrow_mut().ops.extend(ops);
        self.schedule();
    }

    fn schedule(&self) {
        let wait = {
            let mut inner = self.inner.borrow_mut();
            if std::mem::replace(&mut inner.scheduled, true) {
                return;
            }
            let sockets = inner.sockets.as_ref().map_or(0, Vec::len) as f64;
            let gap = (sockets * FLUSH_GAP_MS_PER_SOCKET).min(MAX_FLUSH_GAP_MS);
            (inner.last_flush + gap - js_sys::Date::now()).clamp(0.0, gap)
        };
        let outbox = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // Even a zero timer runs after the events the runtime already holds, so that all of
            // them share one commit and one round of sends.
            worker::Delay::from(Duration::from_micros((wait * 1000.0) as u64)).await;
            let _ = outbox.flush();
        });
    }

    /// Commits everything queued, then sends it: per socket one frame or one batch, in order.
    ///
    /// If the write fails nothing is sent: the in-memory room is dropped (the next event
    /// reloads it from storage, without the unwritten changes) and every socket is closed so
    /// that clients reconnect and resynchronise.
    pub fn flush(&self) -> worker::Result<()> {
        let (pending, ops, sockets) = {
            let mut inner = self.inner.borrow_mut();
            inner.scheduled = false;
            if inner.pending.is_empty() && inner.ops.is_empty() {
                return Ok(());
            }
            inner.last_flush = js_sys::Date::now();
            (
                std::mem::take(&mut inner.pending),
                std::mem::take(&mut inner.ops),
                inner.sockets.clone().unwrap_or_default(),
            )
        };
        let entries: Vec<&LogEntry> = pending.iter().map(|p| &p.entry).collect();
        if let Err(e) = persist_entries(&self.sql, &self.room, &entries, &ops) {
            worker::console_error!(
                "{}",
                json!({"level": "error", "message": "room commit failed", "error": e.to_string()})
            );
            *self.room.borrow_mut() = None;
            for (_, ws) in &sockets {
                let _ = ws.close(
                    Some(CLOSE_STORAGE_FAILED),
                    Some("storage failure; reconnect"),
                );
            }
            return Err(e);
        }
        let applied: Vec<String> = pending
            .iter()
            .map(|p| entry_json(&p.entry).to_string())
            .collect();
        let mut frames: Vec<&str> = Vec::with_capacity(pending.len());
        for (connection_id, ws) in &sockets {
            frames.clear();
            for (item, applied) in pending.iter().zip(&applied) {
                if item.sender.as_deref() == Some(connection_id.as_str()) {
                    if let Some(ack) = &item.to_sender {
                        frames.push(ack);
                    }
                } else {
                    frames.push(applied);
                }
            }
            // A socket that is closing cannot take frames; it leaves on its own.
            let _ = match frames.as_slice() {
                [] => continue,
                [one] => ws.send_with_str(one),
                many => ws.send_with_str(batch(many)),
            };
        }
        Ok(())
    }
}

/// `{"type":"batch","frames":[…]}` around frames that are already JSON.
fn batch(frames: &[&str]) -> String {
    let size = frames.iter().map(|f| f.len() + 1).sum::<usize>() + 32;
    let mut text = String::with_capacity(size);
    text.push_str(r#"{"type":"batch","frames":["#);
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(frame);
    }
    text.push_str("]}");
    text
}

#[cfg(test)]
mod tests {
    use super::batch;

    #[test]
    fn batch_is_json_holding_the_frames_in_order() {
        let text = batch(&[r#"{"type":"ack","seq":1}"#, r#"{"type":"applied","seq":2}"#]);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "batch");
        assert_eq!(value["frames"][0]["seq"], 1);
        assert_eq!(value["frames"][1]["type"], "applied");
        assert_eq!(value["frames"].as_array().unwrap().len(), 2);
    }
}
