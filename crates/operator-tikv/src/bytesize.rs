//! PD's byte sizes: `"98.31GiB"`, not integers.
//!
//! PD's store API writes `capacity`, `available` and `used_size` with `typeutil.ByteSize`, whose
//! JSON form is docker/go-units `BytesSize`: the value divided by 1024 until it is below 1024,
//! printed with `%.4g` and a binary unit (`B`, `KiB`, `MiB`, `GiB`, `TiB`, `PiB`, `EiB`). PD reads
//! them back with go-units `RAMInBytes`, which also accepts `k`, `kb`, `m`, `mb`... all binary.
//! Four significant digits are plenty for a free-space ratio.

/// Multiplier of a unit suffix (case-insensitive, binary as in go-units `RAMInBytes`).
fn multiplier(unit: &str) -> Option<f64> {
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    Some(1024f64.powi(power))
}

/// Parses a PD byte size (`"98.31GiB"`, `"0B"`, `"512 MiB"`, `"1024"`) into bytes.
///
/// Returns `None` for anything else (negative, not a number, unknown unit).
pub fn parse(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let bytes = value * multiplier(unit)?;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return None;
    }
    // Rounded: "1.5KiB" is 1536 bytes exactly, and sizes are approximate anyway.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just above
    Some(bytes.round() as u64)
}

/// Formats bytes the way PD does (go-units `BytesSize`): `%.4g` of the value in the largest
/// binary unit that keeps it below 1024.
#[cfg(any(test, feature = "simulator"))]
pub fn format(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    #[allow(clippy::cast_precision_loss)] // sizes are printed with four significant digits
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", four_significant_digits(value), UNITS[unit])
}

/// Go's `%.4g` for values in `[0, 1024)`: four significant digits, trailing zeros dropped.
#[cfg(any(test, feature = "simulator"))]
fn four_significant_digits(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    #[allow(clippy::cast_possible_truncation)] // log10 of a value below 1024 is small
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = usize::try_from(3 - magnitude).unwrap_or(0);
    let s = format!("{value:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_pd_writes() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0B", Some(0)),
            ("1023B", Some(1023)),
            ("1KiB", Some(1024)),
            ("1.5KiB", Some(1536)),
            ("512MiB", Some(512 << 20)),
            ("98.31GiB", Some((98.31 * 1024f64.powi(3)).round() as u64)),
            ("1.819TiB", Some((1.819 * 1024f64.powi(4)).round() as u64)),
            ("2 GiB", Some(2 << 30)),
            ("10gb", Some(10 << 30)),
            ("4k", Some(4096)),
            ("1024", Some(1024)),
            ("", None),
            ("GiB", None),
            ("-1GiB", None),
            ("12XB", None),
            ("1.2.3GiB", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn formats_like_go_units() {
        let cases: &[(u64, &str)] = &[
            (0, "0B"),
            (1, "1B"),
            (1023, "1023B"),
            (1024, "1KiB"),
            (1536, "1.5KiB"),
            (100 << 30, "100GiB"),
            ((98.31 * 1024f64.powi(3)) as u64, "98.31GiB"),
            (2_000_000_000_000, "1.819TiB"),
            (1_000_000, "976.6KiB"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(format(*bytes), *expected, "{bytes}");
        }
    }

    #[test]
    fn round_trips_within_four_digits() {
        for bytes in [1u64, 999, 123_456, 7_654_321_000, 3 << 40] {
            let back = parse(&format(bytes)).unwrap();
            let error = (back as f64 - bytes as f64).abs() / bytes as f64;
            assert!(error < 5e-4, "{bytes} -> {} -> {back}", format(bytes));
        }
    }
}
