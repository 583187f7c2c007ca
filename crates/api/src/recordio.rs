//! RecordIO framing of Mesos streaming responses: each record is `<decimal length>\n<bytes>`.

use bytes::{Buf, BytesMut};

/// Frame one record.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("record length header is not a decimal number")]
    BadLength,
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Incremental decoder: feed bytes as they arrive, take whole records out.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
    max: usize,
}

impl Decoder {
    pub fn new(max_record: usize) -> Self {
        Decoder {
            buf: BytesMut::new(),
            max: max_record,
        }
    }
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
    /// The next complete record, if one has arrived.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
            if self.buf.len() > 20 {
                return Err(DecodeError::BadLength);
            }
            return Ok(None);
        };
        let len: usize = std::str::from_utf8(&self.buf[..nl])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(DecodeError::BadLength)?;
        if len > self.max {
            return Err(DecodeError::TooLarge(len));
        }
        if self.buf.len() < nl + 1 + len {
            return Ok(None);
        }
        self.buf.advance(nl + 1);
        Ok(Some(self.buf.split_to(len).to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_split_records() {
        let mut wire = encode(b"{\"a\":1}");
        wire.extend(encode(b"hello"));
        let mut d = Decoder::new(1024);
        for chunk in wire.chunks(3) {
            d.feed(chunk);
        }
        assert_eq!(d.next_record().unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(d.next_record().unwrap().unwrap(), b"hello");
        assert_eq!(d.next_record().unwrap(), None);
    }

    #[test]
    fn rejects_garbage_and_oversize() {
        let mut d = Decoder::new(4);
        d.feed(b"xx\nabc");
        assert_eq!(d.next_record(), Err(DecodeError::BadLength));
        let mut d = Decoder::new(4);
        d.feed(b"10\n0123456789");
        assert_eq!(d.next_record(), Err(DecodeError::TooLarge(10)));
    }
}
