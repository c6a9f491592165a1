//! Vector index of chroma-rs: SIMD distance kernels, HNSW and brute force, save and load.
