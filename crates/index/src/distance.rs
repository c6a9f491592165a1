//! Distance kernels: squared L2, dot product, cosine distance.
//!
//! The hot kernels (`l2sq`, `dot`) are selected once per process with runtime CPU feature
//! detection: AVX-512F on `x86_64` where available (with AVX2 and FMA, which every AVX-512
//! CPU has), else AVX2+FMA, else a portable scalar loop (8 independent accumulators, which
//! LLVM vectorises with the baseline SIMD of the target, e.g. SSE2 or NEON).
//! [`supported_kernels`] lists every family the CPU can run, for benchmarks and cross-checks.
//!
//! The environment variable `CHROMA_RS_SIMD` (`avx2` or `scalar`; read once, at the first
//! distance) caps the family, so one AVX-512 machine can measure what an AVX2-only CPU gets
//! (the README's AVX2 figures). A family the CPU lacks, or an unknown value, is ignored with a
//! message on stderr: the knob can slow a process down, never make it fault.
//!
//! All public functions here compute over the common prefix `min(a.len(), b.len())` and never
//! panic; the index validates dimensions before calling them.

use std::sync::OnceLock;

use crate::Space;

/// Raw kernel signature: `(a, b, n)` reads `n` floats from each pointer.
pub(crate) type KernelFn = unsafe fn(*const f32, *const f32, usize) -> f32;

/// The pair of kernels chosen for this CPU.
///
/// Invariant: a `Kernels` value is only ever built by [`detect`] or [`supported_kernels`],
/// which check that the running CPU has the features its functions were compiled for; so
/// calling `l2sq` / `dot` needs only valid pointers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernels {
    /// Squared L2 distance of `n` floats.
    pub l2sq: KernelFn,
    /// Dot product of `n` floats.
    pub dot: KernelFn,
    /// Family name ("avx512f", "avx2+fma" or "scalar").
    pub name: &'static str,
}

impl Kernels {
    const SCALAR: Kernels = Kernels { l2sq: l2sq_scalar_raw, dot: dot_scalar_raw, name: "scalar" };
    #[cfg(target_arch = "x86_64")]
    const AVX2: Kernels = Kernels { l2sq: x86::l2sq_avx2, dot: x86::dot_avx2, name: "avx2+fma" };
    #[cfg(target_arch = "x86_64")]
    const AVX512: Kernels = Kernels { l2sq: x86::l2sq_avx512, dot: x86::dot_avx512, name: "avx512f" };

    /// `l2sq` over the common prefix of `a` and `b`.
    #[inline]
    fn l2sq_slices(self, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: both slices hold at least `n` floats; the CPU supports this family (type
        // invariant).
        unsafe { (self.l2sq)(a.as_ptr(), b.as_ptr(), n) }
    }

    /// `dot` over the common prefix of `a` and `b`.
    #[inline]
    fn dot_slices(self, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        // SAFETY: as in `l2sq_slices`.
        unsafe { (self.dot)(a.as_ptr(), b.as_ptr(), n) }
    }
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// Kernels selected for the running CPU (detected once).
pub(crate) fn kernels() -> Kernels {
    *KERNELS.get_or_init(detect)
}

/// Environment variable that caps the kernel family (see the module docs).
pub const SIMD_ENV: &str = "CHROMA_RS_SIMD";

/// The best family the running CPU supports, capped by `CHROMA_RS_SIMD`.
fn detect() -> Kernels {
    let cap = std::env::var(SIMD_ENV).ok().filter(|v| !v.is_empty());
    let best = best_supported();
    let Some(cap) = cap else { return best };
    if let Some(k) = supported_kernels().into_iter().find(|k| names_family(&cap, k.0.name)) {
        return k.0;
    }
    let known: Vec<&str> = supported_kernels().iter().map(|k| k.0.name).collect();
    eprintln!(
        "chroma-rs: {SIMD_ENV}={cap:?} is not a kernel family this CPU runs ({}); using {}",
        known.join(", "),
        best.name
    );
    best
}

/// Whether `CHROMA_RS_SIMD`'s value names the family `name` ("avx2" or "avx2+fma";
/// "avx512" or "avx512f"; "scalar"), ignoring case.
fn names_family(value: &str, name: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v == name || Some(v.as_str()) == name.split('+').next() || v == name.trim_end_matches('f')
}

/// The best family the running CPU supports.
fn best_supported() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return Kernels::AVX512;
        }
        if has_avx2_fma() {
            return Kernels::AVX2;
        }
    }
    Kernels::SCALAR
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    // The AVX-512 kernels are compiled with avx512f, avx2 and fma enabled.
    std::arch::is_x86_feature_detected!("avx512f") && has_avx2_fma()
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// One family of distance kernels that the running CPU supports, callable directly: lets
/// benchmarks and tests compare the families with each other. The index itself always uses
/// the best one, or the one `CHROMA_RS_SIMD` caps it to ([`simd_level`]).
#[derive(Clone, Copy, Debug)]
pub struct KernelFamily(Kernels);

