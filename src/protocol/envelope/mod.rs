//! The syncline envelope (the relay's protocol, `PROTOCOL.md`, and the link between tabs) as a
//! [`Wire`]: several messages may share a frame, the client keeps the heartbeat.

mod codec;
mod encode;

pub use crate::protocol::error::DecodeError;
pub use crate::protocol::message::ServerError;
pub use crate::protocol::raw::RawJson;
pub use codec::{
    ClientMessage, PROTOCOL_VERSION, ServerMessage, decode_client_frame, decode_server_frame,
    encode_batch,
};

use crate::protocol::message::{InEvent, Inbound, Outbound};
use crate::protocol::wire::{Decoded, Encoded, Heartbeat, Wire, WireError};

/// The envelope wire. It keeps no state: every message maps to one envelope message.
#[derive(Debug, Default)]
pub struct EnvelopeWire;

impl Wire for EnvelopeWire {
    fn reset(&mut self) {}

    fn decode(&mut self, frame: &str) -> Result<Decoded, WireError> {
        Ok(decode_server_frame(frame)?
            .into_iter()
            .map(|message| message.map(Inbound::from).map_err(WireError::from))
            .collect())
    }

    fn encode(&mut self, message: Outbound) -> Result<Encoded, WireError> {
        Ok(Encoded::Frame(message.encode()))
    }

    fn join(&self, encoded: Vec<String>, max_batch: usize) -> Vec<String> {
        let mut messages = encoded.into_iter().peekable();
        let mut frames = Vec::new();
        while messages.peek().is_some() {
            frames.push(encode_batch(messages.by_ref().take(max_batch.max(1))));
        }
        frames
    }

    fn poll_transmit(&mut self) -> Option<String> {
        None
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat::ClientPings
    }
}

impl From<ServerMessage> for Inbound {
    fn from(message: ServerMessage) -> Self {
        match message {
            ServerMessage::Welcome { session } => Inbound::Session {
                session,
                resumed: crate::protocol::message::Resumption::Fresh,
            },
            ServerMessage::Denied { reason } => Inbound::Denied { reason },
            ServerMessage::Subscribed { channel, seq } => Inbound::Subscribed {
                channel,
                seq: Some(seq),
            },
            ServerMessage::Event {
                channel,
                event,
                seq,
                id,
                data,
                spread,
            } => Inbound::Event(InEvent {
                channel,
                event,
                seq: Some(seq),
                id,
                data,
                spread,
            }),
            ServerMessage::Ack { id, seq } => Inbound::Ack { id, seq },
            ServerMessage::Nack {
                id,
                reason,
                retryable,
            } => Inbound::Refused {
                id,
                reason,
                retryable,
            },
            ServerMessage::Response { id, result } => Inbound::Response { id, result },
            ServerMessage::Ping { ts } => Inbound::Ping { ts },
            ServerMessage::Pong { ts } => Inbound::Pong { ts },
            ServerMessage::Error(error) => Inbound::Error(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_decodes_to_inbound_messages_in_order() {
        let mut wire = EnvelopeWire;
        let frame = r#"[{"t":"welcome","v":1,"session":"s"},{"t":"nope"},{"t":"nack","id":"a","reason":"r","retryable":true}]"#;
        let got = wire.decode(frame).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            Ok(Inbound::Session {
                session: "s".into(),
                resumed: crate::protocol::message::Resumption::Fresh,
            })
        );
        assert!(got[1].is_err());
        assert_eq!(
            got[2],
            Ok(Inbound::Refused {
                id: "a".into(),
                reason: "r".into(),
                retryable: true
            })
        );
    }

    #[test]
    fn frames_join_up_to_the_batch_size() {
        let wire = EnvelopeWire;
        let ping = |ts| Outbound::Ping { ts }.encode();
        let frames = wire.join(vec![ping(1), ping(2), ping(3)], 2);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], ping(3));
        assert!(frames[0].starts_with('['));
    }
}
