//! The boot images' stacks, sized to what they use (issue 16): the high-water mark measured
//! in QEMU plus a margin of half of it (at least 1 KiB), for paths the measurement did not
//! take, rounded up to [`STACK_STEP`]. A stack below the mark with its margin fails the
//! check, and so does one larger than that rounded up: a stack sized for code that has
//! since shrunk is RAM nobody uses.

/// The stacks are whole multiples of this many bytes.
pub const STACK_STEP: u64 = 4096;

/// The stack a high-water mark of `high_water` bytes needs: the mark plus half of it (at
/// least 1 KiB), rounded up to 8 bytes (as the images' own `stack_with_margin`, which they
/// print with every map).
pub fn stack_with_margin(high_water: u64) -> u64 {
    (high_water + (high_water / 2).max(1024)).div_ceil(8) * 8
}

/// The stack a high-water mark of `high_water` bytes is sized to: its
/// [`stack_with_margin`] rounded up to [`STACK_STEP`].
pub fn sized_stack(high_water: u64) -> u64 {
    stack_with_margin(high_water).div_ceil(STACK_STEP) * STACK_STEP
}

/// One line: the mark, with its margin, against a `stack`-byte stack.
pub fn describe(high_water: u64, stack: u64) -> String {
    let verdict = match check(high_water, stack, "") {
        Ok(()) => "",
        Err(_) if stack < stack_with_margin(high_water) => " OVER",
        Err(_) => " OVERSIZED",
    };
    format!(
        "high-water mark {high_water} B, with margin (half, at least 1 KiB) {} B, of a {stack} B stack{verdict} (sized: {} B)",
        stack_with_margin(high_water),
        sized_stack(high_water),
    )
}

/// An error unless a `stack`-byte stack (set in `place`) is the one the mark is sized to:
/// at least the mark with its margin, at most that rounded up to [`STACK_STEP`].
pub fn check(high_water: u64, stack: u64, place: &str) -> Result<(), String> {
    let needed = stack_with_margin(high_water);
    let sized = sized_stack(high_water);
    if stack < needed {
        Err(format!(
            "the stack's high-water mark {high_water} B with its margin ({needed} B) does not fit the {stack} B stack ({place}): make it {sized} B"
        ))
    } else if stack > sized {
        Err(format!(
            "the {stack} B stack ({place}) is larger than the high-water mark {high_water} B with its margin ({needed} B) rounded up to {STACK_STEP} B: make it {sized} B"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_half_the_mark_and_at_least_a_kibibyte() {
        assert_eq!(stack_with_margin(8000), 12000);
        assert_eq!(stack_with_margin(100), 1128);
        assert_eq!(stack_with_margin(8001) % 8, 0);
    }

    #[test]
    fn a_stack_fits_from_the_margin_up_to_the_next_step() {
        // The RISC-V image's mark: 15 188 B + half = 22 782 B, sized to 24 KiB.
        assert_eq!(sized_stack(15_188), 24_576);
        assert!(check(15_188, 24_576, "link.x").is_ok());
        assert!(check(15_188, 22_784, "link.x").is_ok());
        let small = check(15_188, 20_480, "link.x").unwrap_err();
        assert!(
            small.contains("does not fit the 20480 B stack (link.x): make it 24576 B"),
            "{small}"
        );
        let large = check(15_188, 40_960, "link.x").unwrap_err();
        assert!(large.contains("is larger than"), "{large}");
        assert!(describe(15_188, 40_960).contains("OVERSIZED"));
        assert!(describe(15_188, 20_480).contains("OVER (sized"));
        assert!(describe(15_188, 24_576).ends_with("of a 24576 B stack (sized: 24576 B)"));
    }
}
