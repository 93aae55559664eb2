//! The boot arguments in the command line that semihosting's `SYS_GET_CMDLINE` returns:
//! QEMU builds it from `-kernel IMAGE -append "ARGS"` as `IMAGE ARGS`, so the first word,
//! the program, is left out.

/// The arguments after the program name in `command_line` (empty if there are none).
/// Words are split at ASCII whitespace, as the boot arguments are (Unicode's whitespace
/// tables would cost flash).
pub fn boot_arguments(command_line: &str) -> &str {
    let trimmed = command_line.trim_ascii_start();
    match trimmed.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((_program, rest)) => rest.trim_ascii(),
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_name_is_left_out() {
        assert_eq!(
            boot_arguments("/img/omdisc-mps2-an386 ip=10.77.1.61/24 interval=0.5"),
            "ip=10.77.1.61/24 interval=0.5"
        );
        assert_eq!(boot_arguments("/img/omdisc-mps2-an386"), "");
        assert_eq!(boot_arguments(""), "");
        assert_eq!(boot_arguments("  img  ip=1.2.3.4/8 "), "ip=1.2.3.4/8");
    }
}
