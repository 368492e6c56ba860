//! HTTP byte ranges (RFC 9110 §14) and entity-tag matching for downloads.

/// A satisfiable single range, inclusive bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a satisfiable range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// How to answer a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Serve the whole representation (no header, another unit, or several ranges).
    Full,
    /// Serve one part with 206.
    Partial(ByteRange),
    /// 416: invalid or outside the representation.
    Unsatisfiable,
}

/// Interprets a `Range` header against a representation of `size` bytes. Single ranges
/// (`bytes=a-b`, `bytes=a-`, `bytes=-n`) are served; a list of several ranges is answered with
/// the whole representation, which RFC 9110 allows.
pub fn parse(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(header) = header else {
        return RangeAnswer::Full;
    };
    let header = header.trim();
    let Some((unit, spec)) = header.split_once('=') else {
        return RangeAnswer::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        // A unit we do not know is ignored (RFC 9110 §14.2).
        return RangeAnswer::Full;
    }
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Unsatisfiable;
    };
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let range = match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(n) if n > 0 && size > 0 => Some(ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }),
            _ => None,
        },
        (start, "") => number(start).filter(|&s| s < size).map(|start| ByteRange {
            start,
            end: size - 1,
        }),
        (start, end) => match (number(start), number(end)) {
            (Some(start), Some(end)) if start <= end && start < size => Some(ByteRange {
                start,
                end: end.min(size - 1),
            }),
            _ => None,
        },
    };
    range.map_or(RangeAnswer::Unsatisfiable, RangeAnswer::Partial)
}

/// Whether an `If-None-Match` header matches the strong `etag` (quoted). Weak comparison, as
/// RFC 9110 §13.1.2 asks for this header.
pub fn none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(header) = header else {
        return false;
    };
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, end: u64) -> RangeAnswer {
        RangeAnswer::Partial(ByteRange { start, end })
    }

    #[test]
    fn single_ranges() {
        assert_eq!(parse(None, 100), RangeAnswer::Full);
        assert_eq!(parse(Some("bytes=0-9"), 100), partial(0, 9));
        assert_eq!(parse(Some("bytes=90-"), 100), partial(90, 99));
        assert_eq!(parse(Some("bytes=-10"), 100), partial(90, 99));
        assert_eq!(parse(Some("bytes=-1000"), 100), partial(0, 99));
        assert_eq!(parse(Some("bytes=50-1000"), 100), partial(50, 99));
        assert_eq!(parse(Some("bytes=99-99"), 100), partial(99, 99));
        assert_eq!(
            partial(5, 9),
            RangeAnswer::Partial(ByteRange { start: 5, end: 9 })
        );
        assert_eq!(ByteRange { start: 5, end: 9 }.len(), 5);
    }

    #[test]
    fn unsatisfiable_and_ignored_ranges() {
        for header in [
            "bytes=100-",
            "bytes=100-200",
            "bytes=-0",
            "bytes=9-3",
            "bytes=a-b",
            "bytes=",
            "bytes=5",
            "bytes=-",
            "bytes=+1-2",
            "garbage",
        ] {
            assert_eq!(
                parse(Some(header), 100),
                RangeAnswer::Unsatisfiable,
                "{header}"
            );
        }
        assert_eq!(parse(Some("bytes=0-"), 0), RangeAnswer::Unsatisfiable);
        assert_eq!(parse(Some("items=0-5"), 100), RangeAnswer::Full);
        assert_eq!(parse(Some("bytes=0-1, 5-6"), 100), RangeAnswer::Full);
    }

    #[test]
    fn entity_tags() {
        let etag = "\"abc\"";
        assert!(none_match(Some("\"abc\""), etag));
        assert!(none_match(Some("\"x\", W/\"abc\""), etag));
        assert!(none_match(Some("*"), etag));
        assert!(!none_match(Some("\"abcd\""), etag));
        assert!(!none_match(None, etag));
    }
}
