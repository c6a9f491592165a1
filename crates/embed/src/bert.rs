//! The BERT encoder of all-MiniLM-L6-v2, written out by hand: embeddings, 6 layers of
//! self-attention and feed-forward with post-LayerNorm, then mean pooling and L2
//! normalisation, as sentence-transformers defines the model.
//!
//! A batch is run without padding: the token rows of all its texts are stacked into one
//! matrix, so every linear layer is one large matmul (split by rows across threads), and
//! attention runs per text over its own tokens only. That gives what a padded run with an
//! attention mask gives (padding only adds masked keys and rows that pooling ignores) without
//! computing the padding.

use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};

/// The shape of the model, read from the weights (all-MiniLM-L6-v2: 384 wide, 12 heads, 6
/// layers, 1536 in the feed-forward, 512 positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertShape {
    /// Width of the hidden states (and of the output vectors).
    pub hidden: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// Number of encoder layers.
    pub layers: usize,
    /// Longest sequence the position embeddings cover.
    pub max_positions: usize,
    /// Vocabulary size.
    pub vocab: usize,
}

/// `y = x·Wᵀ + b` with `W` as `PyTorch` stores it (`[out, in]`, row-major).
struct Linear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct LayerNorm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value projections stacked into one `[3·hidden, hidden]` matrix: one
    /// matmul instead of three.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder with its weights in memory.
pub struct Bert {
    shape: BertShape,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// BERT's `LayerNorm` epsilon (the model's `layer_norm_eps`).
const LAYER_NORM_EPS: f32 = 1e-12;

/// Rows of the stacked token matrix per task of a threaded matmul: enough work per task that
/// packing the weight matrix (once per task) stays small against the multiply.
const ROWS_PER_TASK: usize = 64;

/// Reads one f32 tensor and checks its shape.
fn tensor(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let view = st.tensor(name).map_err(|e| format!("tensor {name}: {e}"))?;
    if view.dtype() != Dtype::F32 {
        return Err(format!("tensor {name} is {:?}, expected F32", view.dtype()));
    }
    if view.shape() != shape {
        return Err(format!("tensor {name} has shape {:?}, expected {shape:?}", view.shape()));
    }
    Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn dims(st: &SafeTensors<'_>, name: &str) -> Result<Vec<usize>, String> {
    Ok(st.tensor(name).map_err(|e| format!("tensor {name}: {e}"))?.shape().to_vec())
}

fn linear(st: &SafeTensors<'_>, prefix: &str, outputs: usize, inputs: usize) -> Result<Linear, String> {
    Ok(Linear {
        weight: tensor(st, &format!("{prefix}.weight"), &[outputs, inputs])?,
        bias: tensor(st, &format!("{prefix}.bias"), &[outputs])?,
        inputs,
        outputs,
    })
}

fn layer_norm(st: &SafeTensors<'_>, prefix: &str, width: usize) -> Result<LayerNorm, String> {
    Ok(LayerNorm {
        gamma: tensor(st, &format!("{prefix}.weight"), &[width])?,
        beta: tensor(st, &format!("{prefix}.bias"), &[width])?,
    })
}

impl Bert {
    /// Builds the encoder from the bytes of a `model.safetensors` (tensor names as
    /// `transformers`' `BertModel` saves them, with or without a `bert.` prefix is not
    /// accepted: sentence-transformers saves them bare). `heads` is not stored in the weights.
    pub fn from_safetensors(bytes: &[u8], heads: usize) -> Result<Self, String> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
        let word_dims = dims(&st, "embeddings.word_embeddings.weight")?;
        let position_dims = dims(&st, "embeddings.position_embeddings.weight")?;
        let [vocab, hidden] = word_dims[..] else {
            return Err(format!("word embeddings have shape {word_dims:?}, expected 2 dimensions"));
        };
        let [max_positions, _] = position_dims[..] else {
            return Err(format!("position embeddings have shape {position_dims:?}, expected 2 dimensions"));
        };
        if heads == 0 || hidden % heads != 0 {
            return Err(format!("hidden width {hidden} is not a multiple of {heads} heads"));
        }
        let layers = (0..usize::MAX)
            .take_while(|i| st.tensor(&format!("encoder.layer.{i}.output.dense.weight")).is_ok())
            .count();
        if layers == 0 {
            return Err("no encoder layers (encoder.layer.0.*)".into());
        }
        let intermediate = dims(&st, "encoder.layer.0.intermediate.dense.weight")?.first().copied().unwrap_or(0);
        let shape = BertShape { hidden, heads, intermediate, layers, max_positions, vocab };
        let mut built = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("encoder.layer.{i}");
            let q = linear(&st, &format!("{p}.attention.self.query"), hidden, hidden)?;
            let k = linear(&st, &format!("{p}.attention.self.key"), hidden, hidden)?;
            let v = linear(&st, &format!("{p}.attention.self.value"), hidden, hidden)?;
            let qkv = Linear {
                weight: [q.weight, k.weight, v.weight].concat(),
                bias: [q.bias, k.bias, v.bias].concat(),
                inputs: hidden,
                outputs: 3 * hidden,
            };
            built.push(Layer {
                qkv,
                attention_out: linear(&st, &format!("{p}.attention.output.dense"), hidden, hidden)?,
                attention_norm: layer_norm(&st, &format!("{p}.attention.output.LayerNorm"), hidden)?,
                intermediate: linear(&st, &format!("{p}.intermediate.dense"), intermediate, hidden)?,
                output: linear(&st, &format!("{p}.output.dense"), hidden, intermediate)?,
                output_norm: layer_norm(&st, &format!("{p}.output.LayerNorm"), hidden)?,
            });
        }
        Ok(Self {
            shape,
            word: tensor(&st, "embeddings.word_embeddings.weight", &[vocab, hidden])?,
            position: tensor(&st, "embeddings.position_embeddings.weight", &[max_positions, hidden])?,
            token_type: tensor(
                &st,
                "embeddings.token_type_embeddings.weight",
                &dims(&st, "embeddings.token_type_embeddings.weight")?,
            )?,
            embedding_norm: layer_norm(&st, "embeddings.LayerNorm", hidden)?,
            layers: built,
        })
    }

