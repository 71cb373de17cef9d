//! Where the bytes of one received packet go: a head buffer, then a body
//! buffer; what fits in neither is counted and dropped, so the caller
//! learns the packet's real length.

/// The destination of one packet.
#[derive(Debug)]
pub(super) struct Scatter<'a> {
    head: &'a mut [u8],
    body: &'a mut [u8],
    /// Bytes stored so far (head first).
    stored: usize,
    /// Bytes of the packet seen so far (stored or dropped).
    total: usize,
}

impl<'a> Scatter<'a> {
    pub(super) fn new(head: &'a mut [u8], body: &'a mut [u8]) -> Self {
        Self {
            head,
            body,
            stored: 0,
            total: 0,
        }
    }

    /// The free space that comes next (empty once both buffers are full).
    pub(super) fn room(&mut self) -> &mut [u8] {
        if self.stored < self.head.len() {
            &mut self.head[self.stored..]
        } else {
            let at = (self.stored - self.head.len()).min(self.body.len());
            &mut self.body[at..]
        }
    }

    /// Records a read of `read` bytes of which the first `stored` went
    /// into [`room`](Self::room).
    pub(super) fn advance(&mut self, stored: usize, read: usize) {
        self.stored += stored;
        self.total += read;
    }

    /// Copies `bytes` in as far as they fit.
    pub(super) fn put(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        while !bytes.is_empty() {
            let room = self.room();
            let n = room.len().min(bytes.len());
            if n == 0 {
                return;
            }
            room[..n].copy_from_slice(&bytes[..n]);
            self.stored += n;
            bytes = &bytes[n..];
        }
    }

    /// The packet's length so far.
    pub(super) fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_fills_head_then_body_and_counts_the_rest() {
        let mut head = [0u8; 4];
        let mut body = [0u8; 3];
        let mut sc = Scatter::new(&mut head, &mut body);
        sc.put(b"abcdef");
        sc.put(b"ghij");
        assert_eq!(sc.total(), 10);
        assert!(sc.room().is_empty());
        assert_eq!(&head, b"abcd");
        assert_eq!(&body, b"efg");
    }

    #[test]
    fn room_moves_from_head_to_body() {
        let mut head = [0u8; 2];
        let mut body = [0u8; 5];
        let mut sc = Scatter::new(&mut head, &mut body);
        assert_eq!(sc.room().len(), 2);
        sc.advance(2, 2);
        assert_eq!(sc.room().len(), 5);
        sc.room()[..3].copy_from_slice(b"xyz");
        sc.advance(3, 3);
        assert_eq!(sc.room().len(), 2);
        sc.advance(0, 100);
        assert_eq!(sc.total(), 105);
        assert_eq!(&body[..3], b"xyz");
    }
}
