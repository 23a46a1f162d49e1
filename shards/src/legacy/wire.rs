//! Reading and writing the primitive types of Kafka's classic (non-flexible) encoding, for the
//! few old request versions kafka-protocol no longer has. Every read is bounds-checked: a short
//! or lying frame is an error, never a panic or a large allocation.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("{what}: {need} bytes needed, {left} left")]
    Short {
        what: &'static str,
        need: usize,
        left: usize,
    },
    #[error("{what}: length {len} is negative or larger than the {left} bytes left")]
    BadLength {
        what: &'static str,
        len: i64,
        left: usize,
    },
    #[error("{what}: not UTF-8")]
    NotUtf8 { what: &'static str },
    #[error("{0} bytes left over after the request")]
    Trailing(usize),
}

/// A cursor over a request body.
pub struct WireReader {
    buf: Bytes,
}

impl WireReader {
    pub fn new(buf: Bytes) -> Self {
        WireReader { buf }
    }

    fn need(&self, what: &'static str, need: usize) -> Result<(), WireError> {
        if self.buf.remaining() < need {
            return Err(WireError::Short {
                what,
                need,
                left: self.buf.remaining(),
            });
        }
        Ok(())
    }

    pub fn i8(&mut self, what: &'static str) -> Result<i8, WireError> {
        self.need(what, 1)?;
        Ok(self.buf.get_i8())
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, WireError> {
        self.need(what, 2)?;
        Ok(self.buf.get_i16())
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        self.need(what, 4)?;
        Ok(self.buf.get_i32())
    }

    pub fn i64(&mut self, what: &'static str) -> Result<i64, WireError> {
        self.need(what, 8)?;
        Ok(self.buf.get_i64())
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, WireError> {
        Ok(self.i8(what)? != 0)
    }

    /// `len` bytes, checked against what is left.
    fn take(&mut self, what: &'static str, len: i64) -> Result<Bytes, WireError> {
        if len < 0 || len as u64 > self.buf.remaining() as u64 {
            return Err(WireError::BadLength {
                what,
                len,
                left: self.buf.remaining(),
            });
        }
        Ok(self.buf.split_to(len as usize))
    }

    /// The next `len` bytes as they are.
    pub fn raw(&mut self, len: usize) -> Result<Bytes, WireError> {
        self.take("bytes", len as i64)
    }

    /// A string with an i16 length; -1 is null.
    pub fn nullable_string(&mut self, what: &'static str) -> Result<Option<String>, WireError> {
        let len = self.i16(what)?;
        if len == -1 {
            return Ok(None);
        }
        let raw = self.take(what, len as i64)?;
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| WireError::NotUtf8 { what })
    }

    pub fn string(&mut self, what: &'static str) -> Result<String, WireError> {
        self.nullable_string(what)?.ok_or(WireError::BadLength {
            what,
            len: -1,
            left: self.buf.remaining(),
        })
    }

    /// Bytes with an i32 length; -1 is null.
    pub fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>, WireError> {
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        self.take(what, len as i64).map(Some)
    }

    /// An array's element count. Each element takes at least `min_element_bytes`, so a count
    /// the rest of the frame cannot hold is refused before anything is allocated for it.
    pub fn array_len(
        &mut self,
        what: &'static str,
        min_element_bytes: usize,
    ) -> Result<usize, WireError> {
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(0);
        }
        let fits = self.buf.remaining() / min_element_bytes.max(1);
        if len < 0 || len as usize > fits {
            return Err(WireError::BadLength {
                what,
                len: len as i64,
                left: self.buf.remaining(),
            });
        }
        Ok(len as usize)
    }

    /// An array: its count (checked as `array_len` checks it), then each element read by
    /// `element`.
    pub fn array<T>(
        &mut self,
        what: &'static str,
        min_element_bytes: usize,
        mut element: impl FnMut(&mut Self) -> Result<T, WireError>,
    ) -> Result<Vec<T>, WireError> {
        let count = self.array_len(what, min_element_bytes)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }

    pub fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    /// Ends a request: anything left over means it was not what its version says.
    pub fn finish(self) -> Result<(), WireError> {
        match self.buf.remaining() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// Writes the classic encoding's primitives.
pub trait WireWrite {
    fn string(&mut self, s: &str);
    fn nullable_string(&mut self, s: Option<&str>);
    fn nullable_bytes(&mut self, b: Option<&[u8]>);
    fn array_len(&mut self, n: usize);
}

impl WireWrite for BytesMut {
    fn string(&mut self, s: &str) {
        self.nullable_string(Some(s));
    }

    fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            // Kafka names and messages are far below 32 KiB; longer ones are cut, not wrapped.
            Some(s) => {
                let s = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
                self.put_i16(s.len() as i16);
                self.put_slice(s);
            }
            None => self.put_i16(-1),
        }
    }

    fn nullable_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.put_i32(b.len() as i32);
                self.put_slice(b);
            }
            None => self.put_i32(-1),
        }
    }

    fn array_len(&mut self, n: usize) {
        self.put_i32(n as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_was_written() {
        let mut out = BytesMut::new();
        out.string("topic");
        out.nullable_string(None);
        out.nullable_bytes(Some(b"abc"));
        out.nullable_bytes(None);
        out.array_len(2);
        out.put_i64(-7);
        let mut r = WireReader::new(out.freeze());
        assert_eq!(r.string("s").unwrap(), "topic");
        assert_eq!(r.nullable_string("n").unwrap(), None);
        assert_eq!(r.nullable_bytes("b").unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(r.nullable_bytes("b").unwrap(), None);
        assert_eq!(r.array_len("a", 4).unwrap(), 2);
        assert_eq!(r.i64("i").unwrap(), -7);
        r.finish().unwrap();
    }

    #[test]
    fn lengths_beyond_the_frame_are_refused_before_allocating() {
        let mut out = BytesMut::new();
        out.put_i32(i32::MAX);
        out.put_i32(0);
        let mut r = WireReader::new(out.clone().freeze());
        assert!(matches!(
            r.array_len("a", 4),
            Err(WireError::BadLength { .. })
        ));
        let mut r = WireReader::new(out.freeze());
        assert!(matches!(
            r.nullable_bytes("b"),
            Err(WireError::BadLength { .. })
        ));
        let mut r = WireReader::new(Bytes::from_static(&[0, 5, b'a']));
        assert!(matches!(r.string("s"), Err(WireError::BadLength { .. })));
        let r = WireReader::new(Bytes::from_static(&[1]));
        assert_eq!(r.finish(), Err(WireError::Trailing(1)));
    }
}
