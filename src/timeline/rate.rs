//! A recorded stream's decode speed, one definition for every view and export.

use super::Timeline;

/// Decode speed in tokens per second, as the live run defines it: tokens generated over the
/// seconds the engine spent decoding, which the end event records (pauses and the other
/// stream's turns in a compare run are not in it). A trace without that time (imported, or
/// cut short before its end event) falls back on the token timestamps: tokens after the first
/// over the seconds between the first and the last token. `None` when neither gives a
/// positive, finite time.
pub fn decode_rate(timeline: &Timeline) -> Option<f64> {
    if let Some(end) = timeline.end() {
        if let Some(seconds) = end.decode_seconds.filter(|s| *s > 0.0 && s.is_finite()) {
            return Some(end.totals.generated as f64 / seconds);
        }
    }
    let n = timeline.len();
    let first = timeline.time_of(0)?;
    let last = timeline.time_of(n.checked_sub(1)?)?;
    let span = last - first;
    (span > 0.0 && span.is_finite()).then(|| (n - 1) as f64 / span)
}
