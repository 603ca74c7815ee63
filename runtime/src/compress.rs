//! Cluster compression as qcow2 uses it: raw deflate (no zlib header) or a
//! zstd frame, one cluster per compressed unit.

use crate::error::{Error, Result};

/// A compression method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Raw deflate. qemu writes with a 4 KiB window; any window up to 32 KiB reads.
    Deflate,
    Zstd,
}

fn eio() -> Error {
    Error::errno(libc::EIO)
}

/// Decompresses `input` into exactly `out.len()` bytes; the input may hold
/// more than the stream (its stored length is an upper bound).
pub fn decompress(codec: Codec, input: &[u8], out: &mut [u8]) -> Result<()> {
    match codec {
        Codec::Deflate => {
            let mut d = flate2::Decompress::new(false);
            let mut produced = 0usize;
            let mut consumed = 0usize;
            while produced < out.len() {
                let before = (d.total_in(), d.total_out());
                let status = d
                    .decompress(&input[consumed..], &mut out[produced..], flate2::FlushDecompress::Finish)
                    .map_err(|_| eio())?;
                consumed = d.total_in() as usize;
                produced = d.total_out() as usize;
                if status == flate2::Status::StreamEnd || (d.total_in(), d.total_out()) == before {
                    break;
                }
            }
            if produced < out.len() {
                return Err(eio());
            }
            Ok(())
        }
        Codec::Zstd => {
            let mut dctx = zstd::zstd_safe::DCtx::create();
            let mut inb = zstd::zstd_safe::InBuffer::around(input);
            let mut outb = zstd::zstd_safe::OutBuffer::around(out);
            loop {
                let before = (inb.pos(), outb.pos());
                dctx.decompress_stream(&mut outb, &mut inb).map_err(|_| eio())?;
                if outb.pos() == outb.capacity() {
                    return Ok(());
                }
                if (inb.pos(), outb.pos()) == before || inb.pos() == input.len() {
                    return Err(eio());
                }
            }
        }
    }
}

thread_local! {
    /// Each thread keeps its compressor: creating one allocates a few hundred
    /// KiB, which per cluster would serialise the threads on the allocator.
    static DEFLATE: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new_with_window_bits(flate2::Compression::default(), false, 12));
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
}

/// Compresses one cluster; `None` when the result would not be smaller
/// (qemu then writes the cluster uncompressed).
pub fn compress(codec: Codec, input: &[u8]) -> Result<Option<Vec<u8>>> {
    let out = match codec {
        Codec::Deflate => DEFLATE.with(|c| {
            let mut c = c.borrow_mut();
            c.reset();
            let mut out = Vec::with_capacity(input.len());
            match c.compress_vec(input, &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => Ok(Some(out)),
                Ok(_) => Ok(None),
                Err(_) => Err(eio()),
            }
        })?,
        Codec::Zstd => ZSTD.with(|z| {
            let mut z = z.borrow_mut();
            if z.is_none() {
                *z = Some(zstd::bulk::Compressor::new(0).map_err(|_| eio())?);
            }
            let c = z.as_mut().ok_or_else(eio)?;
            c.compress(input).map(Some).map_err(|_| eio())
        })?,
    };
    Ok(out.filter(|o| o.len() < input.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_short_streams() {
        let mut data = vec![0u8; 65536];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i / 100) as u8;
        }
        for codec in [Codec::Deflate, Codec::Zstd] {
            let c = compress(codec, &data).unwrap().expect("compressible");
            let mut padded = c.clone();
            padded.extend_from_slice(&[0xaa; 300]);
            let mut out = vec![0u8; 65536];
            decompress(codec, &padded, &mut out).unwrap();
            assert_eq!(out, data);
            let mut bigger = vec![0u8; 65536 * 2];
            assert!(decompress(codec, &c, &mut bigger).is_err());
        }
        let mut x = 0x9e3779b97f4a7c15u64;
        let noise: Vec<u8> = (0..65536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(compress(Codec::Deflate, &noise).unwrap().is_none());
    }
}
