//! A sink that forwards every event to the UI, tagged with its run and stream.

use crate::trace::{Event, EventSink, Header};

use super::protocol::{Emit, LiveBody, LiveMsg};

pub struct ChannelSink {
    run: u64,
    stream: usize,
    send: Emit,
}

impl ChannelSink {
    pub(super) fn new(run: u64, stream: usize, send: Emit) -> Self {
        ChannelSink { run, stream, send }
    }
}

impl EventSink for ChannelSink {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        (self.send)(LiveMsg::new(
            self.run,
            LiveBody::Header {
                stream: self.stream,
                header: Box::new(header.clone()),
            },
        ));
        Ok(())
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        (self.send)(LiveMsg::new(
            self.run,
            LiveBody::Event {
                stream: self.stream,
                event: Box::new(event.clone()),
            },
        ));
        Ok(())
    }
}