    /// The model's shape.
    pub fn shape(&self) -> BertShape {
        self.shape
    }

    /// Embeds a batch of token-id sequences: one L2-normalised, mean-pooled vector each.
    /// Every sequence must be non-empty, no longer than `max_positions`, with ids below the
    /// vocabulary size (the tokenizer guarantees it; checked here too, as an error).
    pub fn embed(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, String> {
        let h = self.shape.hidden;
        for (i, seq) in batch.iter().enumerate() {
            if seq.is_empty() || seq.len() > self.shape.max_positions {
                return Err(format!(
                    "sequence {i} has {} tokens (1..={} allowed)",
                    seq.len(),
                    self.shape.max_positions
                ));
            }
            if let Some(&bad) = seq.iter().find(|&&id| id as usize >= self.shape.vocab) {
                return Err(format!("sequence {i} has token id {bad}, vocabulary size is {}", self.shape.vocab));
            }
        }
        let mut offsets = Vec::with_capacity(batch.len() + 1);
        offsets.push(0);
        for seq in batch {
            offsets.push(offsets.last().copied().unwrap_or(0) + seq.len());
        }
        let total = offsets.last().copied().unwrap_or(0);
        if total == 0 {
            return Ok(Vec::new());
        }

        // Embeddings: word + position + token type 0, then LayerNorm.
        let mut x = vec![0f32; total * h];
        for (seq, start) in batch.iter().zip(&offsets) {
            for (pos, &id) in seq.iter().enumerate() {
                let row = &mut x[(start + pos) * h..(start + pos + 1) * h];
                let w = &self.word[id as usize * h..(id as usize + 1) * h];
                let p = &self.position[pos * h..(pos + 1) * h];
                for (((o, &w), &p), &t) in row.iter_mut().zip(w).zip(p).zip(&self.token_type[..h]) {
                    *o = w + p + t;
                }
            }
        }
        layer_norm_rows(&mut x, &self.embedding_norm, h);

        let mut qkv = vec![0f32; total * 3 * h];
        let mut context = vec![0f32; total * h];
        let mut projected = vec![0f32; total * h];
        let mut wide = vec![0f32; total * self.shape.intermediate];
        for layer in &self.layers {
            matmul(&x, &layer.qkv, &mut qkv);
            self.attention(&qkv, &offsets, &mut context);
            matmul(&context, &layer.attention_out, &mut projected);
            add_rows(&mut x, &projected);
            layer_norm_rows(&mut x, &layer.attention_norm, h);
            matmul(&x, &layer.intermediate, &mut wide);
            wide.par_chunks_mut(ROWS_PER_TASK * self.shape.intermediate)
                .for_each(|c| c.iter_mut().for_each(|v| *v = gelu(*v)));
            matmul(&wide, &layer.output, &mut projected);
            add_rows(&mut x, &projected);
            layer_norm_rows(&mut x, &layer.output_norm, h);
        }

        Ok(offsets
            .windows(2)
            .map(|w| {
                let mut pooled = vec![0f32; h];
                for row in x[w[0] * h..w[1] * h].chunks_exact(h) {
                    pooled.iter_mut().zip(row).for_each(|(p, &v)| *p += v);
                }
                let n = (w[1] - w[0]) as f32;
                for p in &mut pooled {
                    *p /= n;
                }
                // As torch.nn.functional.normalize: the norm is clamped to 1e-12.
                let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                for p in &mut pooled {
                    *p /= norm;
                }
                pooled
            })
            .collect())
    }

    /// Multi-head self-attention of every text over its own tokens: `context` rows get
    /// `softmax(Q Kᵀ / √d) V` per head, heads side by side.
    fn attention(&self, qkv: &[f32], offsets: &[usize], context: &mut [f32]) {
        let h = self.shape.hidden;
        let heads = self.shape.heads;
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        // One disjoint slice of `context` per text, so texts run in parallel safely.
        let mut slices = Vec::with_capacity(offsets.len() - 1);
        let mut rest = context;
        for w in offsets.windows(2) {
            let (mine, tail) = rest.split_at_mut((w[1] - w[0]) * h);
            slices.push((w[0], w[1] - w[0], mine));
            rest = tail;
        }
        slices.into_par_iter().for_each(|(start, len, out)| {
            let rows = &qkv[start * 3 * h..(start + len) * 3 * h];
            let mut scores = vec![0f32; len * len];
            for head in 0..heads {
                let q = &rows[head * d..];
                let k = &rows[h + head * d..];
                let v = &rows[2 * h + head * d..];
                // scores = scale · Q Kᵀ   ([len, d] × [d, len])
                // SAFETY: Q is read at (i·3h + c) for i < len, c < d, and Kᵀ at (j·3h + c) for
                // j < len, c < d: all inside `rows` (len rows of 3h, head·d + 2h + d ≤ 3h).
                // `scores` holds len·len floats, written with row stride len.
                unsafe {
                    matrixmultiply::sgemm(
                        len,
                        d,
                        len,
                        scale,
                        q.as_ptr(),
                        (3 * h) as isize,
                        1,
                        k.as_ptr(),
                        1,
                        (3 * h) as isize,
                        0.0,
                        scores.as_mut_ptr(),
                        len as isize,
                        1,
                    );
                }
                for row in scores.chunks_exact_mut(len) {
                    softmax(row);
                }
                // out[:, head] = P V   ([len, len] × [len, d])
                // SAFETY: P is `scores` (len·len); V is read at (j·3h + c), j < len, c < d,
                // inside `rows`; `out` is written at (i·h + head·d + c), i < len, c < d, inside
                // its len·h floats.
                unsafe {
                    matrixmultiply::sgemm(
                        len,
                        len,
                        d,
                        1.0,
                        scores.as_ptr(),
                        len as isize,
                        1,
                        v.as_ptr(),
                        (3 * h) as isize,
                        1,
                        0.0,
                        out[head * d..].as_mut_ptr(),
                        h as isize,
                        1,
                    );
                }
            }
        });
    }
}

/// `out = x Wᵀ + b` for every row of `x`, rows split across threads.
fn matmul(x: &[f32], w: &Linear, out: &mut [f32]) {
    let rows = x.len() / w.inputs;
    let out = &mut out[..rows * w.outputs];
    out.par_chunks_mut(ROWS_PER_TASK * w.outputs).zip(x.par_chunks(ROWS_PER_TASK * w.inputs)).for_each(|(o, a)| {
        let m = a.len() / w.inputs;
        for row in o.chunks_exact_mut(w.outputs) {
            row.copy_from_slice(&w.bias);
        }
        // SAFETY: A is `a` (m rows of `inputs`, row-major); B = Wᵀ is read at
        // (k + n·inputs) for k < inputs, n < outputs, inside `weight` ([outputs, inputs]);
        // C is `o`, m rows of `outputs`. beta = 1 adds the bias rows written above.
        unsafe {
            matrixmultiply::sgemm(
                m,
                w.inputs,
                w.outputs,
                1.0,
                a.as_ptr(),
                w.inputs as isize,
                1,
                w.weight.as_ptr(),
                1,
                w.inputs as isize,
                1.0,
                o.as_mut_ptr(),
                w.outputs as isize,
                1,
            );
        }
    });
}

fn add_rows(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, &b)| *a += b);
}

