//! The stack high-water mark, for every boot image: the board paints its whole stack with
//! [`PAINT`] at reset (before anything runs on it), and the deepest the stack ever reached
//! is where the paint first is gone, counting up from the stack's low end (where a full
//! stack would end). [`high_water`] finds it in the words the board reads; [`stack_with_margin`] is what the stack is
//! sized to.

/// The word a stack is painted with before the image's code runs (cortex-m-rt's
/// `paint-stack` value; the RISC-V entry stub writes the same).
pub const PAINT: u32 = 0xcccc_cccc;

/// How many of `words` (the stack area's, lowest address first) still hold the paint before
/// the first that does not: the stack never grew into them. Reads no further than that.
pub fn untouched_words(words: impl IntoIterator<Item = u32>) -> usize {
    words.into_iter().take_while(|&w| w == PAINT).count()
}

/// The stack a high-water mark of `high_water` bytes needs: the mark plus a margin of half
/// of it (at least 1 KiB) for paths the measurement did not take, rounded up to 8 bytes.
/// The boards' stacks are this rounded up to 4 KiB, and `cargo xtask image` fails if they
/// are smaller or larger.
pub fn stack_with_margin(high_water: usize) -> usize {
    let margin = (high_water / 2).max(1024);
    (high_water + margin).div_ceil(8) * 8
}

/// The most stack used since reset, in bytes, of a painted stack of `size` bytes whose
/// `words` (read by the board, lowest address first, lazily: see [`untouched_words`]) are
/// given.
pub fn high_water(size: usize, words: impl IntoIterator<Item = u32>) -> usize {
    size.saturating_sub(untouched_words(words) * 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paint_ends_where_the_stack_reached() {
        let mut stack = [PAINT; 16];
        assert_eq!(untouched_words(stack), 16);
        stack[10] = 0;
        stack[12] = PAINT; // a hole in a frame still counts as used
        assert_eq!(untouched_words(stack), 10);
        assert_eq!(high_water(64, stack), 24);
        stack[0] = 1;
        assert_eq!(untouched_words(stack), 0);
    }

    #[test]
    fn the_margin_is_half_and_at_least_a_kibibyte() {
        assert_eq!(stack_with_margin(8000), 12000);
        assert_eq!(stack_with_margin(100), 1128);
        assert_eq!(stack_with_margin(8001) % 8, 0);
    }
}
