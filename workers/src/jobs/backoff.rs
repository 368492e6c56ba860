//! Retry delays: exponential backoff with jitter.

/// Delay in whole seconds before attempt `attempt + 1`, after `attempt` failed attempts
/// (1-based): `base · 2^(attempt-1)` capped at `max`, then "equal jitter" (half fixed, half
/// random) so that jobs failing together do not retry together. `random` is in `[0, 1)`.
/// Never less than one second: queues count delays in whole seconds.
pub fn delay_seconds(attempt: u32, base_seconds: f64, max_seconds: f64, random: f64) -> u32 {
    let exponent = attempt.saturating_sub(1).min(30) as i32;
    let full = (base_seconds.max(0.0) * 2f64.powi(exponent)).min(max_seconds.max(1.0));
    let jittered = full / 2.0 + full / 2.0 * random.clamp(0.0, 1.0);
    jittered.ceil().clamp(1.0, 43_200.0) as u32
}

/// A number in `[0, 1)` from the runtime's CSPRNG.
pub fn random_unit() -> f64 {
    let bytes = crate::util::random_bytes::<4>();
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter_and_stop_at_the_cap() {
        assert_eq!(delay_seconds(1, 2.0, 300.0, 0.0), 1);
        assert_eq!(delay_seconds(1, 2.0, 300.0, 0.999), 2);
        assert_eq!(delay_seconds(2, 2.0, 300.0, 0.0), 2);
        assert_eq!(delay_seconds(4, 2.0, 300.0, 0.0), 8);
        assert_eq!(delay_seconds(4, 2.0, 300.0, 0.999), 16);
        assert_eq!(delay_seconds(20, 2.0, 300.0, 0.0), 150);
        assert_eq!(delay_seconds(20, 2.0, 300.0, 0.999), 300);
        assert_eq!(delay_seconds(1, 0.0, 300.0, 0.5), 1);
    }
}
