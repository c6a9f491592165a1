//! Distance kernels: squared L2, dot product, cosine distance.
//!
//! The hot kernels (`l2sq`, `dot`) are selected once per process with runtime CPU feature
//! detection: AVX-512F on x86_64 where available, else AVX2+FMA, else a portable scalar loop
//! (8 independent accumulators, which LLVM vectorises with the baseline SIMD of the target,
//! e.g. SSE2 or NEON).
//!
//! All public functions here compute over the common prefix `min(a.len(), b.len())` and never
//! panic; the index validates dimensions before calling them.

use std::sync::OnceLock;

use crate::Space;

/// Raw kernel signature: `(a, b, n)` reads `n` floats from each pointer.
pub(crate) type KernelFn = unsafe fn(*const f32, *const f32, usize) -> f32;

/// The pair of kernels chosen for this CPU.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub l2sq: KernelFn,
    pub dot: KernelFn,
    pub name: &'static str,
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

/// Kernels selected for the running CPU (detected once).
pub(crate) fn kernels() -> Kernels {
    *KERNELS.get_or_init(detect)
}

fn detect() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Kernels { l2sq: x86::l2sq_avx512, dot: x86::dot_avx512, name: "avx512f" };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Kernels { l2sq: x86::l2sq_avx2, dot: x86::dot_avx2, name: "avx2+fma" };
        }
    }
    Kernels { l2sq: l2sq_scalar_raw, dot: dot_scalar_raw, name: "scalar" }
}

/// Name of the kernel family in use ("avx512f", "avx2+fma" or "scalar").
pub fn simd_level() -> &'static str {
    kernels().name
}

/// Squared euclidean distance.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: both slices hold at least `n` elements; the kernel was selected for this CPU.
    unsafe { (kernels().l2sq)(a.as_ptr(), b.as_ptr(), n) }
}

/// Dot product.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY: as above.
    unsafe { (kernels().dot)(a.as_ptr(), b.as_ptr(), n) }
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

/// Distance in `space`: L2 = squared euclidean, InnerProduct = `1 - a.b`, Cosine = [`cosine`].
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
        // SAFETY: `row` and `query` both hold `dim` floats.
        let d = unsafe {
            match space {
                Space::L2 => (k.l2sq)(query.as_ptr(), row.as_ptr(), dim),
                Space::InnerProduct => 1.0 - (k.dot)(query.as_ptr(), row.as_ptr(), dim),
                Space::Cosine => 1.0 - (k.dot)(query.as_ptr(), row.as_ptr(), dim) * qinv * inv_norm(row),
            }
        };
        out.push(d);
    }
}

// ----------------------------------------------------------------------------- scalar

