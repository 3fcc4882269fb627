//! Constant-time comparison for shared secrets (webhook secrets, signatures).

use std::hint::black_box;

/// Whether `provided` equals `expected`, in time that depends only on the length of `expected`:
/// every byte is compared, a wrong byte early in the input costs as much as one at the end, and
/// a shorter or longer input is walked just the same. Use it for every comparison of a secret
/// an attacker can probe (webhook shared secrets, HMAC signatures).
///
/// ```
/// use rmm_sync::provider::http::constant_time_eq;
/// assert!(constant_time_eq(b"s3cret", b"s3cret"));
/// assert!(!constant_time_eq(b"s3cres", b"s3cret"));
/// assert!(!constant_time_eq(b"s3c", b"s3cret"));
/// ```
pub fn constant_time_eq(provided: &[u8], expected: &[u8]) -> bool {
    // Any length difference is folded into the accumulator instead of returning early.
    let mut diff = u8::from(provided.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        let p = provided.get(i).copied().unwrap_or(!*e);
        diff |= black_box(p ^ e);
    }
    black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_when_every_byte_and_the_length_match() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
        assert!(!constant_time_eq(b"abc", b""));
        // A prefix padded with what would be the missing bytes' complement is still unequal.
        assert!(!constant_time_eq(&[0x00], &[0x00, 0xff]));
    }
}