impl KernelFamily {
    /// Family name: "avx512f", "avx2+fma" or "scalar".
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// Squared euclidean distance over the common prefix of `a` and `b`.
    pub fn l2sq(&self, a: &[f32], b: &[f32]) -> f32 {
        self.0.l2sq_slices(a, b)
    }

    /// Dot product over the common prefix of `a` and `b`.
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        self.0.dot_slices(a, b)
    }

    /// Cosine distance, as [`cosine`], computed with this family's dot product.
    pub fn cosine(&self, a: &[f32], b: &[f32]) -> f32 {
        let inv = |v: &[f32]| 1.0 / (self.0.dot_slices(v, v).max(0.0).sqrt() + 1e-30);
        1.0 - self.0.dot_slices(a, b) * inv(a) * inv(b)
    }
}

/// Every kernel family the running CPU supports, portable scalar first, the one the index
/// uses last.
pub fn supported_kernels() -> Vec<KernelFamily> {
    #[allow(unused_mut)] // only x86_64 has more than the scalar family
    let mut v = vec![KernelFamily(Kernels::SCALAR)];
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            v.push(KernelFamily(Kernels::AVX2));
        }
        if has_avx512() {
            v.push(KernelFamily(Kernels::AVX512));
        }
    }
    v
}

/// Name of the kernel family in use ("avx512f", "avx2+fma" or "scalar"): the best the CPU
/// supports unless `CHROMA_RS_SIMD` caps it.
pub fn simd_level() -> &'static str {
    kernels().name
}

/// Squared euclidean distance.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    kernels().l2sq_slices(a, b)
}

/// Dot product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    kernels().dot_slices(a, b)
}

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).max(0.0).sqrt()
}

/// `1 / (|a| + 1e-30)`: the factor used by the cosine space (the epsilon keeps zero vectors finite).
#[inline]
pub(crate) fn inv_norm(a: &[f32]) -> f32 {
    1.0 / (norm(a) + 1e-30)
}

/// Cosine distance `1 - a.b / ((|a| + 1e-30) (|b| + 1e-30))`.
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b) * inv_norm(a) * inv_norm(b)
}

/// Distance in `space`: `L2` = squared euclidean, `InnerProduct` = `1 - a.b`, `Cosine` = [`cosine`].
#[inline]
pub fn distance(space: Space, a: &[f32], b: &[f32]) -> f32 {
    match space {
        Space::L2 => l2sq(a, b),
        Space::InnerProduct => 1.0 - dot(a, b),
        Space::Cosine => cosine(a, b),
    }
}

/// Batch form: distances from `query` to each `query.len()`-sized row of `data` (slot-major),
/// written to `out` (cleared first). A trailing partial row is ignored. An empty query gives
/// no rows.
pub fn distances(space: Space, query: &[f32], data: &[f32], out: &mut Vec<f32>) {
    out.clear();
    let dim = query.len();
    if dim == 0 {
        return;
    }
    let k = kernels();
    let rows = data.len() / dim;
    out.reserve(rows);
    let qinv = if space == Space::Cosine { inv_norm(query) } else { 1.0 };
    for row in data.chunks_exact(dim) {
        // `row` and `query` both hold `dim` floats: the kernels see exactly those.
        let d = match space {
            Space::L2 => k.l2sq_slices(query, row),
            Space::InnerProduct => 1.0 - k.dot_slices(query, row),
            Space::Cosine => 1.0 - k.dot_slices(query, row) * qinv * inv_norm(row),
        };
        out.push(d);
    }
}

