//! The stack high-water mark: the whole stack is painted with [`PAINT`] at reset, and the
//! deepest the stack ever reached is where the paint first is gone (counting up from the
//! end of `.bss`, where a full stack would end).

/// The word the stack is painted with before `main` (cortex-m-rt's `paint-stack`).
pub const PAINT: u32 = 0xcccc_cccc;

/// How many of `words` (the stack area's, lowest address first) still hold the paint before
/// the first that does not: the stack never grew into them. Reads no further than that.
pub fn untouched_words(words: impl IntoIterator<Item = u32>) -> usize {
    words.into_iter().take_while(|&w| w == PAINT).count()
}

/// The RAM the budget counts for a stack whose deepest use was `high_water` bytes: the
/// high-water mark plus a margin of a quarter of it (at least 1 KiB) for paths the
/// measurement did not take, rounded up to 8 bytes (the stack's alignment).
pub fn stack_with_margin(high_water: usize) -> usize {
    let margin = (high_water / 4).max(1024);
    (high_water + margin).div_ceil(8) * 8
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
        stack[0] = 1;
        assert_eq!(untouched_words(stack), 0);
    }

    #[test]
    fn the_margin_is_a_quarter_and_at_least_a_kibibyte() {
        assert_eq!(stack_with_margin(8000), 10000);
        assert_eq!(stack_with_margin(100), 1128);
        assert_eq!(stack_with_margin(8001) % 8, 0);
    }
}
