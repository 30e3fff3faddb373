//! Where events go: a trace file, memory, a channel to the UI, or several at once.

use super::schema::{Event, Header};

pub trait EventSink {
    /// Called once, before any event.
    fn header(&mut self, header: &Header) -> std::io::Result<()>;
    fn event(&mut self, event: &Event) -> std::io::Result<()>;
}

/// Keeps everything in memory.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    pub header: Option<Header>,
    pub events: Vec<Event>,
}

impl MemorySink {
    /// Send the header and every event, in order, to another sink (a file, say).
    pub fn replay_into(&self, sink: &mut impl EventSink) -> std::io::Result<()> {
        if let Some(header) = &self.header {
            sink.header(header)?;
        }
        for event in &self.events {
            sink.event(event)?;
        }
        Ok(())
    }
}

impl EventSink for MemorySink {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        self.header = Some(header.clone());
        Ok(())
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        self.events.push(event.clone());
        Ok(())
    }
}

/// Keeps nothing: for runs whose events nobody reads (teacher-forced ablation arms).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn header(&mut self, _: &Header) -> std::io::Result<()> {
        Ok(())
    }

    fn event(&mut self, _: &Event) -> std::io::Result<()> {
        Ok(())
    }
}

/// An optional sink: `None` keeps nothing.
impl<S: EventSink> EventSink for Option<S> {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.header(header))
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        self.as_mut().map_or(Ok(()), |s| s.event(event))
    }
}

/// Sends to two sinks.
pub struct Tee<A, B>(pub A, pub B);

impl<A: EventSink, B: EventSink> EventSink for Tee<A, B> {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        self.0.header(header)?;
        self.1.header(header)
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        self.0.event(event)?;
        self.1.event(event)
    }
}

impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        (**self).header(header)
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        (**self).event(event)
    }
}

impl<S: EventSink + ?Sized> EventSink for Box<S> {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        (**self).header(header)
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        (**self).event(event)
    }
}