/// # Safety
/// `a` and `b` must be valid for reads of `n` floats.
pub(crate) unsafe fn l2sq_scalar_raw(a: *const f32, b: *const f32, n: usize) -> f32 {
    let a = std::slice::from_raw_parts(a, n);
    let b = std::slice::from_raw_parts(b, n);
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
    let a = std::slice::from_raw_parts(a, n);
    let b = std::slice::from_raw_parts(b, n);
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
    use std::arch::x86_64::*;

    /// # Safety
    /// CPU must support AVX-512F; pointers valid for `n` floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn l2sq_avx512(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut s0 = _mm512_setzero_ps();
        let mut s1 = _mm512_setzero_ps();
        let mut s2 = _mm512_setzero_ps();
        let mut s3 = _mm512_setzero_ps();
        let mut i = 0usize;
        while i + 64 <= n {
            let d0 = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            let d1 = _mm512_sub_ps(_mm512_loadu_ps(a.add(i + 16)), _mm512_loadu_ps(b.add(i + 16)));
            let d2 = _mm512_sub_ps(_mm512_loadu_ps(a.add(i + 32)), _mm512_loadu_ps(b.add(i + 32)));
            let d3 = _mm512_sub_ps(_mm512_loadu_ps(a.add(i + 48)), _mm512_loadu_ps(b.add(i + 48)));
            s0 = _mm512_fmadd_ps(d0, d0, s0);
            s1 = _mm512_fmadd_ps(d1, d1, s1);
            s2 = _mm512_fmadd_ps(d2, d2, s2);
            s3 = _mm512_fmadd_ps(d3, d3, s3);
            i += 64;
        }
        while i + 16 <= n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)));
            s0 = _mm512_fmadd_ps(d, d, s0);
            i += 16;
        }
        if i < n {
            let m: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
            let d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a.add(i)), _mm512_maskz_loadu_ps(m, b.add(i)));
            s1 = _mm512_fmadd_ps(d, d, s1);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))
    }

    /// # Safety
    /// CPU must support AVX-512F; pointers valid for `n` floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(crate) unsafe fn dot_avx512(a: *const f32, b: *const f32, n: usize) -> f32 {
        let mut s0 = _mm512_setzero_ps();
        let mut s1 = _mm512_setzero_ps();
        let mut s2 = _mm512_setzero_ps();
        let mut s3 = _mm512_setzero_ps();
        let mut i = 0usize;
        while i + 64 <= n {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), s0);
            s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i + 16)), _mm512_loadu_ps(b.add(i + 16)), s1);
            s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i + 32)), _mm512_loadu_ps(b.add(i + 32)), s2);
            s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i + 48)), _mm512_loadu_ps(b.add(i + 48)), s3);
            i += 64;
        }
        while i + 16 <= n {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), s0);
            i += 16;
        }
        if i < n {
            let m: __mmask16 = ((1u32 << (n - i)) - 1) as __mmask16;
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a.add(i)), _mm512_maskz_loadu_ps(m, b.add(i)), s1);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum256(v: __m256) -> f32 {
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
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            let d1 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i + 8)), _mm256_loadu_ps(b.add(i + 8)));
            let d2 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i + 16)), _mm256_loadu_ps(b.add(i + 16)));
            let d3 = _mm256_sub_ps(_mm256_loadu_ps(a.add(i + 24)), _mm256_loadu_ps(b.add(i + 24)));
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
            s2 = _mm256_fmadd_ps(d2, d2, s2);
            s3 = _mm256_fmadd_ps(d3, d3, s3);
            i += 32;
        }
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
            s0 = _mm256_fmadd_ps(d, d, s0);
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        while i < n {
            let d = *a.add(i) - *b.add(i);
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
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i + 8)), _mm256_loadu_ps(b.add(i + 8)), s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i + 16)), _mm256_loadu_ps(b.add(i + 16)), s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i + 24)), _mm256_loadu_ps(b.add(i + 24)), s3);
            i += 32;
        }
        while i + 8 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s0);
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        while i < n {
            s += *a.add(i) * *b.add(i);
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
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn ref_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum()
    }
    fn ref_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    fn all_kernels() -> Vec<(&'static str, KernelFn, KernelFn)> {
        #[allow(unused_mut)]
        let mut v: Vec<(&'static str, KernelFn, KernelFn)> =
            vec![("scalar", l2sq_scalar_raw as KernelFn, dot_scalar_raw as KernelFn)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                v.push(("avx2", x86::l2sq_avx2, x86::dot_avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(("avx512", x86::l2sq_avx512, x86::dot_avx512));
            }
        }
        v
    }

    #[test]
    fn kernels_match_f64_reference() {
        for &dim in &[1usize, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 128, 384, 1536] {
            let a = gen(dim, dim as u64 + 1);
            let b = gen(dim, dim as u64 * 7 + 3);
            let rl = ref_l2(&a, &b);
            let rd = ref_dot(&a, &b);
            let scale_l = rl.abs().max(1e-6);
            let scale_d = a.iter().zip(&b).map(|(x, y)| (*x as f64 * *y as f64).abs()).sum::<f64>().max(1e-6);
            for (name, l2, dt) in all_kernels() {
                let gl = unsafe { l2(a.as_ptr(), b.as_ptr(), dim) } as f64;
                let gd = unsafe { dt(a.as_ptr(), b.as_ptr(), dim) } as f64;
                assert!((gl - rl).abs() <= 1e-5 * scale_l, "{name} l2 dim {dim}: {gl} vs {rl}");
                assert!((gd - rd).abs() <= 1e-5 * scale_d, "{name} dot dim {dim}: {gd} vs {rd}");
            }
            let c = cosine(&a, &b) as f64;
            let rc = 1.0 - rd / (ref_dot(&a, &a).sqrt() * ref_dot(&b, &b).sqrt());
            assert!((c - rc).abs() < 1e-5, "cosine dim {dim}: {c} vs {rc}");
        }
    }

    #[test]
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
        let data: Vec<f32> = a.iter().chain(b.iter()).copied().collect();
        let mut out = Vec::new();
        distances(Space::L2, &a, &data, &mut out);
        assert_eq!(out, vec![0.0, 25.0]);
        distances(Space::L2, &[], &data, &mut out);
        assert!(out.is_empty());
        assert!(!simd_level().is_empty());
    }
}
