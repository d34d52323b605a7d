//! `C += A·B` for the encoder's dense layers, where `B` is a weight matrix known at load time.
//!
//! On CPUs with AVX-512 the weights are packed once into column panels of [`NR`] floats, and
//! a 12×32 register-blocked kernel streams them against packed row panels of the activations
//! (the BLIS scheme: the activations' block stays in L2, a weight panel in L1/L2). This runs
//! at about twice the speed of the portable `gemm` crate, which only has AVX2 kernels on
//! stable Rust; elsewhere the `gemm` crate is used on the plain row-major weights.

use rayon::prelude::*;

/// Rows of the register tile.
const MR: usize = 12;
/// Columns of the register tile (two 16-float vectors).
const NR: usize = 32;
/// Rows of activations packed together (kept in L2 while every weight panel passes).
const MC: usize = 8 * MR;
/// Depth of one pass over a weight panel (a panel slice of `KC × NR` floats is 48 KiB).
const KC: usize = 384;

/// A `[k × n]` weight matrix, in whichever layout the CPU's kernel wants.
pub(crate) struct Weight {
    k: usize,
    n: usize,
    layout: Layout,
}

enum Layout {
    /// Row-major, for the `gemm` crate.
    RowMajor(Vec<f32>),
    /// Column panels of `NR` (zero-padded), each `k × NR` row-major, for the AVX-512 kernel.
    #[cfg(target_arch = "x86_64")]
    Panels(AlignedBuf),
}

/// One cache line of floats.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Floats aligned to 64 bytes, so that the kernel can load whole vectors with aligned loads
/// (unaligned loads go through a checked copy when debug assertions are on).
struct AlignedBuf {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBuf {
    fn zeros(len: usize) -> Self {
        Self {
            lines: vec![Line([0.0; 16]); len.div_ceil(16)],
            len,
        }
    }

    fn as_slice(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` (64 bytes, no padding), so the lines
        // are `16 × lines.len() ≥ len` contiguous, initialised floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in `as_slice`, and the borrow is unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

/// Whether the AVX-512 kernel can run here.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Weight {
    /// Lays `b` out in panels when asked and the CPU has AVX-512, else row-major: the
    /// panel kernel is unsafe on a CPU without it, so no caller can ask for it there.
    pub(crate) fn with_layout(b: Vec<f32>, k: usize, n: usize, panels: bool) -> Self {
        assert_eq!(b.len(), k * n, "weight size");
        let panels = panels && has_avx512();
        let layout = match panels.then(|| panel_layout(&b, k, n)).flatten() {
            Some(l) => l,
            None => Layout::RowMajor(b),
        };
        Self { k, n, layout }
    }

    /// `dst ← dst + a·self` for row-major `a: [m × k]` and `dst: [m × n]`. With `threads > 1`
    /// the work is split across the current rayon pool.
    pub(crate) fn matmul_acc(&self, dst: &mut [f32], a: &[f32], m: usize, threads: usize) {
        let (k, n) = (self.k, self.n);
        assert!(dst.len() == m * n && a.len() == m * k, "matmul sizes");
        if m == 0 || n == 0 {
            return;
        }
        match &self.layout {
            Layout::RowMajor(b) => gemm_crate(dst, a, b, m, k, n, threads),
            #[cfg(target_arch = "x86_64")]
            Layout::Panels(p) => {
                let block = |(dst, a): (&mut [f32], &[f32])| {
                    let rows = a.len() / k;
                    PACKED_A.with(|buf| {
                        let mut buf = buf.borrow_mut();
                        if buf.len < MC * KC {
                            *buf = AlignedBuf::zeros(MC * KC);
                        }
                        // SAFETY: `Panels` is only built when the CPU has AVX-512F; the block's
                        // slices hold `rows × k` and `rows × n` floats, `rows ≤ MC`, and the
                        // scratch buffer holds `MC × KC`, as `avx512::block` expects.
                        unsafe {
                            avx512::block(dst, a, p.as_slice(), rows, k, n, buf.as_mut_slice())
                        }
                    });
                };
                if threads > 1 {
                    dst.par_chunks_mut(MC * n)
                        .zip(a.par_chunks(MC * k))
                        .for_each(block);
                } else {
                    dst.chunks_mut(MC * n).zip(a.chunks(MC * k)).for_each(block);
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's buffer for a packed block of activations (reused: allocating it per
    /// call would map fresh pages every time).
    static PACKED_A: std::cell::RefCell<AlignedBuf> = std::cell::RefCell::new(AlignedBuf::zeros(0));
}

/// Column panels of `NR` floats (the last one zero-padded), each `k × NR` row-major.
#[cfg(target_arch = "x86_64")]
fn panel_layout(b: &[f32], k: usize, n: usize) -> Option<Layout> {
    let mut buf = AlignedBuf::zeros(n.div_ceil(NR) * k * NR);
    for (j, panel) in buf.as_mut_slice().chunks_exact_mut(k * NR).enumerate() {
        let c0 = j * NR;
        let w = NR.min(n - c0);
        for (src, row) in b.chunks_exact(n).zip(panel.chunks_exact_mut(NR)) {
            row[..w].copy_from_slice(&src[c0..c0 + w]);
        }
    }
    Some(Layout::Panels(buf))
}

#[cfg(not(target_arch = "x86_64"))]
fn panel_layout(_: &[f32], _: usize, _: usize) -> Option<Layout> {
    None
}

/// The portable path: the `gemm` crate (what candle's CPU matmul uses).
fn gemm_crate(dst: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, threads: usize) {
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller checked `dst: m×n`, `a: m×k`, and `b: k×n` (at construction), all
    // row-major with unit column stride; `dst` is borrowed mutably so cannot alias `a`/`b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };

