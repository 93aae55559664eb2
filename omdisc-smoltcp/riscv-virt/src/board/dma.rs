//! DMA memory for virtio-drivers: a static, page-aligned pool handed out
//! page by page and never taken back (the NIC lives until power-off).
//! Physical and virtual addresses are the same: the image runs without
//! paging and QEMU's `virt` has no IOMMU.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// Pages in the pool: two virtqueues of 8 descriptors need two pages each (the legacy
/// layout puts the used ring on a page of its own).
pub const DMA_PAGES: usize = 4;

#[repr(C, align(4096))]
struct Pool(UnsafeCell<[u8; DMA_PAGES * PAGE_SIZE]>);

// SAFETY: pages are handed out once each (`NEXT_PAGE` only grows), so no
// two users ever share one.
unsafe impl Sync for Pool {}

static POOL: Pool = Pool(UnsafeCell::new([0; DMA_PAGES * PAGE_SIZE]));
static NEXT_PAGE: AtomicUsize = AtomicUsize::new(0);

/// virtio-drivers' view of the machine's memory.
pub struct StaticDmaHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned, unshared memory that
// stays valid forever; addresses are identity-mapped.
unsafe impl Hal for StaticDmaHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let first = NEXT_PAGE.fetch_add(pages, Ordering::Relaxed);
        if first + pages > DMA_PAGES {
            NEXT_PAGE.fetch_sub(pages, Ordering::Relaxed);
            super::console::line("ERROR", "virtio DMA pool exhausted");
            // virtio-drivers turns a zero physical address into DmaError.
            return (0, NonNull::dangling());
        }
        let start = POOL.0.get().cast::<u8>();
        // SAFETY: `first * PAGE_SIZE` is inside the pool (checked above).
        let vaddr = unsafe { start.add(first * PAGE_SIZE) };
        let paddr = vaddr as PhysAddr;
        (paddr, NonNull::new(vaddr).unwrap_or(NonNull::dangling()))
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Never freed: the device lives until power-off.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
