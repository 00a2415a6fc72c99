//! A publish on the Socket.IO wire: its EVENT in the configured format, the id the server
//! sees, and what confirms it by the delivery mode.

use super::{Awaited, PublishFormat, SocketIoWire};
use crate::protocol::message::{Delivery, Inbound};
use crate::protocol::raw::RawJson;
use crate::protocol::socketio::Packet;
use crate::protocol::wire::Encoded;

/// Why a durable publish in the payload format cannot go out.
pub const NOT_AN_OBJECT: &str =
    "a durable publish to a Socket.IO server needs an object payload to carry its id (idField)";

impl SocketIoWire {
    /// A publish: its EVENT's arguments, and the id the server sees.
    fn publish_args(
        &self,
        id: &str,
        event: &str,
        data: RawJson,
        memory: bool,
    ) -> Result<(Vec<RawJson>, String), &'static str> {
        match self.config.format {
            PublishFormat::Meta => {
                #[derive(serde::Serialize)]
                struct Meta<'a> {
                    id: &'a str,
                    event: &'a str,
                }
                let meta = RawJson::to_json(&Meta { id, event });
                Ok((vec![data, meta], id.to_owned()))
            }
            PublishFormat::Payload => {
                let field = &self.config.id_field;
                if let Some(existing) = data.field(field) {
                    // The app's own id is kept: it is what the server deduplicates by.
                    return Ok((vec![data], existing.as_text()));
                }
                match data.with_field(field, &RawJson::to_json(id)) {
                    Some(payload) => Ok((vec![payload], id.to_owned())),
                    None if memory => Ok((vec![data], id.to_owned())),
                    None => Err(NOT_AN_OBJECT),
                }
            }
        }
    }

    pub(super) fn encode_publish(
        &mut self,
        id: String,
        channel: &str,
        event: &str,
        data: RawJson,
        memory: bool,
    ) -> Encoded {
        let refuse = |id: String, reason: &str| {
            Encoded::Answered(Inbound::Refused {
                id,
                reason: reason.to_owned(),
                retryable: false,
            })
        };
        let (args, wire_id) = match self.publish_args(&id, event, data, memory) {
            Ok(parts) => parts,
            Err(reason) => return refuse(id, reason),
        };
        let args: Vec<&RawJson> = args.iter().collect();
        let acked = !memory && self.config.delivery == Delivery::Ack;
        let ack = acked.then(|| self.await_answer(Awaited::Publish(id.clone())));
        let frame = Packet::event(self.namespace(), ack, channel, &args).encode();
        if self.too_large(&frame).is_some() {
            if let Some(ack) = ack {
                self.take_answer(ack);
            }
            return refuse(id, "larger than the server's maxPayload");
        }
        if memory {
            return Encoded::FrameThen(frame, Inbound::Sent { id });
        }
        match self.config.delivery {
            Delivery::Ack => Encoded::Frame(frame),
            Delivery::Echo => {
                self.echoes.await_echo(wire_id, id);
                Encoded::Frame(frame)
            }
            Delivery::Sent => {
                self.written.push(id);
                Encoded::Frame(frame)
            }
        }
    }
}