    use super::{KC, MR, NR};

    /// `dst[rows × n] += a[rows × k] · B`, `B` given as column panels; `rows ≤ MC`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `dst` holds `rows × n` floats, `a` holds `rows × k`,
    /// `panels` holds `⌈n / NR⌉ × k × NR` and starts 64-byte aligned; `packed` (scratch)
    /// holds at least `MC × KC` and starts 64-byte aligned.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block(
        dst: &mut [f32],
        a: &[f32],
        panels: &[f32],
        rows: usize,
        k: usize,
        n: usize,
        packed: &mut [f32],
    ) {
        let row_panels = rows.div_ceil(MR);
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            // Pack A[.., k0..k0+kc] into row panels: element (r, p) at p·MR + r.
            for (ip, panel) in packed[..row_panels * MR * kc]
                .chunks_exact_mut(MR * kc)
                .enumerate()
            {
                for r in 0..MR {
                    let row = ip * MR + r;
                    if row < rows {
                        let src = &a[row * k + k0..row * k + k0 + kc];
                        for (p, &v) in src.iter().enumerate() {
                            panel[p * MR + r] = v;
                        }
                    } else {
                        for p in 0..kc {
                            panel[p * MR + r] = 0.0;
                        }
                    }
                }
            }
            for (jp, col0) in (0..n).step_by(NR).enumerate() {
                let cols = NR.min(n - col0);
                let b = &panels[(jp * k + k0) * NR..(jp * k + k0 + kc) * NR];
                for (ip, a_panel) in packed[..row_panels * MR * kc]
                    .chunks_exact(MR * kc)
                    .enumerate()
                {
                    let row0 = ip * MR;
                    let r = MR.min(rows - row0);
                    // SAFETY: AVX-512F is enabled here; the panels hold `kc` steps.
                    unsafe { tile(kc, a_panel, b, dst, n, row0, col0, r, cols) };
                }
            }
            k0 += kc;
        }
    }

    /// `dst[row0.., col0..]` (an `r × cols` tile, `r ≤ MR`, `cols ≤ NR`) += `a_panel · b`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a_panel: &[f32],
        b: &[f32],
        dst: &mut [f32],
        ldc: usize,
        row0: usize,
        col0: usize,
        r: usize,
        cols: usize,
    ) {
        assert!(a_panel.len() >= kc * MR && b.len() >= kc * NR);
        let ap = a_panel.as_ptr();
        let bp = b.as_ptr();
        // One named accumulator pair per row (an indexed array gets spilled to the stack).
        macro_rules! kernel {
            ($($i:literal => $c0:ident, $c1:ident);*) => {{
                $(let mut $c0 = _mm512_setzero_ps(); let mut $c1 = _mm512_setzero_ps();)*
                for p in 0..kc {
                    // SAFETY: p < kc, and both panels hold kc steps (asserted above).
                    unsafe {
                        // Panel rows are 128 bytes from a 64-byte-aligned start.
                        let b0 = *bp.add(p * NR).cast::<__m512>();
                        let b1 = *bp.add(p * NR + 16).cast::<__m512>();
                        let a = ap.add(p * MR);
                        $(
                            let av = _mm512_set1_ps(*a.add($i));
                            $c0 = _mm512_fmadd_ps(av, b0, $c0);
                            $c1 = _mm512_fmadd_ps(av, b1, $c1);
                        )*
                    }
                }
                [$([$c0, $c1]),*]
            }};
        }
        let acc: [[__m512; 2]; MR] = kernel!(
            0 => c0a, c0b; 1 => c1a, c1b; 2 => c2a, c2b; 3 => c3a, c3b;
            4 => c4a, c4b; 5 => c5a, c5b; 6 => c6a, c6b; 7 => c7a, c7b;
            8 => c8a, c8b; 9 => c9a, c9b; 10 => c10a, c10b; 11 => c11a, c11b
        );
        if r == MR && cols == NR {
            for (i, acc) in acc.iter().enumerate() {
                let row = &mut dst[(row0 + i) * ldc + col0..(row0 + i) * ldc + col0 + NR];
                let c = row.as_mut_ptr();
                // SAFETY: `row` holds NR = 32 floats.
                unsafe {
                    _mm512_storeu_ps(c, _mm512_add_ps(_mm512_loadu_ps(c), acc[0]));
                    _mm512_storeu_ps(c.add(16), _mm512_add_ps(_mm512_loadu_ps(c.add(16)), acc[1]));
                }
            }
        } else {
            let mut tmp = [0.0f32; MR * NR];
            for (i, acc) in acc.iter().enumerate() {
                // SAFETY: `tmp` holds MR rows of NR floats.
                unsafe {
                    _mm512_storeu_ps(tmp.as_mut_ptr().add(i * NR), acc[0]);
                    _mm512_storeu_ps(tmp.as_mut_ptr().add(i * NR + 16), acc[1]);
                }
            }
            for i in 0..r {
                let row = &mut dst[(row0 + i) * ldc + col0..(row0 + i) * ldc + col0 + cols];
                for (c, t) in row.iter_mut().zip(&tmp[i * NR..]) {
                    *c += t;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f32>() + 1.0;
            }
        }
        c
    }

    /// Whether a weight took the AVX-512 panel layout.
    pub(super) fn is_panels(w: &Weight) -> bool {
        !matches!(w.layout, Layout::RowMajor(_))
    }

    #[test]
    fn the_panel_layout_needs_avx512() {
        let w = Weight::with_layout(vec![1.0; 6], 2, 3, true);
        assert_eq!(is_panels(&w), has_avx512());
        if !has_avx512() {
            eprintln!("skipped: no AVX-512 on this CPU, so only the gemm-crate layout is tested");
        }
        assert!(!is_panels(&Weight::with_layout(vec![1.0; 6], 2, 3, false)));
    }

    #[test]
    fn both_layouts_match_a_naive_product_on_ragged_sizes() {
        // Sizes that leave partial row and column tiles and split the depth.
        for &(m, k, n) in &[(1, 3, 5), (13, 7, 33), (100, 400, 70), (25, 800, 64)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 9.0)
                .collect();
            let want = naive(&a, &b, m, k, n);
            for panels in [false, true] {
                for threads in [1, 2] {
                    let w = Weight::with_layout(b.clone(), k, n, panels);
                    let mut c = vec![1.0f32; m * n];
                    w.matmul_acc(&mut c, &a, m, threads);
                    for (x, y) in c.iter().zip(&want) {
                        assert!(
                            (x - y).abs() < 1e-3 * (1.0 + y.abs()),
                            "{m}×{k}×{n}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod speed {
    use super::tests::is_panels;
    use super::*;

    /// `cargo test --lib sgemm_speed -- --ignored --nocapture`: GFLOP/s of both layouts on the
    /// encoder's shapes (one batch of 32 texts of 36 tokens).
    #[test]
    #[ignore = "timing, run by hand"]
    fn sgemm_speed() {
        for &(m, k, n) in &[
            (1152, 384, 1152),
            (1152, 384, 384),
            (1152, 384, 1536),
            (1152, 1536, 384),
        ] {
            let a = vec![0.5f32; m * k];
            for panels in [false, true] {
                let w = Weight::with_layout(vec![0.25f32; k * n], k, n, panels);
                if panels && !is_panels(&w) {
                    println!("{m}×{k}×{n} panels: skipped: no AVX-512");
                    continue;
                }
                let mut c = vec![0.0f32; m * n];
                let mut best = f64::MAX;
                for _ in 0..5 {
                    let t = std::time::Instant::now();
                    for _ in 0..5 {
                        w.matmul_acc(&mut c, &a, m, 1);
                    }
                    best = best.min(t.elapsed().as_secs_f64() / 5.0);
                }
                println!(
                    "{m}×{k}×{n} panels={panels}: {:.1} GFLOP/s",
                    2.0 * (m * k * n) as f64 / best / 1e9
                );
            }
        }
    }
}
