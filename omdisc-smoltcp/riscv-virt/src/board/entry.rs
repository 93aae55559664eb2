//! The entry stub and the trap vector.
//!
//! QEMU's reset vector jumps to `_start` (placed first in `.text` at 0x80000000 by
//! `link.x`) in machine mode with `a0` = hart id and `a1` = device tree: no firmware runs
//! first (`-bios none`), which saves the 28-60 ms OpenSBI takes under emulation.
//! The stub sets the stack pointer, paints the stack (for its high-water mark, see
//! `stack.rs`), clears `.bss` and calls `kernel_main`.
//! The image takes no interrupt traps (it sleeps with `wfi` and interrupts
//! globally off), so any trap is a fault: `fatal_trap` reports it and
//! powers the machine off with a failure status.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.entry
    .globl _start
_start:
    .option push
    .option norelax
    la      sp, __stack_top
    .option pop
    mv      s0, a0
    mv      s1, a1
    la      t0, __stack_bottom
    la      t1, __stack_top
    li      t2, {paint}
5:  bgeu    t0, t1, 6f
    sw      t2, 0(t0)
    addi    t0, t0, 4
    j       5b
6:  la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  mv      a0, s0
    mv      a1, s1
    call    kernel_main
3:  wfi
    j       3b

    .section .text
    .balign 4
    .globl _trap_vector
_trap_vector:
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    j       fatal_trap
"#,
    paint = const omdisc_smoltcp::boot::stack::PAINT,
);

extern "C" {
    fn _trap_vector();
}

/// Points `mtvec` at the fault reporter (direct mode).
pub fn install_trap_vector() {
    let vector = _trap_vector as *const () as usize;
    // SAFETY: writing mtvec only changes where traps go; `_trap_vector` is
    // 4-byte aligned as direct mode requires.
    unsafe { core::arch::asm!("csrw mtvec, {}", in(reg) vector) };
}

#[no_mangle]
extern "C" fn fatal_trap(mcause: usize, mepc: usize, mtval: usize) -> ! {
    use super::console;
    console::start_line("ERROR");
    console::write_str("fatal trap: mcause=");
    console::write_hex(mcause as u64);
    console::write_str(" mepc=");
    console::write_hex(mepc as u64);
    console::write_str(" mtval=");
    console::write_hex(mtval as u64);
    console::end_line();
    super::power::shutdown_failed()
}
