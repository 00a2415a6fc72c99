//! Time-ordered unique ids (UUIDv7) used as publish idempotency keys.

/// Formats a UUIDv7 from a Unix time in milliseconds and 10 random bytes.
///
/// Ids made later sort after ids made earlier (to the millisecond), which keeps an outbox
/// ordered by id ordered by time.
pub fn uuid_v7(unix_ms: u64, random: [u8; 10]) -> String {
    let mut bytes = [0u8; 16];
    let ts = unix_ms.to_be_bytes();
    // The low 48 bits of the timestamp, big-endian.
    bytes[..6].copy_from_slice(&ts[2..8]);
    bytes[6..].copy_from_slice(&random);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(hex(byte >> 4));
        out.push(hex(byte & 0x0f));
    }
    out
}

/// Makes UUIDv7 ids that sort in the order they were made, even within one millisecond
/// (RFC 9562, method 1: a 12-bit counter in `rand_a`) and when the clock steps back.
#[derive(Debug, Clone, Default)]
pub struct IdGen {
    last_ms: u64,
    counter: u16,
}

impl IdGen {
    /// The next id at `unix_ms`, with `random` for the remaining bits.
    pub fn next(&mut self, unix_ms: u64, mut random: [u8; 10]) -> String {
        if unix_ms > self.last_ms {
            self.last_ms = unix_ms;
            // Start low in the counter space so that many ids fit in one millisecond.
            self.counter = u16::from(random[1] & 0x7f);
        } else if self.counter >= 0x0fff {
            self.last_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        let [hi, lo] = self.counter.to_be_bytes();
        random[0] = hi & 0x0f;
        random[1] = lo;
        uuid_v7(self.last_ms, random)
    }
}

/// The Unix time in milliseconds a UUIDv7 was made at; `None` when `id` is not one.
pub fn uuid_v7_time(id: &str) -> Option<u64> {
    let bytes = id.as_bytes();
    if bytes.len() != 36 || bytes.get(8) != Some(&b'-') || bytes.get(14) != Some(&b'7') {
        return None;
    }
    let digits = id.get(..8)?.to_owned() + id.get(9..13)?;
    u64::from_str_radix(&digits, 16).ok()
}

fn hex(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_v7_layout() {
        let id = uuid_v7(0x0123_4567_89ab, [0xff; 10]);
        assert_eq!(id, "01234567-89ab-7fff-bfff-ffffffffffff");
        let id = uuid_v7(1, [0; 10]);
        assert_eq!(id, "00000000-0001-7000-8000-000000000000");
    }

    #[test]
    fn generated_ids_sort_in_creation_order() {
        let mut ids = IdGen::default();
        let mut made = Vec::new();
        // Many in one millisecond (past the counter's range), then a clock step back.
        for n in 0..5_000u32 {
            let random = [(n % 251) as u8; 10];
            made.push(ids.next(1_700_000_000_000, random));
        }
        made.push(ids.next(1_699_999_999_000, [9; 10]));
        made.push(ids.next(1_700_000_000_500, [0; 10]));
        let mut sorted = made.clone();
        sorted.sort();
        assert_eq!(made, sorted);
        sorted.dedup();
        assert_eq!(sorted.len(), made.len(), "all unique");
        assert!(made.iter().all(|id| id.as_bytes()[14] == b'7'), "version 7");
    }

    #[test]
    fn sorts_by_time() {
        let a = uuid_v7(1_700_000_000_000, [0xff; 10]);
        let b = uuid_v7(1_700_000_000_001, [0; 10]);
        assert!(a < b);
    }

    #[test]
    fn the_time_is_read_back_from_an_id() {
        let id = IdGen::default().next(1_700_000_123_456, [9; 10]);
        assert_eq!(uuid_v7_time(&id), Some(1_700_000_123_456));
        assert_eq!(uuid_v7_time("F1.7"), None);
        assert_eq!(uuid_v7_time("00000000-0000-4000-8000-000000000000"), None);
    }
}
