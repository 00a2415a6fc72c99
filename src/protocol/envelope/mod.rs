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
        let mut decoded = Vec::new();
        for message in decode_server_frame(frame)? {
            match message {
                // The server's limits follow the session they belong to.
                Ok(ServerMessage::Welcome {
                    session,
                    limits: Some(limits),
                }) => {
                    decoded.push(Ok(Inbound::from(ServerMessage::Welcome {
                        session,
                        limits: None,
                    })));
                    decoded.push(Ok(Inbound::Limits(limits)));
                }
                other => decoded.push(other.map(Inbound::from).map_err(WireError::from)),
            }
        }
        Ok(decoded)
    }

    fn encode(&mut self, message: Outbound) -> Result<Encoded, WireError> {
        Ok(Encoded::Frame(message.encode()))
    }

    fn join(&self, encoded: Vec<String>, max_batch: usize, max_bytes: usize) -> Vec<String> {
        let mut frames = Vec::new();
        let mut batch: Vec<String> = Vec::new();
        // The batch's length as a JSON array: brackets, and a comma between messages.
        let mut bytes = 1;
        for message in encoded {
            let grown = bytes + 1 + message.len();
            if !batch.is_empty() && (batch.len() >= max_batch.max(1) || grown > max_bytes) {
                frames.push(encode_batch(std::mem::take(&mut batch)));
                bytes = 1;
            }
            bytes += 1 + message.len();
            batch.push(message);
        }
        if !batch.is_empty() {
            frames.push(encode_batch(batch));
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
            ServerMessage::Welcome { session, .. } => Inbound::Session {
                session,
                resumed: crate::protocol::message::Resumption::Fresh,
            },
            ServerMessage::Denied { reason } => Inbound::Denied { reason },
            ServerMessage::Subscribed {
                channel,
                seq,
                since,
            } => Inbound::Subscribed {
                channel,
                seq: Some(seq),
                since,
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
            ServerMessage::Gap { channel, from, to } => Inbound::Gap { channel, from, to },
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
        let frames = wire.join(vec![ping(1), ping(2), ping(3)], 2, usize::MAX);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], ping(3));
        assert!(frames[0].starts_with('['));
    }

    #[test]
    fn frames_stay_under_the_byte_limit_and_a_long_message_goes_alone() {
        let wire = EnvelopeWire;
        let publish = |n: usize| {
            Outbound::Publish {
                id: format!("p{n}"),
                channel: "c".into(),
                event: "e".into(),
                data: RawJson::to_json(&"x".repeat(n)),
                durable: false,
                memory: false,
                priority: 0,
            }
            .encode()
        };
        let messages: Vec<String> = (0..20).map(|_| publish(100)).collect();
        let limit = 3 * messages[0].len() + 4;
        let frames = wire.join(messages.clone(), 64, limit);
        assert!(frames.iter().all(|f| f.len() <= limit), "{frames:?}");
        assert_eq!(frames.len(), 7, "three a frame, then two");
        let back: Vec<_> = frames
            .iter()
            .flat_map(|f| decode_client_frame(f).unwrap())
            .map(Result::unwrap)
            .map(|m| m.encode())
            .collect();
        assert_eq!(back, messages, "every message, in order");
        let long = publish(1000);
        let frames = wire.join(vec![publish(1), long.clone(), publish(2)], 64, 500);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1], long);
    }
}
