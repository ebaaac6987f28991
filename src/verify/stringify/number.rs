//! Numbers as ECMAScript's `Number::toString` writes them.

/// A number as ECMAScript's `Number::toString` writes it (`JSON.stringify` writes infinities
/// as `null`).
pub(super) fn write_number(number: f64, out: &mut Vec<u8>, scratch: &mut String) {
    if !number.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if number == 0.0 {
        // -0 too.
        out.push(b'0');
        return;
    }
    if number < 0.0 {
        out.push(b'-');
    }
    let magnitude = number.abs();
    if magnitude.fract() == 0.0 && magnitude < 9_007_199_254_740_992.0 {
        // Below 2^53 every integer is a double, so its shortest digits are all of its digits.
        write_integer(magnitude as u64, out);
        return;
    }
    let (digits, n) = js_digits(magnitude, scratch);
    let mut buffer = [0u8; 20];
    let digits = integer_text(digits, &mut buffer);
    // ECMAScript's k (digit count) and n (position of the decimal point), laid out as
    // Number::toString lays them out.
    let k = digits.len() as i32;
    if k <= n && n <= 21 {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        out.extend_from_slice(whole);
        out.push(b'.');
        out.extend_from_slice(fraction);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', n.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.extend_from_slice(first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
        out.push(b'e');
        out.push(if n > 0 { b'+' } else { b'-' });
        write_integer(u64::from((n - 1).unsigned_abs()), out);
    }
}

/// The digits `s` (at most 17 of them, no trailing zero) and the exponent `n` of a positive
/// finite double as ECMAScript chooses them: the fewest digits that read back as the same
/// double, the closest such to it, and the even one of two equally close.
fn js_digits(magnitude: f64, scratch: &mut String) -> (u64, i32) {
    use std::fmt::Write as _;

    // std's `{:e}` gives the shortest round-trip digits as `d.ddde-N`, the closest such; only
    // an exact tie between two of them is broken differently (upwards, where JS takes the
    // even one), so that case is looked for below.
    scratch.clear();
    // Writing to a String cannot fail.
    let _ = write!(scratch, "{magnitude:e}");
    let (mantissa, exponent) = scratch.split_once('e').unwrap_or((scratch.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: u64 = 0;
    let mut k = 0;
    for digit in mantissa.bytes().filter(u8::is_ascii_digit) {
        digits = digits * 10 + u64::from(digit - b'0');
        k += 1;
    }
    let n = exponent + 1;
    if digits % 2 == 1 {
        for neighbour in [digits - 1, digits + 1] {
            let same_length = (10u64.pow(k - 1)..10u64.pow(k)).contains(&neighbour);
            // Midway between the two, in units of 10^(n - k - 1).
            let midpoint = 5 * (digits + neighbour);
            if same_length
                && equals_decimal(magnitude, midpoint, n - k as i32 - 1)
                && reads_back(neighbour, n - k as i32, magnitude, scratch)
            {
                return (neighbour, n);
            }
        }
    }
    (digits, n)
}

/// Whether `value` is exactly `significand` × 10^`exponent`, for a significand below 10^18.
pub(super) fn equals_decimal(value: f64, significand: u64, exponent: i32) -> bool {
    // A double equal to a decimal of at most 18 digits ending in 5 has an exponent in this range
    // (a larger power of 5 than 5^25 cannot divide into, nor 5^22 out of, a 53-bit mantissa),
    // and within it every product below fits in 128 bits.
    if !(-25..=22).contains(&exponent) {
        return false;
    }
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, binary_exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    // significand × 5^e × 2^e = mantissa × 2^binary_exponent, with the powers of 5 moved to
    // whichever side keeps them positive.
    let five = 5u128.pow(exponent.unsigned_abs());
    let (left, right) = if exponent >= 0 {
        (u128::from(significand) * five, u128::from(mantissa))
    } else {
        (u128::from(significand), u128::from(mantissa) * five)
    };
    let shifted = |x: u128, by: i32| {
        let by = by.unsigned_abs();
        (by < 128 && x.leading_zeros() >= by).then(|| x << by)
    };
    let (left, right) = if exponent >= binary_exponent {
        (shifted(left, exponent - binary_exponent), Some(right))
    } else {
        (Some(left), shifted(right, binary_exponent - exponent))
    };
    left.is_some() && left == right
}

/// Whether `digits` × 10^`exponent` reads back as `value`.
pub(super) fn reads_back(digits: u64, exponent: i32, value: f64, scratch: &mut String) -> bool {
    use std::fmt::Write as _;

    scratch.clear();
    let _ = write!(scratch, "{digits}e{exponent}");
    scratch.parse::<f64>() == Ok(value)
}

/// `value` in decimal, in the end of `buffer`.
fn integer_text(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buffer[start..]
}

fn write_integer(value: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(integer_text(value, &mut [0; 20]));
}