// ----------------------------------------------------------------------------- scalar

/// # Safety
/// `a` and `b` must be valid for reads of `n` floats.
pub(crate) unsafe fn l2sq_scalar_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: the caller guarantees both pointers are valid for reads of `n` floats (and
    // the kernels only read, so shared slices are fine).
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, n), std::slice::from_raw_parts(b, n)) };
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut s = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        let d = x - y;
        s += d * d;
    }
    s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// # Safety
/// `a` and `b` must be valid for reads of `n` floats.
pub(crate) unsafe fn dot_scalar_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    // SAFETY: the caller guarantees both pointers are valid for reads of `n` floats (and
    // the kernels only read, so shared slices are fine).
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, n), std::slice::from_raw_parts(b, n)) };
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

// ----------------------------------------------------------------------------- x86_64

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    //! AVX-512F and AVX2+FMA kernels. Each is `unsafe` for two reasons, both on the caller:
    //! the CPU must have the features the function is compiled for (checked once by
    //! `detect` / `supported_kernels`), and both pointers must be valid for `n` floats.
    //! Every load below reads lanes `i..i + width` with `i + width <= n` (the loop
    //! conditions), or, for the AVX-512 tail, a masked load whose mask covers only lanes
    //! `i..n`: masked-off lanes are never read (no fault, no access).

    use std::arch::x86_64::{
        __m256, __m512, __mmask16, _mm256_add_ps, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_loadu_ps, _mm256_setzero_ps, _mm256_sub_ps, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_setzero_ps, _mm512_sub_ps, _mm_add_ps, _mm_add_ss,
        _mm_cvtss_f32, _mm_movehdup_ps, _mm_movehl_ps,
    };

    /// Unaligned load of 16 floats at `p + i`.
    ///
    /// # Safety
    /// `p` valid for reads of `i + 16` floats; the CPU supports AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16(p: *const f32, i: usize) -> __m512 {
        // SAFETY: `p + i .. p + i + 16` is readable (caller); loadu has no alignment need.
        unsafe { _mm512_loadu_ps(p.add(i)) }
    }

    /// Masked load of the `n - i` (< 16) floats at `p + i`, zeros in the other lanes.
    ///
    /// # Safety
    /// `i < n`, `n - i < 16`, `p` valid for reads of `n` floats; the CPU supports AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16_tail(p: *const f32, i: usize, n: usize) -> __m512 {
        let m: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
        // SAFETY: `p + i` is in bounds (`i < n`) and the mask enables only lanes `i..n`,
        // which are readable; masked-off lanes are not accessed.
        unsafe { _mm512_maskz_loadu_ps(m, p.add(i)) }
    }

    /// Unaligned load of 8 floats at `p + i`.
    ///
    /// # Safety
    /// `p` valid for reads of `i + 8` floats; the CPU supports AVX.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8(p: *const f32, i: usize) -> __m256 {
        // SAFETY: `p + i .. p + i + 8` is readable (caller); loadu has no alignment need.
        unsafe { _mm256_loadu_ps(p.add(i)) }
    }

    /// # Safety
    /// CPU must support AVX-512F, AVX2 and FMA; pointers valid for `n` floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn l2sq_avx512(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut s0 = _mm512_setzero_ps();
        let mut s1 = _mm512_setzero_ps();
        let mut s2 = _mm512_setzero_ps();
        let mut s3 = _mm512_setzero_ps();
        let mut i = 0usize;
        while i + 64 <= n {
            // SAFETY: `i + 64 <= n`: the four 16-float loads at i, i+16, i+32, i+48 are in bounds.
            let (d0, d1, d2, d3) = unsafe {
                (
                    _mm512_sub_ps(load16(a, i), load16(b, i)),
                    _mm512_sub_ps(load16(a, i + 16), load16(b, i + 16)),
                    _mm512_sub_ps(load16(a, i + 32), load16(b, i + 32)),
                    _mm512_sub_ps(load16(a, i + 48), load16(b, i + 48)),
                )
            };
            s0 = _mm512_fmadd_ps(d0, d0, s0);
            s1 = _mm512_fmadd_ps(d1, d1, s1);
            s2 = _mm512_fmadd_ps(d2, d2, s2);
            s3 = _mm512_fmadd_ps(d3, d3, s3);
            i += 64;
        }
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n`.
            let d = unsafe { _mm512_sub_ps(load16(a, i), load16(b, i)) };
            s0 = _mm512_fmadd_ps(d, d, s0);
            i += 16;
        }
        if i < n {
            // SAFETY: `i < n` and `n - i < 16` (the loop above stopped).
            let d = unsafe { _mm512_sub_ps(load16_tail(a, i, n), load16_tail(b, i, n)) };
            s1 = _mm512_fmadd_ps(d, d, s1);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))
    }

    /// # Safety
    /// CPU must support AVX-512F, AVX2 and FMA; pointers valid for `n` floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn dot_avx512(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut s0 = _mm512_setzero_ps();
        let mut s1 = _mm512_setzero_ps();
        let mut s2 = _mm512_setzero_ps();
        let mut s3 = _mm512_setzero_ps();
        let mut i = 0usize;
        while i + 64 <= n {
            // SAFETY: `i + 64 <= n`: the four 16-float loads at i, i+16, i+32, i+48 are in bounds.
            unsafe {
                s0 = _mm512_fmadd_ps(load16(a, i), load16(b, i), s0);
                s1 = _mm512_fmadd_ps(load16(a, i + 16), load16(b, i + 16), s1);
                s2 = _mm512_fmadd_ps(load16(a, i + 32), load16(b, i + 32), s2);
                s3 = _mm512_fmadd_ps(load16(a, i + 48), load16(b, i + 48), s3);
            }
            i += 64;
        }
        while i + 16 <= n {
            // SAFETY: `i + 16 <= n`.
            s0 = unsafe { _mm512_fmadd_ps(load16(a, i), load16(b, i), s0) };
            i += 16;
        }
        if i < n {
            // SAFETY: `i < n` and `n - i < 16` (the loop above stopped).
            s1 = unsafe { _mm512_fmadd_ps(load16_tail(a, i, n), load16_tail(b, i, n), s1) };
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))
    }

    /// Sum of the 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let sh = _mm_movehdup_ps(s);
        let s = _mm_add_ps(s, sh);
        let sh = _mm_movehl_ps(sh, s);
        _mm_cvtss_f32(_mm_add_ss(s, sh))
    }

    /// # Safety
    /// CPU must support AVX2 and FMA; pointers valid for `n` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn l2sq_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut s0 = _mm256_setzero_ps();
        let mut s1 = _mm256_setzero_ps();
        let mut s2 = _mm256_setzero_ps();
        let mut s3 = _mm256_setzero_ps();
        let mut i = 0usize;
        while i + 32 <= n {
            // SAFETY: `i + 32 <= n`: the four 8-float loads at i, i+8, i+16, i+24 are in bounds.
            let (d0, d1, d2, d3) = unsafe {
                (
                    _mm256_sub_ps(load8(a, i), load8(b, i)),
                    _mm256_sub_ps(load8(a, i + 8), load8(b, i + 8)),
                    _mm256_sub_ps(load8(a, i + 16), load8(b, i + 16)),
                    _mm256_sub_ps(load8(a, i + 24), load8(b, i + 24)),
                )
            };
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
            s2 = _mm256_fmadd_ps(d2, d2, s2);
            s3 = _mm256_fmadd_ps(d3, d3, s3);
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n`.
            let d = unsafe { _mm256_sub_ps(load8(a, i), load8(b, i)) };
            s0 = _mm256_fmadd_ps(d, d, s0);
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        while i < n {
            // SAFETY: `i < n`.
            let d = unsafe { *a.add(i) - *b.add(i) };
            s += d * d;
            i += 1;
        }
        s
    }

    /// # Safety
    /// CPU must support AVX2 and FMA; pointers valid for `n` floats.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn dot_avx2(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut s0 = _mm256_setzero_ps();
        let mut s1 = _mm256_setzero_ps();
        let mut s2 = _mm256_setzero_ps();
        let mut s3 = _mm256_setzero_ps();
        let mut i = 0usize;
        while i + 32 <= n {
            // SAFETY: `i + 32 <= n`: the four 8-float loads at i, i+8, i+16, i+24 are in bounds.
            unsafe {
                s0 = _mm256_fmadd_ps(load8(a, i), load8(b, i), s0);
                s1 = _mm256_fmadd_ps(load8(a, i + 8), load8(b, i + 8), s1);
                s2 = _mm256_fmadd_ps(load8(a, i + 16), load8(b, i + 16), s2);
                s3 = _mm256_fmadd_ps(load8(a, i + 24), load8(b, i + 24), s3);
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: `i + 8 <= n`.
            s0 = unsafe { _mm256_fmadd_ps(load8(a, i), load8(b, i), s0) };
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        while i < n {
            // SAFETY: `i < n`.
            s += unsafe { *a.add(i) * *b.add(i) };
            i += 1;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn ref_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum()
    }
    fn ref_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
    }

    #[test]
    fn simd_env_values_name_families() {
        assert!(names_family("avx2", "avx2+fma"));
        assert!(names_family("AVX2+FMA", "avx2+fma"));
        assert!(names_family("avx512", "avx512f"));
        assert!(names_family("scalar", "scalar"));
        assert!(!names_family("avx", "avx2+fma"));
        assert!(!names_family("avx2", "avx512f"));
        assert!(!names_family("sse", "scalar"));
    }

    #[test]
    fn kernels_match_f64_reference() {
        let families = supported_kernels();
        assert_eq!(families.first().map(KernelFamily::name), Some("scalar"));
        // The best family is the one in use, unless CHROMA_RS_SIMD caps it.
        if std::env::var_os("CHROMA_RS_SIMD").is_none() {
            assert_eq!(families.last().map(KernelFamily::name), Some(simd_level()));
        }
        assert!(families.iter().any(|f| f.name() == simd_level()));
        for &dim in &[1usize, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 128, 384, 1536] {
            let a = gen(dim, dim as u64 + 1);
            let b = gen(dim, dim as u64 * 7 + 3);
            let rl = ref_l2(&a, &b);
            let rd = ref_dot(&a, &b);
            let scale_l = rl.abs().max(1e-6);
            let scale_d = a.iter().zip(&b).map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs()).sum::<f64>().max(1e-6);
            let rc = 1.0 - rd / (ref_dot(&a, &a).sqrt() * ref_dot(&b, &b).sqrt());
            for k in &families {
                let name = k.name();
                let gl = f64::from(k.l2sq(&a, &b));
                let gd = f64::from(k.dot(&a, &b));
                let gc = f64::from(k.cosine(&a, &b));
                assert!((gl - rl).abs() <= 1e-5 * scale_l, "{name} l2 dim {dim}: {gl} vs {rl}");
                assert!((gd - rd).abs() <= 1e-5 * scale_d, "{name} dot dim {dim}: {gd} vs {rd}");
                assert!((gc - rc).abs() < 1e-5, "{name} cosine dim {dim}: {gc} vs {rc}");
            }
            let c = f64::from(cosine(&a, &b));
            assert!((c - rc).abs() < 1e-5, "cosine dim {dim}: {c} vs {rc}");
        }
    }

    #[test]
    #[allow(clippy::float_cmp)] // small integers: every kernel computes them exactly
    fn public_functions_and_batch() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [4.0f32, 6.0, 3.0];
        assert_eq!(l2sq(&a, &b), 25.0);
        assert_eq!(dot(&a, &b), 25.0);
        assert_eq!(distance(Space::InnerProduct, &a, &b), -24.0);
        let z = [0.0f32; 3];
        assert!(cosine(&z, &a).is_finite());
        // mismatched lengths: common prefix, no panic
        assert_eq!(l2sq(&a[..2], &b), 9.0 + 16.0);
        for k in supported_kernels() {
            assert_eq!(k.l2sq(&a[..2], &b), 9.0 + 16.0, "{}", k.name());
            assert_eq!(k.dot(&a, &b[..1]), 4.0, "{}", k.name());
        }
        let data: Vec<f32> = a.iter().chain(b.iter()).copied().collect();
        let mut out = Vec::new();
        distances(Space::L2, &a, &data, &mut out);
        assert_eq!(out, vec![0.0, 25.0]);
        distances(Space::L2, &[], &data, &mut out);
        assert!(out.is_empty());
        assert!(!simd_level().is_empty());
    }
}
