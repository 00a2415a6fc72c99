//! The Socket.IO settings among a client's options (`delivery`, `idField`, `publishFormat`,
//! `joins`, `replayEvent`), checked into the Socket.IO wire's settings; `delivery` applies to
//! the JSON wire too.

use super::OptionsError;
use crate::protocol::socketio::{Join, PublishFormat};
use crate::protocol::value::Value;
use crate::protocol::{Delivery, Protocol, RawJson};

/// The Socket.IO settings among the client's options.
pub(super) struct SocketIoOptions<'a> {
    pub(super) delivery: Option<&'a str>,
    pub(super) id_field: Option<&'a str>,
    pub(super) publish_format: Option<&'a str>,
    pub(super) joins: Option<&'a [Vec<Value>]>,
    pub(super) replay_event: Option<&'a str>,
}

/// Applies the Socket.IO settings to the protocol; on the relay only their defaults are allowed.
pub(super) fn socket_io_settings(
    protocol: &mut Protocol,
    o: SocketIoOptions<'_>,
) -> Result<(), OptionsError> {
    let delivery = match o.delivery {
        None | Some("ack") => Delivery::Ack,
        Some("echo") => Delivery::Echo,
        Some("sent") => Delivery::Sent,
        Some(_) => {
            return Err(OptionsError::OneOf(
                "options.delivery",
                "\"ack\", \"echo\", \"sent\"",
            ));
        }
    };
    let format = match o.publish_format {
        None | Some("payload") => PublishFormat::Payload,
        Some("meta") => PublishFormat::Meta,
        Some(_) => {
            return Err(OptionsError::OneOf(
                "options.publishFormat",
                "\"payload\", \"meta\"",
            ));
        }
    };
    if let Protocol::Json(config) = protocol {
        config.delivery = delivery;
    }
    let Protocol::SocketIo(config) = protocol else {
        if delivery != Delivery::Ack && !matches!(protocol, Protocol::Json(_)) {
            return Err(OptionsError::NotOnRelay("options.delivery"));
        }
        let given = [
            ("options.idField", o.id_field.is_some()),
            ("options.publishFormat", o.publish_format.is_some()),
            ("options.joins", o.joins.is_some()),
            ("options.replayEvent", o.replay_event.is_some()),
        ];
        return match given.into_iter().find(|(_, set)| *set) {
            Some((name, _)) => Err(OptionsError::SocketIoOnly(name)),
            None => Ok(()),
        };
    };
    config.delivery = delivery;
    config.format = format;
    if let Some(field) = o.id_field {
        if field.is_empty() {
            return Err(OptionsError::Empty("options.idField"));
        }
        field.clone_into(&mut config.id_field);
    }
    for (i, join) in o.joins.unwrap_or_default().iter().enumerate() {
        let Some((Value::String(event), args)) = join.split_first() else {
            return Err(OptionsError::Join(i));
        };
        config.joins.push(Join {
            event: event.clone(),
            args: args.iter().map(RawJson::to_json).collect(),
        });
    }
    if let Some(event) = o.replay_event {
        if event.is_empty() {
            return Err(OptionsError::Empty("options.replayEvent"));
        }
        config.replay_event = Some(event.to_owned());
    }
    Ok(())
}