fn layer_norm_rows(x: &mut [f32], norm: &LayerNorm, width: usize) {
    x.par_chunks_mut(width * ROWS_PER_TASK).for_each(|chunk| {
        for row in chunk.chunks_exact_mut(width) {
            let n = width as f32;
            let mean = row.iter().sum::<f32>() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            for ((v, &g), &b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    });
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row {
        *v *= inv;
    }
}

/// BERT's exact GELU, `x·Φ(x) = ½x(1 + erf(x/√2))` (not the tanh approximation).
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf with absolute error below 1.2e-7 (Numerical Recipes' `erfc` Chebyshev fit), in f64 so
/// the f32 result is rounded once.
fn erf(x: f32) -> f32 {
    let z = f64::from(x).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let r = 1.0 - erfc;
    (if x < 0.0 { -r } else { r }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.5, 0.520_499_877_8),
            (1.0, 0.842_700_792_9),
            (-2.0, -0.995_322_265_0),
            (3.5, 0.999_999_256_9),
        ] {
            assert!((f64::from(erf(x)) - want).abs() < 2e-7, "erf({x}) = {} want {want}", erf(x));
        }
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_values() {
        let mut row = [1000.0, 1000.0, -1000.0];
        softmax(&mut row);
        assert!((row[0] - 0.5).abs() < 1e-6 && row[2] == 0.0);
    }

    #[test]
    fn matmul_matches_naive() {
        let w =
            Linear { weight: (0..12).map(|v| v as f32).collect(), bias: vec![1.0, 2.0, 3.0], inputs: 4, outputs: 3 };
        let x: Vec<f32> = (0..8).map(|v| v as f32 * 0.5).collect();
        let mut out = vec![0.0; 6];
        matmul(&x, &w, &mut out);
        for r in 0..2 {
            for o in 0..3 {
                let want: f32 = (0..4).map(|k| x[r * 4 + k] * w.weight[o * 4 + k]).sum::<f32>() + w.bias[o];
                assert!((out[r * 3 + o] - want).abs() < 1e-5);
            }
        }
    }
}
