//! Where a served request's run records: every trace event goes to the request's handler (which
//! turns tokens into response chunks) and, when the server records, to a trace file; the
//! server's counters see prompts, tokens and evictions on the way.

use std::fs::File;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::metrics::Metrics;
use crate::trace::{Event, EventSink, Header, TraceWriter};

/// What the engine tells a request's handler.
#[derive(Debug, Clone)]
pub enum Update {
    Event(Box<Event>),
    /// The request never ran (its prompt beyond the context or the KV budget).
    Refused(String),
    /// Its run failed part-way (its trace could not be written).
    Failed(String),
}

pub struct StreamSink {
    pub updates: UnboundedSender<Update>,
    pub trace: Option<TraceWriter<File>>,
    pub metrics: Arc<Metrics>,
}

impl EventSink for StreamSink {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        match &mut self.trace {
            Some(t) => t.header(header),
            None => Ok(()),
        }
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        if let Some(t) = &mut self.trace {
            t.event(event)?;
        }
        match event {
            Event::Prompt(p) => {
                self.metrics.prompt_tokens.inc_by(p.tokens);
            }
            Event::Token(_) => {
                self.metrics.generation_tokens.inc();
            }
            Event::Evict(e) => {
                self.metrics.evictions.inc();
                self.metrics.evicted_entries.inc_by(e.freed);
            }
            _ => {}
        }
        // A handler that went away is noticed by the engine loop, which cancels the run.
        let _ = self.updates.send(Update::Event(Box::new(event.clone())));
        Ok(())
    }
}
